// The two jobs of an experiment as library calls: train a recipe into a run directory, simulate a deployed
// network into a run directory. `axsim train` / `axsim sim` are thin command-line wrappers around them, and
// `axsim sweep` / `axsim run` call them in-process (in forked workers or MPI ranks), so a point of a sweep
// produces exactly the files the single commands produce.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/config.hpp"
#include "sim/hw_config.hpp"
#include "sim/schedule.hpp"
#include "sim/simulate.hpp"

namespace axsim::jobs {

struct TrainOptions {
  bool resume = false;  // continue from out_dir/checkpoint.safetensors
  bool quiet = false;   // no progress bars or per-epoch lines on stderr
  int threads = 0;      // > 0: overrides training.threads (sweeps run one thread per job)
};

struct TrainOutcome {
  bool completed = false;  // false: interrupted (SIGINT); the last epoch's checkpoint is in out_dir
  std::string model_path;  // out_dir/model.safetensors
  nlohmann::json history;  // train.json as written
};

// Trains the recipe `config` (a whole training YAML, overrides applied) into out_dir: model.safetensors,
// train.json, config.yaml, checkpoint.safetensors. Throws InputError for a bad recipe, OutputError.
TrainOutcome run_train(const ConfigNode& config, const std::string& out_dir, const TrainOptions& options = {});

// Checks a training recipe as far as possible without loading data (keys, optimizer, schedule, method).
void validate_train_config(const ConfigNode& config);

struct SimJob {
  std::string model;      // deploy artifact (.safetensors)
  std::string data_spec;  // e.g. mnist:data/mnist:test
  sim::HardwareConfig hw;
  sim::VoltageSchedule schedule = sim::nominal_schedule();
  sim::SimOptions options;   // seed, trials / ci, inferences (progress is set by run_sim when not quiet)
  std::string command_line;  // recorded in results.json
};

// Loads the data and the artifact, simulates, writes the run directory (results.json, CSVs, config.yaml)
// and returns the result. Throws InputError before the simulation starts on bad inputs.
sim::SimulationResult run_sim(const SimJob& job, const std::string& out_dir, bool quiet = false);

// A deterministic summary of a simulation (no wall-clock numbers): what a sweep records per point.
nlohmann::json sim_summary(const sim::SimulationResult& result);

}  // namespace axsim::jobs
