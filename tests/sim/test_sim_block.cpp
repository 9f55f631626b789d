// Block mode (SimOptions::block): the instruction stream runs once for a block of inferences, the values are
// computed as a block (sim/block_datapath.hpp). It must be invisible in the results: the same outputs, fault
// counts per bank and per inference, cycles, and energies (up to the order of floating-point sums) as one
// inference at a time, whatever the block size (block boundaries anywhere) and the number of threads; and a
// schedule setting that falls inside a block must still take effect exactly at its inference.
#include <gtest/gtest.h>

#include <cmath>

#include "sim/simulate.hpp"
#include "tests/sim/sim_test_util.hpp"

namespace axsim::sim {
namespace {

using namespace testing;

const char* kFlip = "{channel: flip, persistence: per_read, p: 0.02}";

SimulationResult run(const QuantizedNetwork& net, const Dataset& data, const HardwareConfig& hw,
                     const VoltageSchedule& schedule, int block, int threads = 1) {
  SimOptions o;
  o.record_outputs = true;
  o.record_per_inference = true;
  o.seed = 9;
  o.trials = 2;
  o.block = block;
  o.threads = threads;
  return simulate(net, hw, schedule, data, o);
}

void expect_near_rel(double a, double b, const char* what) {
  EXPECT_LE(std::abs(a - b), 1e-12 * std::max(std::abs(a), std::abs(b))) << what << ": " << a << " vs " << b;
}

// `energy_exact`: same summation order (thread counts), else equal up to rounding (block sizes).
void expect_same(const SimulationResult& a, const SimulationResult& b, bool energy_exact) {
  EXPECT_EQ(a.logits, b.logits);
  EXPECT_EQ(a.predictions, b.predictions);
  EXPECT_EQ(a.correct_per_trial, b.correct_per_trial);
  EXPECT_EQ(a.total_cycles, b.total_cycles);
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (std::size_t k = 0; k < a.layers.size(); ++k) EXPECT_EQ(a.layers[k].total_cycles, b.layers[k].total_cycles);
  ASSERT_EQ(a.banks.size(), b.banks.size());
  for (std::size_t i = 0; i < a.banks.size(); ++i) {
    const BankResult &x = a.banks[i], &y = b.banks[i];
    EXPECT_EQ(x.reads, y.reads) << x.buffer << " " << x.bank;
    EXPECT_EQ(x.writes, y.writes) << x.buffer << " " << x.bank;
    EXPECT_EQ(x.bits_read, y.bits_read) << x.buffer << " " << x.bank;
    EXPECT_EQ(x.faulty_bits, y.faulty_bits) << x.buffer << " " << x.bank;
    EXPECT_EQ(x.faulty_words, y.faulty_words) << x.buffer << " " << x.bank;
    EXPECT_EQ(x.words_changed, y.words_changed) << x.buffer << " " << x.bank;
    if (energy_exact)
      EXPECT_EQ(x.dynamic_j, y.dynamic_j);
    else
      expect_near_rel(x.dynamic_j, y.dynamic_j, "bank dynamic energy");
  }
  if (energy_exact)
    EXPECT_EQ(a.energy_total.total(), b.energy_total.total());
  else
    expect_near_rel(a.energy_total.total(), b.energy_total.total(), "total energy");
  ASSERT_EQ(a.per_inference.size(), b.per_inference.size());
  for (std::size_t i = 0; i < a.per_inference.size(); ++i) {
    EXPECT_EQ(a.per_inference[i].inference, b.per_inference[i].inference);
    EXPECT_EQ(a.per_inference[i].weight_bits_read, b.per_inference[i].weight_bits_read) << i;
    EXPECT_EQ(a.per_inference[i].weight_faulty_bits, b.per_inference[i].weight_faulty_bits) << i;
    EXPECT_EQ(a.per_inference[i].neuron_bits_read, b.per_inference[i].neuron_bits_read) << i;
  }
}

std::uint64_t weight_faulty_bits(const SimulationResult& r) {
  std::uint64_t n = 0;
  for (const auto& b : r.banks)
    if (b.buffer == "weight_buffer") n += b.faulty_bits;
  return n;
}

TEST(SimBlock, BlocksOfAnySizeMatchOneInferenceAtATime) {
  const QuantizedNetwork net = random_mlp({64, 40, 24, 10}, 41);
  const Dataset data = random_dataset(50, 64, 10, 42);
  const HardwareConfig hw = hw_from(small_hw_yaml("fast", kFlip));
  const SimulationResult single = run(net, data, hw, nominal_schedule(), 1);
  EXPECT_EQ(single.block, 1);
  EXPECT_GT(weight_faulty_bits(single), 1000u);  // the comparison means something only with faults
  for (int block : {2, 7, 50, 64}) {             // boundaries inside the data set, one block, a block larger than it
    SCOPED_TRACE("block " + std::to_string(block));
    const SimulationResult blocked = run(net, data, hw, nominal_schedule(), block);
    EXPECT_EQ(blocked.block, std::min(block, 50));  // block mode really ran
    expect_same(blocked, single, false);
  }
  // Faults must change outputs, else "identical" would also hold for a datapath that ignored them.
  const SimulationResult clean = run(net, data, hw_from(small_hw_yaml("fast")), nominal_schedule(), 7);
  EXPECT_NE(clean.logits, single.logits);
}

TEST(SimBlock, DrumBlocksMatchOneInferenceAtATime) {
  const QuantizedNetwork net = random_mlp({48, 24, 10}, 43, Multiplier::drum(3, 8));
  const Dataset data = random_dataset(30, 48, 10, 44);
  const HardwareConfig hw = hw_from(small_hw_yaml("fast", kFlip));
  const SimulationResult single = run(net, data, hw, nominal_schedule(), 1);
  const SimulationResult blocked = run(net, data, hw, nominal_schedule(), 8);
  EXPECT_EQ(blocked.block, 8);
  expect_same(blocked, single, false);
}

TEST(SimBlock, ThreadCountDoesNotChangeResults) {
  const QuantizedNetwork net = random_mlp({64, 32, 10}, 45);
  const Dataset data = random_dataset(40, 64, 10, 46);
  const HardwareConfig hw = hw_from(small_hw_yaml("fast", kFlip));
  const SimulationResult one = run(net, data, hw, nominal_schedule(), 16, 1);
  const SimulationResult two = run(net, data, hw, nominal_schedule(), 16, 2);
  const SimulationResult three = run(net, data, hw, nominal_schedule(), 16, 3);
  EXPECT_GT(weight_faulty_bits(one), 500u);
  expect_same(two, one, true);
  expect_same(three, one, true);
}

TEST(SimBlock, ScheduleChangeInsideABlockTakesEffectAtItsInference) {
  const QuantizedNetwork net = random_mlp({64, 32, 10}, 47);
  const Dataset data = random_dataset(30, 64, 10, 48);
  const HardwareConfig hw = hw_from(small_hw_yaml("fast", "{channel: flip, persistence: per_read}"));
  const VoltageSchedule s = parse_voltage_schedule(
      "version: 1\nname: drop\nsettling_time: 1us\ndomains:\n  weight_sram:\n    - {after: 13, voltage: 0.66V}\n");
  // Blocks of 8 would be [8, 16): the setting at 13 splits it.
  const SimulationResult blocked = run(net, data, hw, s, 8);
  const SimulationResult single = run(net, data, hw, s, 1);
  EXPECT_EQ(blocked.block, 8);
  expect_same(blocked, single, false);
  EXPECT_EQ(blocked.voltage_changes, single.voltage_changes);
  ASSERT_EQ(blocked.per_inference.size(), 2 * data.size);
  for (const auto& f : blocked.per_inference) {
    if (f.inference < 13)
      EXPECT_EQ(f.weight_faulty_bits, 0u) << "trial " << f.trial << " inference " << f.inference;
    else
      EXPECT_GT(f.weight_faulty_bits, 0u) << "trial " << f.trial << " inference " << f.inference;
  }
}

TEST(SimBlock, ProgramsOutsideTheBlockScopeRunOneAtATime) {
  // A timed setting could fall inside a block: one at a time, same results as before block mode existed.
  const QuantizedNetwork net = random_mlp({32, 16, 10}, 49);
  const Dataset data = random_dataset(10, 32, 10, 50);
  const VoltageSchedule timed =
      parse_voltage_schedule("version: 1\nname: timed\ndomains:\n  weight_sram:\n    - {at: 1us, voltage: 0.66V}\n");
  EXPECT_EQ(run(net, data, hw_from(small_hw_yaml("fast", kFlip)), timed, 8).block, 1);
  // Neuron buffer faults: activations must be stored to be corrupted.
  EXPECT_EQ(run(net, data, hw_from(small_hw_yaml("fast", kFlip, kFlip)), nominal_schedule(), 8).block, 1);
  // Conv layers and cycle timing.
  const QuantizedNetwork cnn = small_cnn(51);
  const Dataset images = random_dataset(4, std::size_t(cnn.layers.front().input_size()), 10, 52);
  EXPECT_EQ(run(cnn, images, hw_from(small_hw_yaml("fast")), nominal_schedule(), 8).block, 1);
  EXPECT_EQ(run(net, data, hw_from(small_hw_yaml("cycle")), nominal_schedule(), 8).block, 1);
}

}  // namespace
}  // namespace axsim::sim
