// Outputs are never half-written: write to a temporary file in the same directory, flush it to
// disk, then rename over the destination (atomic on POSIX file systems).
#pragma once

#include <functional>
#include <ostream>
#include <string>

namespace axsim {

// Throws OutputError naming the path and the OS reason (unwritable directory, disk full...).
void write_file_atomic(const std::string& path, const std::string& contents);
void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& writer);

// Create a directory (and parents) or throw OutputError.
void ensure_directory(const std::string& path);

}  // namespace axsim
