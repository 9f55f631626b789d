// `axsim sweep` and `axsim run`: experiments over config grids, resumable, local or MPI.
#include "tools/cli/command.hpp"

namespace axsim::cli {

std::vector<Command> sweep_commands() { return {}; }

}  // namespace axsim::cli
