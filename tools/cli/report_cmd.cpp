// `axsim report`: renders run directories into report.html + report.json + CSVs.
#include "tools/cli/command.hpp"

namespace axsim::cli {

std::vector<Command> report_commands() { return {}; }

}  // namespace axsim::cli
