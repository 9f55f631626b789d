// The simulator's entry point: run a deployed QuantizedNetwork on the SystemC accelerator model under a
// voltage schedule, over Monte Carlo trials (chip instances), and collect accuracy, cycles, utilization,
// per-bank fault counts and energy.
//
// One call = one SystemC elaboration and one sc_start() that runs every trial and inference. A SystemC
// simulation context can be elaborated once; simulate() installs a fresh context when the current one has
// already been used, so several calls in one process work (tests still run one test per process).
// Randomness depends only on (options.seed, what is simulated): trial t of a run is the same chip whatever
// the number of trials.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "models/quantized_network.hpp"
#include "sim/energy_ledger.hpp"
#include "sim/hw_config.hpp"
#include "sim/regulator.hpp"
#include "sim/schedule.hpp"
#include "workloads/data/dataset.hpp"
#include "workloads/quant/monte_carlo.hpp"

namespace axsim::sim {

// Trials: each trial is one chip instance (fresh per_chip fault maps and crossbar programming, its own per_read
// fault streams) over the same inputs. The Monte Carlo loop and its Student-t interval are workloads/quant's
// (quant::monte_carlo); a configuration without any fault or noise source is deterministic and runs 1 trial.
struct SimOptions {
  std::uint64_t seed = 1;
  int trials = 1;                     // chip instances when ci_half_width == 0
  double ci_half_width = 0;           // > 0: run trials until the 95 % CI half-width of the accuracy is <= this
  int min_trials = 2;                 // ci mode: at least this many
  int max_trials = 100;               // ci mode: at most this many
  std::uint64_t inferences = 0;       // inputs per trial (the first ones of the dataset); 0 = all
  bool record_outputs = false;        // logits and predictions of trial 0
  bool record_per_inference = false;  // per-inference fault counts of both buffers (every trial)
  std::size_t max_voltage_events = 10000;
  // Fast mode: layers whose tiles compute whole dot products (dense, whole-kernel passes) read their weight
  // blocks sparsely (the PE array computes on the stored codes and corrects the words that read back
  // different: cost follows the faults). Same draws and bit-identical results; false forces copying reads.
  bool sparse_weight_reads = true;
  // Block mode (fast timing, programs of dense PE-array layers, a neuron buffer that cannot fault, schedules
  // without timed or per-layer settings): the instruction stream runs once for up to `block` inferences, counts
  // and energies charged per inference, values computed as a block (sim/block_datapath.hpp). Blocks end where
  // an `after:` setting takes effect. 1 = one inference at a time. Results do not depend on it (per_read
  // faults of inference i come from streams keyed by i), nor on `threads`.
  int block = 128;
  // OpenMP threads for a block's fault sampling and GEMMs (0: all available).
  int threads = 1;
  // Called from the simulation now and then: (inferences done, inferences planned or 0 if unknown).
  std::function<void(std::uint64_t done, std::uint64_t planned)> progress;
};

struct LayerResult {
  std::string name, kind, engine, multiplier;
  std::string unrolling;  // "<Tm,Tn,Tr,Tc,Ti,Tj>" for PE-array layers
  std::int64_t passes = 0;
  double utilization = 0;  // mapper: MACs / (passes * D_r * D_c)
  bool weights_reused_locally = false;
  std::int64_t mapped_cycles = 0;        // per inference, mapper model (+ weight reload)
  double cycles_per_inference = 0;       // simulated (time in the layer / clock period), mean
  double busy_cycles_per_inference = 0;  // cycle mode: PE busy window (first fetch to last write-back), mean
  std::uint64_t total_cycles = 0;
  std::int64_t macs = 0, neuron_reads = 0, weight_reads = 0, neuron_writes = 0, weight_writes = 0;  // per inference
  std::array<EnergySplit, kEnergyComponents> energy{};  // J over the whole run
  EnergySplit energy_total;
};

struct BankResult {
  std::string buffer;
  int bank = 0;
  std::string domain;
  std::uint64_t capacity_bytes = 0;
  int word_bits = 0;
  std::string fault_channel;  // "" if reliable
  std::string persistence;
  std::uint64_t reads = 0, writes = 0, bits_read = 0, faulty_bits = 0, faulty_words = 0, words_changed = 0;
  double measured_rate = 0;  // faulty_bits / bits_read
  double dynamic_j = 0, leakage_j = 0;
};

struct InferenceFaults {
  std::uint64_t trial = 0, inference = 0;
  std::uint64_t weight_bits_read = 0, weight_faulty_bits = 0;
  std::uint64_t neuron_bits_read = 0, neuron_faulty_bits = 0;
};

struct SimulationResult {
  std::string network, hardware, schedule;
  std::string timing;  // "fast" | "cycle"
  int block = 1;       // inferences per block actually used (1: one at a time; see SimOptions::block)
  std::uint64_t seed = 0;
  int trials = 0;
  std::uint64_t inferences_per_trial = 0, inferences_total = 0;
  quant::McResult accuracy;  // mean, std, 95 % half-width, per-trial accuracies, stop reason
  std::vector<std::uint64_t> correct_per_trial;

  double clock_hz = 0;
  std::uint64_t total_cycles = 0;  // simulated time / clock period, all trials
  double simulated_seconds = 0;
  double cycles_per_inference = 0;
  std::int64_t io_cycles_per_inference = 0;  // input transfer into the neuron buffer
  std::vector<LayerResult> layers;
  std::vector<BankResult> banks;

  // Energy ledger: rows = layers then "io"; every cell in joules over the whole run.
  std::vector<std::string> energy_rows;
  std::vector<std::array<EnergySplit, kEnergyComponents>> energy_matrix;
  std::array<EnergySplit, kEnergyComponents> energy_by_component{};
  EnergySplit energy_total;
  double energy_per_inference_j = 0;
  EnergyBreakdown energy_breakdown;  // per action, per-layer assignment, DRUM table, eta(p) (energy_ledger.hpp)

  // Simulator throughput (the line `axsim sim` prints): inferences simulated per second of wall time and of
  // this process's CPU time (the CPU figure is the one to compare on a shared machine).
  double wall_seconds = 0;
  double inferences_per_second = 0;  // of wall time
  double cpu_seconds = 0;
  double inferences_per_cpu_second = 0;
  std::string hardware_yaml, schedule_yaml;  // resolved
  std::vector<VoltageEvent> voltage_events;
  std::uint64_t voltage_changes = 0;
  std::uint64_t crossbar_vmms = 0;

  std::vector<std::vector<std::int64_t>> logits;  // record_outputs: trial 0, per inference
  std::vector<int> predictions;                   // record_outputs: trial 0
  std::vector<InferenceFaults> per_inference;     // record_per_inference
};

// Throws InputError for bad inputs (network/hardware/schedule mismatches, a dataset whose features do not fit
// the network, bad options) before the simulation starts.
SimulationResult simulate(const QuantizedNetwork& network, const HardwareConfig& hw, const VoltageSchedule& schedule,
                          const Dataset& inputs, const SimOptions& options = {});

// argmax with the lowest index winning ties (the prediction rule of the reference semantics).
int predicted_class(const std::vector<std::int64_t>& logits);

}  // namespace axsim::sim
