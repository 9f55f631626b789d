// `axsim sim`: simulate a deployed network on the SystemC accelerator under a voltage schedule and write the
// run directory (results.json, CSVs, resolved config; every file written atomically).
#include <fmt/format.h>

#include <cmath>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/units.hpp"
#include "sim/results_io.hpp"
#include "sim/simulate.hpp"
#include "tools/cli/command.hpp"
#include "tools/cli/progress.hpp"
#include "tools/sweep/jobs.hpp"
#include "workloads/artifact/deploy.hpp"
#include "workloads/data/load.hpp"
#include "workloads/quant/quantize.hpp"

namespace axsim::cli {

namespace {

// The same deployment as `axsim eval` (artifact::load_deployed_network), so the two agree bit-exactly.
QuantizedNetwork load_network(const std::string& path, const Dataset& data) {
  return artifact::load_deployed_network(path, data);
}

std::string join_args(const std::vector<std::string>& args) {
  std::string s = "axsim sim";
  for (const auto& a : args) s += " " + a;
  return s;
}

int cmd_sim(const std::vector<std::string>& args) {
  po::options_description o("options");
  std::string model, hw_path, schedule_path, data_spec, out;
  std::vector<std::string> overrides;
  int trials = 1;
  double ci = 0;
  std::uint64_t seed = 1, inferences = 0;
  int max_trials = 100;
  int block = sim::SimOptions{}.block, threads = 0;
  bool quiet = false;
  o.add_options()("model", po::value(&model), "deploy artifact (.safetensors)")("hw", po::value(&hw_path),
                                                                                "hardware YAML (configs/hw/...)")(
      "schedule", po::value(&schedule_path), "voltage schedule YAML (configs/schedules/...; default: nominal)")(
      "data", po::value(&data_spec), "dataset spec, e.g. mnist:data/mnist:test")(
      "trials", po::value(&trials), "Monte Carlo trials = simulated chips (default 1)")(
      "ci", po::value(&ci), "instead of --trials: run chips until the 95% CI half-width of the accuracy is <= H")(
      "max-trials", po::value(&max_trials), "with --ci: at most this many chips (default 100)")(
      "seed", po::value(&seed), "random seed (default 1)")("inferences", po::value(&inferences),
                                                           "inputs per trial: the first N samples (default: all)")(
      "block", po::value(&block),
      "inferences simulated together (values batched, counts per inference; default 128; 1 = one at a time)")(
      "threads", po::value(&threads), "threads for a block's faults and products (default 0: all cores)")(
      "param,p", po::value(&overrides)->composing(), "override a hardware value: -p pe_array.rows=8 (repeatable)")(
      "output,o", po::value(&out), "run directory")("quiet,q", po::bool_switch(&quiet), "no progress output");
  po::variables_map vm;
  if (parse_options("sim",
                    "--model M.safetensors --hw HW.yaml [--schedule S.yaml] --data SPEC [--trials N | --ci H] "
                    "[--seed S] [-p key=value]... -o RUN_DIR",
                    o, args, vm))
    return kOk;
  auto require = [](const std::string& value, const std::string& what) {
    if (value.empty()) throw_input_error("<command line>", "axsim sim", what);
  };
  require(model, "a deploy artifact (--model M.safetensors)");
  require(hw_path, "a hardware config (--hw HW.yaml)");
  require(data_spec, "a dataset (--data SPEC)");
  require(out, "an output run directory (-o RUN_DIR)");
  if (vm.count("ci") && vm.count("trials"))
    throw_input_error("<command line>", "axsim sim", "either --trials or --ci, not both");
  if (trials < 1) throw_input_error("<command line>", "--trials", "at least 1", std::to_string(trials));
  if (block < 1) throw_input_error("<command line>", "--block", "at least 1", std::to_string(block));
  if (threads < 0) throw_input_error("<command line>", "--threads", "0 (all cores) or more", std::to_string(threads));
  if (vm.count("ci") && !(ci > 0 && ci < 1))
    throw_input_error("<command line>", "--ci", "a half-width in (0, 1), e.g. 0.005 for +-0.5 percentage points",
                      std::to_string(ci));

  // Everything is loaded and checked before the simulation starts.
  jobs::SimJob job;
  job.model = model;
  job.data_spec = data_spec;
  job.hw = sim::load_hardware_config(hw_path, overrides);
  if (!schedule_path.empty()) job.schedule = sim::load_voltage_schedule(schedule_path);
  job.options.seed = seed;
  job.options.trials = trials;
  job.options.ci_half_width = vm.count("ci") ? ci : 0.0;
  job.options.max_trials = max_trials;
  job.options.inferences = inferences;
  job.options.block = block;
  job.options.threads = threads;
  job.command_line = join_args(args);
  const sim::SimulationResult r = jobs::run_sim(job, out, quiet);

  const auto& a = r.accuracy;
  std::cout << fmt::format("accuracy    {:.2f}%", 100 * a.mean);
  if (a.deterministic)
    std::cout << " (deterministic: no fault or noise source)\n";
  else if (std::isfinite(a.half_width))
    std::cout << fmt::format(" +- {:.2f}% (95% CI, {} chips)\n", 100 * a.half_width, a.trials);
  else
    std::cout << " (1 chip: no interval)\n";
  std::cout << fmt::format(
      "cycles      {:.0f} per inference ({} simulated per inference)\n", r.cycles_per_inference,
      format_quantity(r.inferences_total ? r.simulated_seconds / double(r.inferences_total) : 0.0, Dim::second));
  std::cout << fmt::format("energy      {} per inference ({} dynamic, {} leakage in total)\n",
                           format_quantity(r.energy_per_inference_j, Dim::joule),
                           format_quantity(r.energy_total.dynamic_j, Dim::joule),
                           format_quantity(r.energy_total.leakage_j, Dim::joule));
  std::cout << fmt::format("throughput  {:.0f} inferences/s wall, {:.0f} inferences/s per CPU second ({})\n",
                           r.inferences_per_second, r.inferences_per_cpu_second,
                           r.block > 1 ? fmt::format("blocks of {}", r.block) : std::string("one at a time"));
  std::cout << out << "\n";
  return kOk;
}

}  // namespace

}  // namespace axsim::cli

