// End-to-end simulator throughput: an MNIST-MLP-sized random QuantizedNetwork (784-128-128-10, 8-bit weights)
// on the FlexFlow 16x16 configuration with full cycle and energy accounting, fault-free and with per_read
// flip faults at p = 1e-2 on the weight buffer (~9,400 faulty bits per inference, sampled by geometric skips).
// Counters: inferences per second of CPU time ("inf/s") and of wall time ("inf/s_wall"), faulty bits per
// inference, simulated cycles per inference. Default options run blocks of 128 inferences on one thread;
// "OneAtATime" forces SimOptions::block = 1 (the path before block mode), "TwoThreads" samples the block's
// faults and runs its GEMMs on 2 OpenMP threads (CPU time is then the whole process's: compare inf/s_wall).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "core/rng.hpp"
#include "sim/simulate.hpp"

using namespace axsim;
using namespace axsim::sim;

namespace {

constexpr std::size_t kInferences = 4000;

QLayer dense(const std::string& name, int in, int out, bool is_output, std::uint64_t seed, FixedPointFormat input) {
  QLayer l;
  l.name = name;
  l.kind = QOpKind::dense;
  l.in_c = in;
  l.out_c = out;
  l.weight_format = FixedPointFormat::power_of_two(8, 7, true);
  l.input_format = input;
  l.output_format = FixedPointFormat::power_of_two(8, 3, false);
  CounterRng rng(seed, 1);
  l.weights.resize(std::size_t(in) * out);
  for (auto& w : l.weights) w = std::int8_t(std::int64_t(rng.below(255)) - 127);
  l.bias.assign(std::size_t(out), 0);
  l.relu = !is_output;
  l.is_output = is_output;
  return l;
}

QuantizedNetwork mnist_mlp() {
  QuantizedNetwork net;
  net.name = "random-mlp-784-128-128-10";
  net.input_format = FixedPointFormat::power_of_two(8, 7, false);
  net.classes = 10;
  net.layers.push_back(dense("fc1", 784, 128, false, 1, net.input_format));
  net.layers.push_back(dense("fc2", 128, 128, false, 2, net.layers.back().output_format));
  net.layers.push_back(dense("fc3", 128, 10, true, 3, net.layers.back().output_format));
  return net;
}

Dataset random_inputs(std::size_t n) {
  Dataset d;
  d.name = "random";
  d.source = "<bench>";
  d.sample_shape = {784};
  d.size = n;
  d.num_classes = 10;
  d.features.resize(n * 784);
  CounterRng rng(7, 2);
  for (auto& x : d.features) x = float(rng.below(128)) / 128.0f;
  d.labels.assign(n, 0);
  return d;
}

void run(benchmark::State& state, const std::vector<std::string>& overrides, SimOptions options = {}) {
  const QuantizedNetwork net = mnist_mlp();
  const Dataset data = random_inputs(kInferences);
  // The repository root from this file's path (CMake compiles with absolute paths).
  const std::string root = std::filesystem::path(__FILE__).parent_path().parent_path().string();
  const HardwareConfig hw = load_hardware_config(root + "/configs/hw/flexflow-16x16.yaml", overrides);
  SimulationResult last;
  double wall = 0;
  std::uint64_t iterations = 0;
  for (auto _ : state) {
    last = simulate(net, hw, nominal_schedule(), data, options);
    wall += last.wall_seconds;
    ++iterations;
  }
  std::uint64_t faulty = 0;
  for (const auto& b : last.banks) faulty += b.faulty_bits;
  const double n = double(kInferences) * double(iterations);
  state.counters["inf/s"] = benchmark::Counter(n, benchmark::Counter::kIsRate);
  state.counters["inf/s_wall"] = n / wall;
  state.counters["faulty_bits/inf"] = double(faulty) / double(kInferences);
  state.counters["cycles/inf"] = last.cycles_per_inference;
  state.counters["energy_nJ/inf"] = last.energy_per_inference_j * 1e9;
}

SimOptions one_at_a_time() {
  SimOptions o;
  o.block = 1;
  return o;
}
SimOptions two_threads() {
  SimOptions o;
  o.threads = 2;
  return o;
}
const char* kFlip1e2 = "weight_buffer.fault={channel: flip, persistence: per_read, p: 0.01}";

void BM_SimMlpFaultFree(benchmark::State& state) { run(state, {}); }
void BM_SimMlpFaultFreeOneAtATime(benchmark::State& state) { run(state, {}, one_at_a_time()); }
void BM_SimMlpFaultFreeTwoThreads(benchmark::State& state) { run(state, {}, two_threads()); }
void BM_SimMlpWeightFlip1e2(benchmark::State& state) { run(state, {kFlip1e2}); }
void BM_SimMlpWeightFlip1e2OneAtATime(benchmark::State& state) { run(state, {kFlip1e2}, one_at_a_time()); }
void BM_SimMlpWeightFlip1e2TwoThreads(benchmark::State& state) { run(state, {kFlip1e2}, two_threads()); }
void BM_SimMlpWeightFlip1e2PerChip(benchmark::State& state) {
  run(state, {"weight_buffer.fault={channel: flip, persistence: per_chip, p: 0.01}"});
}

}  // namespace

BENCHMARK(BM_SimMlpFaultFree)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_SimMlpFaultFreeOneAtATime)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_SimMlpFaultFreeTwoThreads)->Unit(benchmark::kMillisecond)->MinTime(2.0)->MeasureProcessCPUTime();
BENCHMARK(BM_SimMlpWeightFlip1e2)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_SimMlpWeightFlip1e2OneAtATime)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_SimMlpWeightFlip1e2TwoThreads)->Unit(benchmark::kMillisecond)->MinTime(2.0)->MeasureProcessCPUTime();
BENCHMARK(BM_SimMlpWeightFlip1e2PerChip)->Unit(benchmark::kMillisecond)->MinTime(2.0);
