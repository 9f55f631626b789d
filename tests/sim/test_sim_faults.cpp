// Memory faults in the simulated buffers: measured rates against the configured p, schedules that change the
// rate at an exact inference or time, per_chip persistence, Monte Carlo trials.
#include <gtest/gtest.h>

#include "sim/simulate.hpp"
#include "tests/sim/sim_test_util.hpp"

namespace axsim::sim {
namespace {

using namespace testing;

const char* kFlipPerRead = "{channel: flip, persistence: per_read}";

double p_at(const HardwareConfig& hw, MemoryDomain d, double volts) {
  return hw.technology->bit_error_curve(d).p_at(volts);
}

// Labels = the nominal predictions, so a fault-free run is 100 % accurate.
Dataset labelled_by_nominal(const QuantizedNetwork& net, Dataset data) {
  for (std::size_t i = 0; i < data.size; ++i) data.labels[i] = predicted_class(naive_logits(net, data.sample(i)));
  return data;
}

TEST(SimFaults, MeasuredRatePerBankIsInsideBinomialBoundsOfTheConfiguredRate) {
  const QuantizedNetwork net = random_mlp({96, 48, 10}, 31);
  const Dataset data = random_dataset(60, 96, 10, 32);
  const HardwareConfig hw = hw_from(small_hw_yaml("fast", kFlipPerRead, kFlipPerRead));
  const VoltageSchedule s = parse_voltage_schedule(
      "version: 1\ndomains:\n  weight_sram: [{voltage: 0.66V}]\n  neuron_sram: [{voltage: 0.55V}]\n");
  const SimulationResult r = simulate(net, hw, s, data);
  const double pw = p_at(hw, MemoryDomain::weight_sram, 0.66), pn = p_at(hw, MemoryDomain::neuron_sram, 0.55);
  ASSERT_NEAR(pw, 0.01, 1e-9);  // the technology's 1 % point
  int checked = 0;
  for (const auto& b : r.banks) {
    if (b.bits_read < 20000) continue;  // a bank the layout barely uses
    const double p = b.buffer == "weight_buffer" ? pw : pn;
    const auto [lo, hi] = binomial_999(double(b.bits_read), p);
    EXPECT_GE(double(b.faulty_bits), lo) << b.buffer << " bank " << b.bank;
    EXPECT_LE(double(b.faulty_bits), hi) << b.buffer << " bank " << b.bank;
    ++checked;
  }
  EXPECT_GE(checked, 3);
  // Unsigned activations store 7 of their 8 bits: the sign bit is never read, so it cannot fault.
  for (const auto& b : r.banks)
    if (b.buffer == "neuron_buffer" && b.reads > 0) {
      EXPECT_EQ(b.bits_read, b.reads * 7);
    }
}

TEST(SimFaults, FixedRateOverridesTheVoltageCurve) {
  const QuantizedNetwork net = random_mlp({64, 32, 10}, 33);
  const Dataset data = random_dataset(40, 64, 10, 34);
  const SimulationResult r = simulate(
      net, hw_from(small_hw_yaml("fast", "{channel: flip, persistence: per_read, p: 0.03}")), nominal_schedule(), data);
  std::uint64_t bits = 0, faulty = 0;
  for (const auto& b : r.banks)
    if (b.buffer == "weight_buffer") bits += b.bits_read, faulty += b.faulty_bits;
  const auto [lo, hi] = binomial_999(double(bits), 0.03);
  EXPECT_GE(double(faulty), lo);
  EXPECT_LE(double(faulty), hi);
}

TEST(SimFaults, ScheduleAfterNChangesTheRateExactlyFromInferenceN) {
  const QuantizedNetwork net = random_mlp({64, 32, 10}, 35);
  const Dataset data = random_dataset(30, 64, 10, 36);
  const HardwareConfig hw = hw_from(small_hw_yaml("fast", kFlipPerRead, kFlipPerRead));
  const VoltageSchedule s =
      parse_voltage_schedule("version: 1\nname: drop\ndomains:\n  weight_sram:\n    - {after: 12, voltage: 0.66V}\n");
  SimOptions o;
  o.record_per_inference = true;
  const SimulationResult r = simulate(net, hw, s, data, o);
  ASSERT_EQ(r.per_inference.size(), data.size);
  std::uint64_t bits_after = 0, faulty_after = 0;
  for (const auto& f : r.per_inference) {
    EXPECT_EQ(f.neuron_faulty_bits, 0u);  // the neuron buffer stays at nominal voltage
    if (f.inference < 12) {
      EXPECT_EQ(f.weight_faulty_bits, 0u) << "inference " << f.inference;
    } else {
      // ~ (64*32 + 32*10) * 8 bits * 1 % = 190 faulty bits per inference: zero would be a 1e-80 event.
      EXPECT_GT(f.weight_faulty_bits, 0u) << "inference " << f.inference;
      bits_after += f.weight_bits_read;
      faulty_after += f.weight_faulty_bits;
    }
  }
  const auto [lo, hi] = binomial_999(double(bits_after), p_at(hw, MemoryDomain::weight_sram, 0.66));
  EXPECT_GE(double(faulty_after), lo);
  EXPECT_LE(double(faulty_after), hi);
  // The regulator logged the change at the start of inference 12.
  ASSERT_FALSE(r.voltage_events.empty());
  bool found = false;
  for (const auto& e : r.voltage_events)
    if (e.domain == VoltageDomain::weight_sram && e.volts == 0.66) found = found || e.inference == 12;
  EXPECT_TRUE(found);
}

TEST(SimFaults, TimeTriggeredScheduleTakesEffectAtItsSimulatedTime) {
  const QuantizedNetwork net = random_mlp({64, 32, 10}, 37);
  const Dataset data = random_dataset(30, 64, 10, 38);
  const HardwareConfig hw = hw_from(small_hw_yaml("fast", kFlipPerRead));
  // Time per inference from a nominal run (the schedule does not change timing).
  const double per_inference = simulate(net, hw, nominal_schedule(), data).simulated_seconds / double(data.size);
  const double at = 10.5 * per_inference;
  const VoltageSchedule s = parse_voltage_schedule(
      "version: 1\ndomains:\n  weight_sram:\n    - {at: " + std::to_string(at * 1e9) + "ns, voltage: 0.66V}\n");
  SimOptions o;
  o.record_per_inference = true;
  const SimulationResult r = simulate(net, hw, s, data, o);
  for (const auto& f : r.per_inference) {
    if (f.inference < 10) {  // ended before `at`
      EXPECT_EQ(f.weight_faulty_bits, 0u) << "inference " << f.inference;
    }
    if (f.inference >= 11) {  // began after `at`
      EXPECT_GT(f.weight_faulty_bits, 0u) << "inference " << f.inference;
    }
  }
  ASSERT_FALSE(r.voltage_events.empty());
  EXPECT_NEAR(r.voltage_events.back().time_s, at, 1e-12);  // the sc_event fired at the scheduled time
}

TEST(SimFaults, PerLayerVoltagesOnlyHitThatLayersReads) {
  const QuantizedNetwork net = random_mlp({64, 32, 10}, 39);
  const Dataset data = random_dataset(10, 64, 10, 40);
  const HardwareConfig hw = hw_from(small_hw_yaml("fast", kFlipPerRead));
  const VoltageSchedule s =
      parse_voltage_schedule("version: 1\ndomains:\n  weight_sram:\n    - {layers: {fc2: 0.5V}}\n");
  SimOptions o;
  o.record_per_inference = true;
  const SimulationResult r = simulate(net, hw, s, data, o);
  // fc2's 320 weights live in the second half of the weight bank layout; fc1 reads at nominal voltage.
  std::uint64_t faulty = 0, bits = 0;
  for (const auto& f : r.per_inference) faulty += f.weight_faulty_bits, bits += f.weight_bits_read;
  const double fc2_bits = 320.0 * 8 * double(data.size);
  const auto [lo, hi] = binomial_999(fc2_bits, p_at(hw, MemoryDomain::weight_sram, 0.5));
  EXPECT_GE(double(faulty), lo);
  EXPECT_LE(double(faulty), hi);
  EXPECT_GT(bits, std::uint64_t(fc2_bits));
}

TEST(SimFaults, PerChipFaultsRepeatOnEveryReadAndDifferBetweenChips) {
  const QuantizedNetwork net = random_mlp({64, 32, 10}, 41);
  Dataset data = random_dataset(1, 64, 10, 42);
  // The same input four times: a chip with persistent faults answers the same every time.
  data = data.subset(std::vector<std::size_t>{0, 0, 0, 0});
  const VoltageSchedule s = parse_voltage_schedule("version: 1\ndomains:\n  weight_sram: [{voltage: 0.5V}]\n");
  SimOptions o;
  o.record_outputs = true;
  o.trials = 3;
  const auto chip = simulate(net, hw_from(small_hw_yaml("fast", "{channel: flip, persistence: per_chip}")), s, data, o);
  ASSERT_EQ(chip.logits.size(), 4u);
  for (std::size_t i = 1; i < 4; ++i) EXPECT_EQ(chip.logits[i], chip.logits[0]);
  std::uint64_t faulty = 0;
  for (const auto& b : chip.banks) faulty += b.faulty_bits;
  EXPECT_GT(faulty, 0u);
  // Every read of a per_chip map reads the same faulty cells: faulty bits are a multiple of the inferences.
  EXPECT_EQ(faulty % 4, 0u);
  const auto fresh = simulate(net, hw_from(small_hw_yaml("fast", kFlipPerRead)), s, data, o);
  bool differ = false;
  for (std::size_t i = 1; i < 4; ++i) differ = differ || fresh.logits[i] != fresh.logits[0];
  EXPECT_TRUE(differ);  // per_read: fresh faults on every read
}

TEST(SimFaults, OtherChannelsRunAndAreCounted) {
  const QuantizedNetwork net = random_mlp({64, 32, 10}, 43);
  const Dataset data = random_dataset(20, 64, 10, 44);
  const VoltageSchedule s = parse_voltage_schedule("version: 1\ndomains:\n  weight_sram: [{voltage: 0.6V}]\n");
  for (const char* channel : {"bit_mask", "word_mask", "erasure", "stuck_at"}) {
    const auto r = simulate(net, hw_from(small_hw_yaml("fast", std::string("{channel: ") + channel + "}")), s, data);
    std::uint64_t faulty_words = 0;
    for (const auto& b : r.banks) faulty_words += b.faulty_words;
    EXPECT_GT(faulty_words, 0u) << channel;
  }
}

TEST(SimFaults, TrialsAreIndependentChipsAndTheIntervalCoversTheirMean) {
  const QuantizedNetwork net = random_mlp({64, 32, 10}, 45);
  const Dataset data = labelled_by_nominal(net, random_dataset(40, 64, 10, 46));
  const VoltageSchedule s = parse_voltage_schedule("version: 1\ndomains:\n  weight_sram: [{voltage: 0.45V}]\n");
  SimOptions o;
  o.trials = 5;
  const auto r = simulate(net, hw_from(small_hw_yaml("fast", kFlipPerRead)), s, data, o);
  EXPECT_EQ(r.trials, 5);
  EXPECT_FALSE(r.accuracy.deterministic);
  EXPECT_LT(r.accuracy.mean, 1.0);  // p ~ 5 %: the network breaks down
  EXPECT_GT(r.accuracy.half_width, 0.0);
  // Same seed, fewer trials: the first trials are the same chips.
  o.trials = 2;
  const auto r2 = simulate(net, hw_from(small_hw_yaml("fast", kFlipPerRead)), s, data, o);
  EXPECT_EQ(r2.correct_per_trial[0], r.correct_per_trial[0]);
  EXPECT_EQ(r2.correct_per_trial[1], r.correct_per_trial[1]);
  // Nominal: deterministic, one trial whatever was asked.
  const auto nominal = simulate(net, hw_from(small_hw_yaml("fast", kFlipPerRead)), nominal_schedule(), data, o);
  EXPECT_TRUE(nominal.accuracy.deterministic);
  EXPECT_EQ(nominal.trials, 1);
  EXPECT_EQ(nominal.accuracy.mean, 1.0);
}

TEST(SimFaults, ConfidenceModeStopsWhenTheIntervalIsNarrowEnough) {
  const QuantizedNetwork net = random_mlp({32, 16, 10}, 47);
  const Dataset data = labelled_by_nominal(net, random_dataset(30, 32, 10, 48));
  const VoltageSchedule s = parse_voltage_schedule("version: 1\ndomains:\n  weight_sram: [{voltage: 0.5V}]\n");
  SimOptions o;
  o.ci_half_width = 0.05;
  o.max_trials = 50;
  const auto r = simulate(net, hw_from(small_hw_yaml("fast", kFlipPerRead)), s, data, o);
  EXPECT_GE(r.trials, 2);
  EXPECT_TRUE(r.accuracy.converged || r.trials == 50);
  if (r.accuracy.converged) {
    EXPECT_LE(r.accuracy.half_width, 0.05);
  }
}

}  // namespace
}  // namespace axsim::sim

