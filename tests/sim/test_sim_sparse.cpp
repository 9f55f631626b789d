// Sparse weight reads (fast mode): the PE array computes on the stored weights and corrects the words that
// read back different. They must be invisible: the same draws, fault counts, energy and bit-identical
// outputs as copying reads, for exact and DRUM multipliers, dense and whole-kernel conv layers, per_read and
// per_chip faults. The copying path is forced with SimOptions::sparse_weight_reads = false.
#include <gtest/gtest.h>

#include "sim/simulate.hpp"
#include "tests/sim/sim_test_util.hpp"

namespace axsim::sim {
namespace {

using namespace testing;

struct Pair {
  SimulationResult sparse, copying;
};

Pair run_both(const QuantizedNetwork& net, const Dataset& data, const std::string& weight_fault,
              const std::string& extra = "", int size = 8) {
  SimOptions o;
  o.record_outputs = true;
  o.record_per_inference = true;
  o.seed = 5;
  o.trials = 2;
  o.block = 1;  // one inference at a time: energies summed in the same order (block mode: test_sim_block.cpp)
  const HardwareConfig hw = hw_from(small_hw_yaml("fast", weight_fault, "", extra, size, size));
  Pair p;
  p.sparse = simulate(net, hw, nominal_schedule(), data, o);
  o.sparse_weight_reads = false;
  p.copying = simulate(net, hw, nominal_schedule(), data, o);
  return p;
}

void expect_identical(const Pair& p) {
  EXPECT_EQ(p.sparse.logits, p.copying.logits);
  EXPECT_EQ(p.sparse.correct_per_trial, p.copying.correct_per_trial);
  ASSERT_EQ(p.sparse.banks.size(), p.copying.banks.size());
  std::uint64_t faulty = 0, changed = 0;
  for (std::size_t b = 0; b < p.sparse.banks.size(); ++b) {
    const BankResult &s = p.sparse.banks[b], &c = p.copying.banks[b];
    EXPECT_EQ(s.reads, c.reads);
    EXPECT_EQ(s.bits_read, c.bits_read);
    EXPECT_EQ(s.faulty_bits, c.faulty_bits);
    EXPECT_EQ(s.faulty_words, c.faulty_words);
    EXPECT_EQ(s.words_changed, c.words_changed);
    EXPECT_DOUBLE_EQ(s.dynamic_j, c.dynamic_j);
    if (s.buffer == "weight_buffer") {
      faulty += s.faulty_bits;
      changed += s.words_changed;
    }
  }
  EXPECT_GT(faulty, 100u);  // the comparison means something only if faults happened
  EXPECT_GT(changed, 0u);
  EXPECT_EQ(p.sparse.total_cycles, p.copying.total_cycles);
  EXPECT_DOUBLE_EQ(p.sparse.energy_total.total(), p.copying.energy_total.total());
  ASSERT_EQ(p.sparse.per_inference.size(), p.copying.per_inference.size());
  for (std::size_t i = 0; i < p.sparse.per_inference.size(); ++i)
    EXPECT_EQ(p.sparse.per_inference[i].weight_faulty_bits, p.copying.per_inference[i].weight_faulty_bits);
}

// Faults must actually change outputs, else "identical" would hold for a PE array that ignored them.
void expect_faults_matter(const QuantizedNetwork& net, const Dataset& data, const Pair& p) {
  SimOptions o;
  o.record_outputs = true;
  const auto clean = simulate(net, hw_from(small_hw_yaml("fast", "", "", "", 8, 8)), nominal_schedule(), data, o);
  EXPECT_NE(clean.logits, p.sparse.logits);
}

const char* kFlip = "{channel: flip, persistence: per_read, p: 0.02}";

TEST(SimSparse, DenseExactMatchesCopyingReads) {
  const QuantizedNetwork net = random_mlp({96, 40, 10}, 41);
  const Dataset data = random_dataset(12, 96, 10, 42);
  const Pair p = run_both(net, data, kFlip);
  expect_identical(p);
  expect_faults_matter(net, data, p);
}

TEST(SimSparse, DenseDrumMatchesCopyingReads) {
  const QuantizedNetwork net = random_mlp({96, 40, 10}, 43, Multiplier::drum(4, 8));
  const Dataset data = random_dataset(12, 96, 10, 44);
  const Pair p = run_both(net, data, kFlip);
  expect_identical(p);
  expect_faults_matter(net, data, p);
}

TEST(SimSparse, WholeKernelConvMatchesCopyingReads) {
  // A 16x16 array with Ti = Tj = K: whole-kernel conv tiles read their weight block once per tile, and a
  // faulty weight is wrong for every output of the tile.
  const QuantizedNetwork net = small_cnn(45);
  const Dataset data = random_dataset(6, 64, 10, 46, {1, 8, 8});
  const Pair p =
      run_both(net, data, kFlip,
               "layers:\n  conv1: {unrolling: [4, 1, 2, 2, 3, 3]}\n  conv2: {unrolling: [3, 1, 2, 2, 3, 3]}\n", 16);
  expect_identical(p);
}

TEST(SimSparse, OtherChannelsAndPerChipMatchCopyingReads) {
  const QuantizedNetwork net = random_mlp({96, 40, 10}, 47);
  const Dataset data = random_dataset(8, 96, 10, 48);
  for (const char* fault :
       {"{channel: stuck_at, persistence: per_read, p: 0.02}", "{channel: bit_mask, persistence: per_read, p: 0.02}",
        "{channel: flip, persistence: per_chip, p: 0.02}", "{channel: stuck_at, persistence: per_chip, p: 0.03}"}) {
    SCOPED_TRACE(fault);
    expect_identical(run_both(net, data, fault));
  }
}

}  // namespace
}  // namespace axsim::sim
