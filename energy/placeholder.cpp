// Removed once the folder has real sources (CMake needs one source per library).