namespace axsim::sim {
namespace {

using namespace testing;

TEST(SimSchedule, SettlingStallsBoundaryChangesAndDelaysTimedOnes) {
  const QuantizedNetwork net = random_mlp({32, 16, 10}, 91);
  const Dataset data = random_dataset(12, 32, 10, 92);
  for (const char* timing : {"fast", "cycle"}) {
    const HardwareConfig hw = hw_from(small_hw_yaml(timing));
    const auto nominal = simulate(net, hw, nominal_schedule(), data);
    // One inference-triggered change: the controller waits 10 us = 2500 cycles at 250 MHz for the rail.
    const auto stalled = simulate(
        net, hw,
        parse_voltage_schedule("version: 1\nsettling_time: 10us\ndomains:\n  logic: [{after: 5, voltage: 0.9V}]\n"),
        data);
    EXPECT_EQ(stalled.total_cycles, nominal.total_cycles + 2500) << timing;
    // A timed change takes effect settling_time after `at`.
    const auto timed = simulate(
        net, hw,
        parse_voltage_schedule("version: 1\nsettling_time: 1us\ndomains:\n  logic: [{at: 2us, voltage: 0.9V}]\n"),
        data);
    EXPECT_EQ(timed.total_cycles, nominal.total_cycles) << timing;
    ASSERT_EQ(timed.voltage_events.size(), std::size_t(kVoltageDomainCount + 1)) << timing;  // start levels + change
    EXPECT_NEAR(timed.voltage_events.back().time_s, 3e-6, 1e-12) << timing;
    EXPECT_EQ(timed.voltage_events.back().volts, 0.9);
  }
}

}  // namespace
}  // namespace axsim::sim
