// `axsim sweep` and `axsim run`: experiments over config grids, resumable, local or MPI.
// The experiment format is documented in tools/sweep/experiment.hpp, the directory layout in tools/sweep/runner.hpp.
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "tools/cli/command.hpp"
#include "tools/sweep/experiment.hpp"
#include "tools/sweep/runner.hpp"

namespace axsim::cli {

namespace {

namespace fs = std::filesystem;

constexpr const char* kDefaultExperiment = "configs/experiments/default.yaml";

struct ExperimentArgs {
  std::string experiment, out;
  std::vector<std::string> overrides;
  int jobs = 0;
  bool quiet = false, no_report = false;
};

void add_experiment_options(po::options_description& o, ExperimentArgs& a) {
  o.add_options()("experiment", po::value(&a.experiment), "experiment YAML (configs/experiments/...)")(
      "output,o", po::value(&a.out), "sweep directory (created, or resumed when it holds the same experiment)")(
      "param,p", po::value(&a.overrides)->composing(),
      "override a key of the resolved configuration: -p train.training.epochs=1, -p sim.inferences=500 (repeatable)")(
      "jobs,j", po::value(&a.jobs), "points run in parallel on this machine (default: number of cores)")(
      "no-report", po::bool_switch(&a.no_report), "do not write report.html")("quiet,q", po::bool_switch(&a.quiet),
                                                                              "no progress lines");
}

int run_with(const ExperimentArgs& a, const std::string& label) {
  if (a.jobs < 0)
    throw_input_error("<command line>", "--jobs", "a number of parallel jobs >= 1", std::to_string(a.jobs));
  sweep::Experiment experiment;
  try {
    experiment = sweep::load_experiment(a.experiment, a.overrides);
  } catch (const InputError&) {
    // Under mpirun every rank reads the same file: rank 0 alone reports the error.
    const char* rank = std::getenv("OMPI_COMM_WORLD_RANK");
    if (sweep::started_under_mpi() && rank && std::string(rank) != "0") return kBadInput;
    throw;
  }
  sweep::RunOptions options;
  options.out_dir = a.out;
  options.jobs = a.jobs;
  options.quiet = a.quiet;
  options.report = !a.no_report;
  options.label = label;
  return sweep::run_experiment(experiment, options);
}

// Parses the options shared by `sweep` and `run`; false when only help was asked for.
bool parse_experiment_args(const std::string& command, const std::string& usage, const std::vector<std::string>& args,
                           ExperimentArgs& a) {
  po::options_description o("options");
  add_experiment_options(o, a);
  po::positional_options_description pos;
  pos.add("experiment", 1);
  po::variables_map vm;
  return !parse_options(command, usage, o, args, vm, &pos);
}

int cmd_sweep(const std::vector<std::string>& args) {
  ExperimentArgs a;
  if (!parse_experiment_args("sweep", "EXPERIMENT.yaml -o DIR [-p key.path=value]... [--jobs N]", args, a)) return kOk;
  if (a.experiment.empty())
    throw_input_error("<command line>", "axsim sweep", "an experiment file (axsim sweep EXPERIMENT.yaml -o DIR)");
  if (a.out.empty()) throw_input_error("<command line>", "axsim sweep", "a sweep directory (-o DIR)");
  return run_with(a, "sweep");
}

int cmd_run(const std::vector<std::string>& args) {
  ExperimentArgs a;
  if (!parse_experiment_args("run", "[EXPERIMENT.yaml] [-o DIR] [-p key.path=value]...", args, a)) return kOk;
  if (a.experiment.empty()) {
    a.experiment = kDefaultExperiment;
    if (!fs::exists(a.experiment))
      throw_input_error(a.experiment, "", "the default experiment (run axsim from the repository root)",
                        "no such file in " + fs::current_path().string());
  }
  if (a.out.empty()) {
    // runs/<experiment name>: running the same experiment again resumes it (or just prints the report).
    const ConfigNode root = ConfigNode::load_file(a.experiment);
    a.out = (fs::path("runs") / root.str("name", fs::path(a.experiment).stem().string())).string();
  }
  return run_with(a, "run");
}

}  // namespace

std::vector<Command> sweep_commands() {
  return {{"sweep", "run an experiment grid (train and/or sim per point), resumable, on local cores or MPI", cmd_sweep},
          {"run", "the main job: train hardware-aware, deploy, simulate under a voltage schedule, report", cmd_run}};
}

}  // namespace axsim::cli
