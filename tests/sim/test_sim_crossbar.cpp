// Analog crossbar tiles for the layers the config maps to them: noise that shrinks with I_max, power that
// grows with it, fresh noise per trial, one VMM per inference.
#include <gtest/gtest.h>

#include "sim/simulate.hpp"
#include "tests/sim/sim_test_util.hpp"

namespace axsim::sim {
namespace {

using namespace testing;

Dataset labelled(const QuantizedNetwork& net, Dataset data) {
  for (std::size_t i = 0; i < data.size; ++i) data.labels[i] = predicted_class(naive_logits(net, data.sample(i)));
  return data;
}

SimulationResult run(const QuantizedNetwork& net, const Dataset& data, const std::string& i_max, int trials = 3) {
  SimOptions o;
  o.trials = trials;
  const std::string xb = "crossbar: {layers: [fc1], i_max: " + i_max + ", rows: 32, cols: 16, adc_bits: 10}\n";
  return simulate(net, hw_from(small_hw_yaml("fast", "", "", xb)), nominal_schedule(), data, o);
}

TEST(SimCrossbar, MappedLayerRunsOnTheTilesWithNoiseThatShrinksWithImax) {
  const QuantizedNetwork net = random_mlp({64, 32, 10}, 81);
  const Dataset data = labelled(net, random_dataset(60, 64, 10, 82));
  const auto quiet = run(net, data, "100uA");
  const auto noisy = run(net, data, "1pA");
  EXPECT_EQ(quiet.layers[0].engine, "crossbar");
  EXPECT_EQ(quiet.layers[1].engine, "pe_array");
  EXPECT_FALSE(quiet.accuracy.deterministic);
  EXPECT_EQ(quiet.trials, 3);
  EXPECT_EQ(quiet.crossbar_vmms, 3u * data.size);
  // At a large I_max the analog layer is close to the digital one (only ADC rounding differs).
  EXPECT_GE(quiet.accuracy.mean, 0.85);
  EXPECT_LT(noisy.accuracy.mean, quiet.accuracy.mean - 0.2);
  // Power follows the cell currents, i.e. I_max.
  const auto& eq = quiet.energy_by_component[std::size_t(EnergyComponent::crossbar)];
  const auto& en = noisy.energy_by_component[std::size_t(EnergyComponent::crossbar)];
  EXPECT_GT(eq.dynamic_j, en.dynamic_j);
  EXPECT_GT(eq.leakage_j, 0);
  // fc1's weights are programmed into the tiles, not read from the weight buffer.
  EXPECT_EQ(quiet.layers[0].weight_reads, 0);
}

TEST(SimCrossbar, OutputLayerOnTheCrossbarProducesLogits) {
  const QuantizedNetwork net = random_mlp({32, 10}, 83);
  const Dataset data = labelled(net, random_dataset(30, 32, 10, 84));
  SimOptions o;
  o.trials = 2;
  const auto r = simulate(net, hw_from(small_hw_yaml("fast", "", "", "crossbar: {layers: [fc1], i_max: 100uA}\n")),
                          nominal_schedule(), data, o);
  EXPECT_GE(r.accuracy.mean, 0.85);
}

}  // namespace
}  // namespace axsim::sim
