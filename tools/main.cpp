// axsim: the command-line entry point. Dispatches to a command, turns exceptions into one-line
// errors with documented exit codes (README: "Exit codes").
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "tools/cli/command.hpp"

using axsim::cli::Command;

namespace {

std::vector<Command> all_commands() {
  std::vector<Command> commands;
  for (auto& c : axsim::cli::train_commands()) commands.push_back(std::move(c));
  for (auto& c : axsim::cli::eval_commands()) commands.push_back(std::move(c));
  for (auto& c : axsim::cli::sensitivity_commands()) commands.push_back(std::move(c));
  for (auto& c : axsim::cli::model_commands()) commands.push_back(std::move(c));
  for (auto& c : axsim::cli::sim_commands()) commands.push_back(std::move(c));
  for (auto& c : axsim::cli::report_commands()) commands.push_back(std::move(c));
  for (auto& c : axsim::cli::sweep_commands()) commands.push_back(std::move(c));
  return commands;
}

void print_usage(const std::vector<Command>& commands) {
  std::cout << "usage: axsim <command> [options]   (axsim <command> --help for its options)\n\ncommands:\n";
  for (const auto& c : commands) std::cout << "  " << c.name << std::string(c.name.size() < 16 ? 16 - c.name.size() : 1, ' ') << c.summary << "\n";
  std::cout << "\nexit codes: 0 ok, 1 internal error, 2 bad input or usage, 3 cannot write output, 130 interrupted\n";
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  const auto commands = all_commands();
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_usage(commands);
    return args.empty() ? axsim::cli::kBadInput : axsim::cli::kOk;
  }
  // Longest match on words: "model drum" before "model".
  const Command* best = nullptr;
  std::size_t best_words = 0;
  for (const auto& c : commands) {
    std::vector<std::string> words;
    std::size_t start = 0;
    while (true) {
      const auto sp = c.name.find(' ', start);
      words.push_back(c.name.substr(start, sp - start));
      if (sp == std::string::npos) break;
      start = sp + 1;
    }
    if (words.size() > args.size() || words.size() <= best_words) continue;
    bool match = true;
    for (std::size_t i = 0; i < words.size(); ++i) match = match && words[i] == args[i];
    if (match) {
      best = &c;
      best_words = words.size();
    }
  }
  try {
    if (!best) {
      // A group name alone ("axsim model") lists its subcommands.
      bool group = false;
      for (const auto& c : commands)
        if (c.name.rfind(args[0] + " ", 0) == 0) {
          if (!group) std::cout << "usage: axsim " << args[0] << " <subcommand> [options]\n\nsubcommands:\n";
          group = true;
          std::cout << "  " << c.name << "  " << c.summary << "\n";
        }
      if (group) return args.size() == 1 ? axsim::cli::kOk : axsim::cli::kBadInput;
      std::vector<std::string> names;
      for (const auto& c : commands) names.push_back(c.name.substr(0, c.name.find(' ')));
      axsim::throw_input_error("<command line>", "argument 1", "a command (see axsim --help)",
                               "'" + args[0] + "'", axsim::closest_match(args[0], names));
    }
    return best->run(std::vector<std::string>(args.begin() + long(best_words), args.end()));
  } catch (const axsim::InputError& e) {
    std::cerr << "axsim: error: " << e.what() << "\n";
    return axsim::cli::kBadInput;
  } catch (const axsim::OutputError& e) {
    std::cerr << "axsim: error: " << e.what() << "\n";
    return axsim::cli::kOutputError;
  } catch (const std::exception& e) {
    std::cerr << "axsim: internal error: " << e.what() << "\n";
    return axsim::cli::kInternalError;
  }
}
