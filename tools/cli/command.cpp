#include "tools/cli/command.hpp"

#include <cmath>
#include <iostream>

#include "core/atomic_file.hpp"
#include "core/error.hpp"

namespace axsim::cli {

bool parse_options(const std::string& command, const std::string& usage, po::options_description& options,
                   const std::vector<std::string>& args, po::variables_map& vm,
                   const po::positional_options_description* positional) {
  options.add_options()("help,h", "show this help");
  try {
    po::command_line_parser parser(args);
    parser.options(options);
    if (positional) parser.positional(*positional);
    po::store(parser.run(), vm);
    if (vm.count("help")) {
      std::cout << "usage: axsim " << command << " " << usage << "\n\n" << options << "\n";
      return true;
    }
    po::notify(vm);
  } catch (const po::unknown_option& e) {
    std::vector<std::string> names;
    for (const auto& o : options.options()) names.push_back("--" + o->long_name());
    throw_input_error("<command line>", "axsim " + command, "one of its options (see --help)",
                      "unknown option '" + e.get_option_name() + "'", closest_match(e.get_option_name(), names));
  } catch (const po::error& e) {
    throw_input_error("<command line>", "axsim " + command, "valid options (see --help)", e.what());
  }
  return false;
}

void write_json_result(const nlohmann::json& result, const std::string& out) {
  const std::string text = result.dump(2) + "\n";
  if (out.empty())
    std::cout << text;
  else
    write_file_atomic(out, text);
}

nlohmann::json mc_result_json(const quant::McResult& r) {
  return {{"accuracy_mean", r.mean},
          {"accuracy_std", r.std},
          {"ci95_half_width", std::isfinite(r.half_width) ? nlohmann::json(r.half_width) : nlohmann::json(nullptr)},
          {"confidence", r.confidence},
          {"trials", r.trials},
          {"per_trial_accuracy", r.accuracies},
          {"deterministic", r.deterministic},
          {"converged", r.converged},
          {"stop_reason", r.stop_reason}};
}

}  // namespace axsim::cli
