// The two timing modes run the same instruction stream and the same buffer reads: identical outputs (also
// under faults, which are drawn on the same reads) and cycle counts that agree within 2 %.
#include <gtest/gtest.h>

#include <cmath>

#include "sim/simulate.hpp"
#include "tests/sim/sim_test_util.hpp"

namespace axsim::sim {
namespace {

using namespace testing;

struct Pair {
  SimulationResult fast, cycle;
};

Pair run_both(const QuantizedNetwork& net, const Dataset& data, const std::string& weight_fault = "",
              const std::string& extra = "") {
  SimOptions o;
  o.record_outputs = true;
  o.seed = 99;
  Pair p;
  p.fast = simulate(net, hw_from(small_hw_yaml("fast", weight_fault, "", extra)), nominal_schedule(), data, o);
  p.cycle = simulate(net, hw_from(small_hw_yaml("cycle", weight_fault, "", extra)), nominal_schedule(), data, o);
  return p;
}

void expect_close_cycles(const Pair& p) {
  ASSERT_EQ(p.fast.layers.size(), p.cycle.layers.size());
  for (std::size_t k = 0; k < p.fast.layers.size(); ++k) {
    const auto& f = p.fast.layers[k];
    const auto& c = p.cycle.layers[k];
    if (f.engine != "pe_array") continue;
    // The clocked array's busy window against the mapper's cost model (what fast mode charges).
    EXPECT_NEAR(c.busy_cycles_per_inference, f.cycles_per_inference, 0.02 * f.cycles_per_inference) << f.name;
    // Whole time in the layer, handshakes included.
    EXPECT_NEAR(c.cycles_per_inference, f.cycles_per_inference, 0.02 * f.cycles_per_inference) << f.name;
    EXPECT_EQ(f.cycles_per_inference, double(f.mapped_cycles)) << f.name;
  }
  EXPECT_NEAR(double(p.cycle.total_cycles), double(p.fast.total_cycles), 0.02 * double(p.fast.total_cycles));
}

TEST(SimTiming, FullyConnectedLayersAgree) {
  const QuantizedNetwork net = random_mlp({48, 24, 10}, 21);
  const Dataset data = random_dataset(5, 48, 10, 22);
  const Pair p = run_both(net, data);
  EXPECT_EQ(p.fast.logits, p.cycle.logits);
  expect_close_cycles(p);
}

TEST(SimTiming, ConvLayersAgree) {
  const QuantizedNetwork net = small_cnn(23);
  const Dataset data = random_dataset(4, 64, 10, 24, {1, 8, 8});
  const Pair p = run_both(net, data);
  EXPECT_EQ(p.fast.logits, p.cycle.logits);
  expect_close_cycles(p);
}

TEST(SimTiming, ConvLayersWithoutLocalWeightReuseAgree) {
  // Every spatial tile reloads its weights (stall-heavy passes): still the same outputs and cycles.
  const QuantizedNetwork net = small_cnn(25);
  const Dataset data = random_dataset(3, 64, 10, 26, {1, 8, 8});
  const Pair p = run_both(net, data, "", "layers:\n  conv2: {unrolling: [2, 2, 1, 1, 1, 1]}\n");
  EXPECT_EQ(p.fast.logits, p.cycle.logits);
  expect_close_cycles(p);
}

TEST(SimTiming, FaultyReadsGiveIdenticalOutputsInBothModes) {
  // The faults are drawn on the same reads in the same order, so even faulty outputs are identical.
  const QuantizedNetwork net = small_cnn(27);
  const Dataset data = random_dataset(4, 64, 10, 28, {1, 8, 8});
  const Pair p = run_both(net, data, "{channel: flip, persistence: per_read, p: 0.02}");
  EXPECT_EQ(p.fast.logits, p.cycle.logits);
  std::uint64_t faulty = 0;
  for (const auto& b : p.fast.banks) faulty += b.faulty_bits;
  EXPECT_GT(faulty, 0u);
  for (std::size_t b = 0; b < p.fast.banks.size(); ++b)
    EXPECT_EQ(p.fast.banks[b].faulty_bits, p.cycle.banks[b].faulty_bits);
}

}  // namespace
}  // namespace axsim::sim
