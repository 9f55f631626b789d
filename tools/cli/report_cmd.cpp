// `axsim report RUN_DIR... -o report.html`: renders run directories into report.html + report.json + CSVs
// (tools/cli/report_render.hpp).
#include <iostream>

#include "core/error.hpp"
#include "tools/cli/command.hpp"
#include "tools/cli/report_render.hpp"

namespace axsim::cli {

namespace {

int cmd_report(const std::vector<std::string>& args) {
  po::options_description o("options");
  std::vector<std::string> dirs;
  std::string out = "report.html";
  o.add_options()("runs", po::value(&dirs)->composing(), "run directories (results.json and/or train.json)")(
      "output,o", po::value(&out), "the HTML page to write (default report.html); report.json and CSVs go next to it");
  po::positional_options_description pos;
  pos.add("runs", -1);
  po::variables_map vm;
  if (parse_options("report", "RUN_DIR... [-o report.html]", o, args, vm, &pos)) return kOk;
  if (dirs.empty())
    throw_input_error("<command line>", "axsim report",
                      "at least one run directory (axsim report RUN_DIR... -o report.html)");
  const std::filesystem::path html(out);
  if (html.extension() != ".html" && html.extension() != ".htm")
    throw_input_error("<command line>", "-o", "an output file ending in .html", out);
  std::vector<std::filesystem::path> paths(dirs.begin(), dirs.end());
  report::write_report(paths, html);
  for (const auto& f : report::report_files(html)) std::cout << f.string() << "\n";
  return kOk;
}

}  // namespace

std::vector<Command> report_commands() {
  return {{"report", "render run directories into report.html (inline SVG charts), report.json and CSVs", cmd_report}};
}

}  // namespace axsim::cli
