// At nominal voltage the simulator reproduces the QuantizedNetwork semantics bit for bit: its logits equal
// those of workloads/quant's CPU executor (the reference `axsim eval` uses) for dense, conv, pooling and DRUM.
#include <gtest/gtest.h>

#include <span>

#include "sim/simulate.hpp"
#include "tests/sim/sim_test_util.hpp"
#include "workloads/quant/executor.hpp"

namespace axsim::sim {
namespace {

using namespace testing;

std::vector<std::vector<std::int64_t>> reference_logits(const QuantizedNetwork& net, const Dataset& data) {
  quant::QuantizedExecutor exec(net, quant::ExecutorOptions{1, 64});
  std::vector<std::int32_t> logits(data.size * std::size_t(net.classes));
  std::vector<std::int32_t> predictions(data.size);
  exec.run(data.features.data(), data.size, 0, logits.data(), predictions.data());
  std::vector<std::vector<std::int64_t>> out(data.size);
  for (std::size_t i = 0; i < data.size; ++i)
    out[i].assign(logits.begin() + std::ptrdiff_t(i * net.classes),
                  logits.begin() + std::ptrdiff_t((i + 1) * net.classes));
  return out;
}

void expect_same_as_reference(const QuantizedNetwork& net, const Dataset& data, const HardwareConfig& hw) {
  SimOptions o;
  o.record_outputs = true;
  const SimulationResult r = simulate(net, hw, nominal_schedule(), data, o);
  const auto expected = reference_logits(net, data);
  ASSERT_EQ(r.logits.size(), data.size);
  for (std::size_t i = 0; i < data.size; ++i) {
    // The naive reference in this test agrees with the executor (so a mismatch below is the simulator's).
    ASSERT_EQ(naive_logits(net, data.sample(i)), expected[i]) << "inference " << i;
    ASSERT_EQ(r.logits[i], expected[i]) << "inference " << i;
    EXPECT_EQ(r.predictions[i], predicted_class(expected[i]));
  }
  // Nominal voltage: no memory faults at all, one deterministic trial.
  for (const auto& b : r.banks) EXPECT_EQ(b.faulty_bits, 0u) << b.buffer << " bank " << b.bank;
  EXPECT_TRUE(r.accuracy.deterministic);
  EXPECT_EQ(r.trials, 1);
}

TEST(SimReference, MlpMatchesTheCpuExecutorAtNominalVoltage) {
  const QuantizedNetwork net = random_mlp({64, 32, 24, 10}, 3);
  const Dataset data = random_dataset(20, 64, 10, 4);
  expect_same_as_reference(net, data,
                           hw_from(small_hw_yaml("fast", "{channel: flip, persistence: per_read}",
                                                 "{channel: flip, persistence: per_read}")));
}

TEST(SimReference, DrumMlpMatchesTheCpuExecutor) {
  const QuantizedNetwork net = random_mlp({40, 20, 10}, 5, Multiplier::drum(3, 8));
  const Dataset data = random_dataset(16, 40, 10, 6);
  expect_same_as_reference(net, data, hw_from(small_hw_yaml()));
}

TEST(SimReference, CnnWithMaxPoolMatchesTheCpuExecutor) {
  const QuantizedNetwork net = small_cnn(7);
  const Dataset data = random_dataset(12, 64, 10, 8, {1, 8, 8});
  expect_same_as_reference(net, data, hw_from(small_hw_yaml()));
}

TEST(SimReference, CnnWithAvgPoolAndDrumMatchesTheCpuExecutor) {
  const QuantizedNetwork net = small_cnn(9, QOpKind::avgpool, Multiplier::drum(4, 8));
  const Dataset data = random_dataset(12, 64, 10, 10, {1, 8, 8});
  expect_same_as_reference(net, data, hw_from(small_hw_yaml()));
}

TEST(SimReference, ForcedUnrollingsGiveTheSameOutputs) {
  // Different tilings (partial kernels per pass, no local weight reuse) change the dataflow, not the result.
  const QuantizedNetwork net = small_cnn(11);
  const Dataset data = random_dataset(6, 64, 10, 12, {1, 8, 8});
  expect_same_as_reference(
      net, data,
      hw_from(small_hw_yaml(
          "fast", "", "",
          "layers:\n  conv1: {unrolling: [1, 1, 2, 2, 2, 2]}\n  conv2: {unrolling: [2, 2, 1, 2, 1, 1]}\n")));
  expect_same_as_reference(
      net, data, hw_from(small_hw_yaml("fast", "", "", "layers:\n  conv1: {unrolling: [4, 1, 1, 1, 3, 1]}\n")));
}

TEST(SimReference, WideArrayRunsWholeKernelsPerPass) {
  // On a 16x16 array the mapper can put a whole 3x3 kernel (and several input maps) in one pass.
  const QuantizedNetwork net = small_cnn(15);
  const Dataset data = random_dataset(6, 64, 10, 16, {1, 8, 8});
  expect_same_as_reference(net, data, hw_from(small_hw_yaml("fast", "", "", "", 16, 16)));
  expect_same_as_reference(
      net, data, hw_from(small_hw_yaml("fast", "", "", "layers:\n  conv2: {unrolling: [3, 1, 2, 2, 3, 3]}\n", 16, 16)));
}

TEST(SimReference, StridedAndDisjointWindowsMatchTheCpuExecutor) {
  const QuantizedNetwork net = strided_cnn(17);
  const Dataset data = random_dataset(6, 2 * 81, 4, 18, {2, 9, 9});
  expect_same_as_reference(net, data, hw_from(small_hw_yaml()));
  expect_same_as_reference(net, data, hw_from(small_hw_yaml("fast", "", "", "", 16, 16)));
  expect_same_as_reference(
      net, data,
      hw_from(small_hw_yaml(
          "fast", "", "",
          "layers:\n  conv1: {unrolling: [1, 2, 2, 2, 1, 2]}\n  conv2: {unrolling: [1, 5, 3, 3, 1, 1]}\n", 16, 16)));
}

TEST(SimReference, ConfigMultiplierOverridesTheNetworks) {
  QuantizedNetwork net = random_mlp({30, 12, 10}, 13);
  const Dataset data = random_dataset(8, 30, 10, 14);
  QuantizedNetwork as_drum = net;
  for (auto& l : as_drum.layers) l.multiplier = Multiplier::drum(3, 8);
  SimOptions o;
  o.record_outputs = true;
  const auto r = simulate(
      net, hw_from(small_hw_yaml("fast", "", "", "layers:\n  fc1: {multiplier: drum3}\n  fc2: {multiplier: drum3}\n")),
      nominal_schedule(), data, o);
  const auto expected = reference_logits(as_drum, data);
  for (std::size_t i = 0; i < data.size; ++i) EXPECT_EQ(r.logits[i], expected[i]);
  EXPECT_EQ(r.layers[0].multiplier, "drum3");
}

}  // namespace
}  // namespace axsim::sim
