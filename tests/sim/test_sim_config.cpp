// Hardware configs and schedules: the shipped files load, resolve and round-trip; bad input fails before the
// simulation starts with an error that names the file, the place and what was expected.
#include <gtest/gtest.h>

#include <filesystem>

#include "sim/program.hpp"
#include "sim/simulate.hpp"
#include "tests/sim/sim_test_util.hpp"

namespace axsim::sim {
namespace {

using namespace testing;

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(source_path(dir)))
    if (e.path().extension() == ".yaml") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(SimConfig, ShippedHardwareConfigsLoadAndRoundTrip) {
  const auto files = files_in("configs/hw");
  ASSERT_GE(files.size(), 3u);
  for (const auto& f : files) {
    const HardwareConfig hw = load_hardware_config(f);
    const std::string yaml = to_yaml(hw);
    const HardwareConfig again = parse_hardware_config(yaml, "roundtrip");
    EXPECT_EQ(to_yaml(again), yaml) << f;
  }
  const HardwareConfig ff = load_hardware_config(source_path("configs/hw/flexflow-16x16.yaml"));
  EXPECT_EQ(ff.pe.rows, 16);
  EXPECT_EQ(ff.pe.cols, 16);
  EXPECT_EQ(ff.clock_hz, 250e6);
  const HardwareConfig xb = load_hardware_config(source_path("configs/hw/crossbar-first-layers.yaml"));
  ASSERT_TRUE(xb.crossbar.has_value());
  EXPECT_FALSE(xb.crossbar->layers.empty());
}

TEST(SimConfig, ShippedSchedulesLoadAndRoundTrip) {
  const auto files = files_in("configs/schedules");
  ASSERT_GE(files.size(), 3u);
  for (const auto& f : files) {
    const VoltageSchedule s = load_voltage_schedule(f);
    EXPECT_EQ(to_yaml(parse_voltage_schedule(to_yaml(s))), to_yaml(s)) << f;
  }
  const VoltageSchedule u = load_voltage_schedule(source_path("configs/schedules/undervolt-weights-after-5000.yaml"));
  ASSERT_EQ(u.entries(VoltageDomain::weight_sram).size(), 1u);
  EXPECT_EQ(u.entries(VoltageDomain::weight_sram)[0].after, 5000u);
}

TEST(SimConfig, CommandLineOverridesApplyBeforeTheStrictChecks) {
  const std::string path = source_path("configs/hw/small-4x4.yaml");
  const HardwareConfig hw = load_hardware_config(path, {"pe_array.rows=8", "timing=cycle"});
  EXPECT_EQ(hw.pe.rows, 8);
  EXPECT_EQ(hw.timing, TimingMode::cycle);
  const std::string e = error_of([&] { load_hardware_config(path, {"pe_array.rowz=8"}); });
  EXPECT_CONTAINS(e, "small-4x4.yaml");
  EXPECT_CONTAINS(e, "did you mean 'rows'");
}

TEST(SimConfig, UnknownKeysNameTheClosestKey) {
  const std::string e = error_of([] { hw_from(small_hw_yaml() + "pe_aray: {rows: 4}\n"); });
  EXPECT_CONTAINS(e, "test-hw.yaml");
  EXPECT_CONTAINS(e, "unknown key 'pe_aray'");
  EXPECT_CONTAINS(e, "did you mean 'pe_array'");
  const std::string f = error_of([] { hw_from(small_hw_yaml("fast", "{channel: flip, persistense: per_read}")); });
  EXPECT_CONTAINS(f, "did you mean 'persistence'");
  const std::string g = error_of([] { hw_from(small_hw_yaml("fast", "{channel: flipp}")); });
  EXPECT_CONTAINS(g, "did you mean 'flip'");
  const std::string t = error_of([] { hw_from(small_hw_yaml("fastest")); });
  EXPECT_CONTAINS(t, "one of {fast, cycle}");
}

TEST(SimConfig, ArrayLargerThanTheBuffersCanFeedIsRejected) {
  const std::string e = error_of([] {
    hw_from(
        "name: x\nclock: 250MHz\npe_array: {rows: 64, cols: 64}\n"
        "weight_buffer: {size: 2KiB, banks: 2, word_bits: 8, read_ports: 2}\n"
        "neuron_buffer: {size: 4KiB, banks: 2, word_bits: 8, read_ports: 2}\n");
  });
  EXPECT_CONTAINS(e, "weight_buffer.size");
  EXPECT_CONTAINS(e, "rows*cols = 4096");
}

TEST(SimConfig, BadValuesAreRejected) {
  EXPECT_CONTAINS(error_of([] { hw_from(small_hw_yaml("fast", "", "", "", 0, 4)); }), "pe_array.rows");
  EXPECT_CONTAINS(error_of([] {
                    hw_from(
                        "name: x\nclock: 250MHz\npe_array: {rows: 4, cols: 4}\n"
                        "weight_buffer: {size: 1000B, banks: 3, word_bits: 8, read_ports: 2}\n"
                        "neuron_buffer: {size: 4KiB, banks: 2, word_bits: 8, read_ports: 2}\n");
                  }),
                  "splits into 3 banks");
  EXPECT_CONTAINS(error_of([] { parse_hardware_config("version: 1\nclock: 1GHz\ntechnology: /no/such/tech.yaml\n"); }),
                  "a technology file that exists");
  EXPECT_CONTAINS(error_of([] { hw_from(small_hw_yaml("fast", "{channel: flip, p: 0.7}")); }),
                  "a fault rate in [0, 0.5]");
}

TEST(SimConfig, LayersThatCannotBeMappedAreRejectedBeforeSimulating) {
  const QuantizedNetwork mlp = random_mlp({64, 32, 10}, 51);
  const QuantizedNetwork cnn = small_cnn(52);
  // An unrolling the 4x4 array cannot hold.
  EXPECT_CONTAINS(error_of([&] {
                    compile_program(
                        mlp,
                        hw_from(small_hw_yaml("fast", "", "", "layers:\n  fc1: {unrolling: [8, 1, 1, 1, 1, 1]}\n")),
                        nominal_schedule());
                  }),
                  "Tm*Tr*Tc = 8 exceeds D_r = 4");
  // An override naming no layer.
  EXPECT_CONTAINS(error_of([&] {
                    compile_program(mlp,
                                    hw_from(small_hw_yaml("fast", "", "", "layers:\n  fc3: {multiplier: drum4}\n")),
                                    nominal_schedule());
                  }),
                  "did you mean 'fc1'");
  // A conv layer on the crossbar.
  EXPECT_CONTAINS(error_of([&] {
                    compile_program(cnn, hw_from(small_hw_yaml("fast", "", "", "crossbar: {layers: [conv1]}\n")),
                                    nominal_schedule());
                  }),
                  "dense layers only");
  // Activations wider than the neuron buffer's words (u8 codes store 7 bits).
  EXPECT_CONTAINS(error_of([&] {
                    compile_program(mlp,
                                    hw_from("name: x\nclock: 250MHz\npe_array: {rows: 4, cols: 4}\n"
                                            "weight_buffer: {size: 8KiB, banks: 2, word_bits: 8, read_ports: 2}\n"
                                            "neuron_buffer: {size: 3KiB, banks: 2, word_bits: 6, read_ports: 2}\n"),
                                    nominal_schedule());
                  }),
                  "neuron_buffer.word_bits");
  // A layer whose weights do not fit the weight buffer.
  EXPECT_CONTAINS(error_of([&] {
                    compile_program(mlp,
                                    hw_from("name: x\nclock: 250MHz\npe_array: {rows: 4, cols: 4}\n"
                                            "weight_buffer: {size: 1KiB, banks: 2, word_bits: 8, read_ports: 2}\n"
                                            "neuron_buffer: {size: 4KiB, banks: 2, word_bits: 8, read_ports: 2}\n"),
                                    nominal_schedule());
                  }),
                  "holds the 2048 weights of layer 'fc1'");
  // A tensor larger than half the neuron buffer (ping-pong).
  EXPECT_CONTAINS(error_of([&] {
                    compile_program(random_mlp({3000, 10}, 53), hw_from(small_hw_yaml()), nominal_schedule());
                  }),
                  "neuron_buffer.size");
}

TEST(SimConfig, SchedulesNamingUnknownDomainsOrLayersAreRejected) {
  EXPECT_CONTAINS(
      error_of([] { parse_voltage_schedule("version: 1\ndomains:\n  weight_srma: [{voltage: 0.6V}]\n", "s.yaml"); }),
      "did you mean 'weight_sram'");
  EXPECT_CONTAINS(
      error_of([] { parse_voltage_schedule("version: 1\ndomains:\n  logic: [{aftr: 5, voltage: 0.6V}]\n", "s.yaml"); }),
      "did you mean 'after'");
  EXPECT_CONTAINS(error_of([] { parse_voltage_schedule("version: 1\ndomains:\n  logic: [{after: 5}]\n", "s.yaml"); }),
                  "a 'voltage' or a 'layers' table");
  EXPECT_CONTAINS(error_of([] {
                    parse_voltage_schedule(
                        "version: 1\ndomains:\n  logic: [{after: 5, voltage: 0.6V}, {after: 2, voltage: 0.7V}]\n",
                        "s.yaml");
                  }),
                  "increasing order");
  const VoltageSchedule s =
      parse_voltage_schedule("version: 1\ndomains:\n  neuron_sram: [{layers: {fc9: 0.6V}}]\n", "sched.yaml");
  const std::string e = error_of([&] { compile_program(random_mlp({16, 8, 4}, 54), hw_from(small_hw_yaml()), s); });
  EXPECT_CONTAINS(e, "sched.yaml");
  EXPECT_CONTAINS(e, "'fc9'");
  EXPECT_CONTAINS(e, "did you mean 'fc1'");
}

TEST(SimConfig, InputsThatDoNotFitTheNetworkAreRejected) {
  const QuantizedNetwork net = random_mlp({16, 8, 4}, 55);
  EXPECT_CONTAINS(
      error_of([&] { simulate(net, hw_from(small_hw_yaml()), nominal_schedule(), random_dataset(3, 15, 4, 1)); }),
      "16 features per sample");
  Dataset bad_label = random_dataset(3, 16, 4, 1);
  bad_label.labels[1] = 7;
  EXPECT_CONTAINS(error_of([&] { simulate(net, hw_from(small_hw_yaml()), nominal_schedule(), bad_label); }),
                  "sample 1");
  SimOptions o;
  o.trials = 0;
  EXPECT_CONTAINS(
      error_of([&] { simulate(net, hw_from(small_hw_yaml()), nominal_schedule(), random_dataset(3, 16, 4, 1), o); }),
      "at least 1 trial");
}

TEST(SimConfig, ProgramTilesAddUpToTheMapper) {
  // compile_program cross-checks every layer's tiles against the mapper; spot-check the numbers too.
  const Program p = compile_program(random_mlp({64, 32, 10}, 56), hw_from(small_hw_yaml()), nominal_schedule());
  ASSERT_EQ(p.layers.size(), 2u);
  const LayerPlan& fc1 = p.layers[0];
  EXPECT_EQ(fc1.mapping.u.Tm * fc1.mapping.u.Tn, 16);
  EXPECT_EQ(fc1.weight_reads, 64 * 32);  // dense: every weight read once per inference
  std::int64_t tile_cycles = 0;
  for (const auto& t : fc1.tiles) tile_cycles += t.cycles;
  EXPECT_EQ(tile_cycles + fc1.mapping.fill_cycles, fc1.mapping.cycles);
  EXPECT_TRUE(p.weights_resident);
}

}  // namespace
}  // namespace axsim::sim