namespace axsim::jobs {

sim::SimulationResult run_sim(const SimJob& job, const std::string& out_dir, bool quiet) {
  const Dataset data = load_dataset(job.data_spec);
  const QuantizedNetwork net = cli::load_network(job.model, data);
  sim::SimOptions options = job.options;
  const std::uint64_t per_trial =
      options.inferences ? std::min<std::uint64_t>(options.inferences, data.size) : data.size;
  std::unique_ptr<cli::Progress> bar;
  if (!quiet) {
    std::cerr << fmt::format("axsim sim: {} on {} ({}, {} timing), {} inputs per chip\n", net.name, job.hw.name,
                             job.schedule.name, job.hw.timing == sim::TimingMode::cycle ? "cycle" : "fast", per_trial);
    const std::uint64_t planned =
        per_trial * std::uint64_t(options.ci_half_width > 0 ? options.max_trials : options.trials);
    // Created on the first report, i.e. once the simulation runs (input errors print no bar).
    options.progress = [&bar, planned](std::uint64_t done, std::uint64_t) {
      if (!bar) bar = std::make_unique<cli::Progress>("sim", planned, "inf");
      bar->update(done);
    };
  }
  const sim::SimulationResult r = sim::simulate(net, job.hw, job.schedule, data, options);
  if (bar) bar->finish(fmt::format("{} chip(s)", r.trials));
  sim::write_run_directory(out_dir, r, sim::RunDescription{job.model, job.data_spec, job.command_line});
  return r;
}

nlohmann::json sim_summary(const sim::SimulationResult& r) {
  nlohmann::json j;
  j["network"] = r.network;
  j["hardware"] = r.hardware;
  j["schedule"] = r.schedule;
  j["seed"] = r.seed;
  j["trials"] = r.trials;
  j["inferences_per_trial"] = r.inferences_per_trial;
  j["accuracy"] = r.accuracy.mean;
  j["accuracy_std"] = r.accuracy.std;
  // +infinity (one random trial) has no JSON spelling: null.
  j["accuracy_ci95_half_width"] =
      std::isfinite(r.accuracy.half_width) ? nlohmann::json(r.accuracy.half_width) : nlohmann::json();
  j["accuracy_per_trial"] = r.accuracy.accuracies;
  j["deterministic"] = r.accuracy.deterministic;
  j["energy_per_inference_j"] = r.energy_per_inference_j;
  j["energy_dynamic_j"] = r.energy_total.dynamic_j;
  j["energy_leakage_j"] = r.energy_total.leakage_j;
  j["cycles_per_inference"] = r.cycles_per_inference;
  j["latency_s"] = r.inferences_total ? r.simulated_seconds / double(r.inferences_total) : 0.0;
  j["voltage_changes"] = r.voltage_changes;
  return j;
}

}  // namespace axsim::jobs

namespace axsim::cli {

std::vector<Command> sim_commands() {
  return {{"sim", "simulate a deployed network on the SystemC accelerator under a voltage schedule", cmd_sim}};
}

}  // namespace axsim::cli
