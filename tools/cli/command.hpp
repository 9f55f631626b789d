// The axsim command line: a tree of named commands ("model drum", "train", "sim"...). Each command
// parses its own options (Boost.program_options) and returns an exit code; errors are exceptions
// (InputError -> exit 2, OutputError -> exit 3) turned into one-line messages by main().
#pragma once

#include <boost/program_options.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "workloads/quant/monte_carlo.hpp"

namespace axsim::cli {

namespace po = boost::program_options;

enum ExitCode : int { kOk = 0, kInternalError = 1, kBadInput = 2, kOutputError = 3, kInterrupted = 130 };

struct Command {
  std::string name;     // "model drum"
  std::string summary;  // one line for the command list
  std::function<int(const std::vector<std::string>& args)> run;
};

// Every command file registers its commands here (explicit, no static-initialisation tricks).
std::vector<Command> model_commands();
std::vector<Command> train_commands();
std::vector<Command> eval_commands();
std::vector<Command> sim_commands();
std::vector<Command> sensitivity_commands();
std::vector<Command> report_commands();  // report_cmd.cpp
std::vector<Command> sweep_commands();   // sweep_cmd.cpp: sweep, run

// Parse `args` against `options` (+ positional), print help and return true if --help was given.
// Throws InputError("<command line>", ...) on a bad option, naming the closest valid option.
bool parse_options(const std::string& command, const std::string& usage, po::options_description& options,
                   const std::vector<std::string>& args, po::variables_map& vm,
                   const po::positional_options_description* positional = nullptr);

// A YAML config with "-p key.path=value" overrides applied (the CLI convention of every command).
ConfigNode load_config_with_overrides(const std::string& path, const std::vector<std::string>& overrides);

// A Monte Carlo accuracy result as every command reports it (the CI is null when undefined).
nlohmann::json mc_result_json(const quant::McResult& r);

// A command's JSON result: to stdout when `out` is empty, else written atomically to the file `out`.
void write_json_result(const nlohmann::json& result, const std::string& out);

}  // namespace axsim::cli
