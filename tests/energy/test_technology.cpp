#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

#include "core/config.hpp"
#include "core/error.hpp"
#include "energy/technology.hpp"

using namespace axsim;

namespace {

const std::string kDefaultFile = std::string(AXSIM_SOURCE_DIR) + "/configs/tech/default-65nm.yaml";

std::string input_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

// A small but complete technology file; tests replace one line to break it.
const std::string kMinimal =
    "version: 1\n"
    "nominal_voltage: 1.0V\n"
    "sram:\n"
    "  - {name: small, max_capacity: 1KiB, read_per_bit: 0.1pJ, write_per_bit: 0.2pJ, leakage_per_kib: 1uW}\n"
    "  - {name: big, max_capacity: 16KiB, read_per_bit: 0.4pJ, write_per_bit: 0.5pJ, leakage_per_kib: 2uW}\n"
    "multiply:\n"
    "  exact: [{bits: 8, energy: 0.64pJ}]\n"
    "  drum_overhead_per_bit: 10fJ\n"
    "add: [{bits: 16, energy: 0.16pJ}]\n"
    "register_access_per_bit: 5fJ\n"
    "leakage: {pe: 3uW, controller: 30uW, crossbar_tile: 1nW}\n";

Technology minimal(const std::string& replace = "", const std::string& with = "") {
  std::string text = kMinimal;
  if (!replace.empty()) {
    const auto at = text.find(replace);
    EXPECT_NE(at, std::string::npos) << replace;
    text.replace(at, replace.size(), with);
  }
  return Technology::from_config(ConfigNode::parse(text, "tech.yaml"));
}

}  // namespace

TEST(Technology, DefaultFileLoads) {
  const Technology t = Technology::load_file(kDefaultFile);
  EXPECT_EQ(t.name(), "default-65nm");
  EXPECT_EQ(t.nominal_voltage(), 1.1);
  EXPECT_EQ(t.dynamic_exponent(), 2.0);
  EXPECT_EQ(t.leakage_slope_volts(), 0.18);
  ASSERT_EQ(t.sram_classes().size(), 3u);
  EXPECT_EQ(t.sram_class_for(512).name, "local_store");
  EXPECT_EQ(t.sram_class_for(2048).name, "local_store");
  EXPECT_EQ(t.sram_class_for(2049).name, "buffer");
  EXPECT_EQ(t.sram_class_for(1 << 20).name, "large");
  EXPECT_THROW(t.sram_class_for((1 << 20) + 1), InputError);
  EXPECT_NEAR(t.energy_at_nominal(Action::multiply_exact(8)), 0.43e-12, 1e-24);
  EXPECT_NEAR(t.energy_at_nominal(Action::sram_read(32 * 1024, 8)), 8 * 0.95e-12, 1e-24);
  for (MemoryDomain d : kMemoryDomains) {
    EXPECT_EQ(t.bit_error_curve(d).p_at(0.66), 0.01) << to_string(d);
    EXPECT_EQ(t.bit_error_curve(d).p_at(1.1), 0.0);
  }
  EXPECT_NEAR(t.crossbar().noise_bandwidth_hz, 250e6, 1e-3);
  EXPECT_NEAR(t.crossbar().programming_resolution_na, 0.1, 1e-12);
}

TEST(Technology, ScalingIsIdentityAtNominalAndFollowsFormulas) {
  const Technology t = Technology::load_file(kDefaultFile);
  const Action actions[] = {Action::sram_read(1024, 16),
                            Action::sram_write(64 * 1024, 8),
                            Action::multiply_exact(16),
                            Action::multiply_drum(16, 6),
                            Action::add(32),
                            Action::register_access(8),
                            Action::adc_conversion(8)};
  for (const auto& a : actions) {
    EXPECT_GT(t.energy_at_nominal(a), 0.0);
    EXPECT_DOUBLE_EQ(t.energy_of(a, 1.1), t.energy_at_nominal(a));
    EXPECT_DOUBLE_EQ(t.energy_of(a, 0.55), 0.25 * t.energy_at_nominal(a));
  }
  const Component comps[] = {Component::sram(4096), Component::pe(), Component::controller(),
                             Component::crossbar_tile()};
  for (const auto& c : comps) {
    EXPECT_GT(t.leakage_at_nominal(c), 0.0);
    EXPECT_DOUBLE_EQ(t.leakage_power(c, 1.1), t.leakage_at_nominal(c));
    // (0.74 - 1.1) / 0.18 = -2
    EXPECT_NEAR(t.leakage_power(c, 0.74), t.leakage_at_nominal(c) * (0.74 / 1.1) * std::exp(-2.0),
                t.leakage_at_nominal(c) * 1e-12);
  }
  EXPECT_DOUBLE_EQ(t.leakage_at_nominal(Component::sram(4096)), 4 * 0.5e-6);
  EXPECT_THROW(t.energy_of(Action::add(8), 0.0), std::invalid_argument);
  EXPECT_THROW(t.leakage_power(Component::pe(), -1.0), std::invalid_argument);
}

TEST(Technology, MultiplierAndAdderWidths) {
  const Technology t = minimal();
  EXPECT_DOUBLE_EQ(t.energy_at_nominal(Action::multiply_exact(8)), 0.64e-12);
  EXPECT_DOUBLE_EQ(t.energy_at_nominal(Action::multiply_exact(16)), 4 * 0.64e-12);  // ~ width^2
  EXPECT_DOUBLE_EQ(t.energy_at_nominal(Action::add(8)), 0.08e-12);                  // ~ width
  // DRUM-k: exact k x k core + overhead per operand bit.
  EXPECT_DOUBLE_EQ(t.energy_at_nominal(Action::multiply_drum(16, 4)), 0.64e-12 / 4 + 16 * 10e-15);
  EXPECT_DOUBLE_EQ(t.energy_at_nominal(Action::multiply_drum(16, 16)), t.energy_at_nominal(Action::multiply_exact(16)));
  double prev = 0;
  for (int k = 2; k < 16; ++k) {
    const double e = t.energy_at_nominal(Action::multiply_drum(16, k));
    EXPECT_GT(e, prev) << k;
    EXPECT_LT(e, t.energy_at_nominal(Action::multiply_exact(16))) << k;
    prev = e;
  }
  EXPECT_THROW(t.energy_at_nominal(Action::multiply_drum(16, -1)), std::invalid_argument);
  EXPECT_THROW(t.energy_at_nominal(Action::add(0)), std::invalid_argument);
  EXPECT_EQ(t.energy_at_nominal(Action::adc_conversion(8)), 0.0);  // no crossbar section: no ADC energy
  EXPECT_DOUBLE_EQ(t.energy_at_nominal(Action::sram_write(1024, 32)), 32 * 0.2e-12);
  EXPECT_DOUBLE_EQ(t.energy_at_nominal(Action::register_access(16)), 16 * 5e-15);
  // Built-in bit-error table when the file has none; nominal comes from the file for `default`.
  EXPECT_EQ(t.bit_error_curve(MemoryDomain::weight_sram).p_at(0.85), 0.001);
}

TEST(Technology, PerDomainBitErrorCurves) {
  const Technology t =
      minimal("register_access_per_bit: 5fJ\n",
              "register_access_per_bit: 5fJ\n"
              "bit_error:\n"
              "  default: {impl: exponential}\n"
              "  weight_sram: {impl: table, points: [{voltage: 0.5V, p: 0.1}, {voltage: 0.8V, p: 0.001}]}\n");
  EXPECT_EQ(t.bit_error_curve(MemoryDomain::weight_sram).p_at(0.8), 0.001);
  EXPECT_EQ(t.bit_error_curve(MemoryDomain::weight_sram).nominal_voltage(), 1.0);
  EXPECT_NEAR(t.bit_error_curve(MemoryDomain::neuron_sram).p_at(0.5), std::exp(-12.8 * 0.25), 1e-15);
  EXPECT_EQ(&t.bit_error_curve(MemoryDomain::neuron_sram), &t.bit_error_curve(MemoryDomain::local_sram));
}

TEST(Technology, ErrorsNameFileKeyAndFix) {
  std::string msg = input_error_of([] { minimal("nominal_voltage:", "nominal_votlage:"); });
  EXPECT_NE(msg.find("tech.yaml:line 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'nominal_voltage'"), std::string::npos) << msg;

  msg = input_error_of([] { minimal("read_per_bit: 0.4pJ", "read_per_bit: 0.4pW"); });
  EXPECT_NE(msg.find("sram[1].read_per_bit"), std::string::npos) << msg;
  EXPECT_NE(msg.find("energy like"), std::string::npos) << msg;

  msg = input_error_of([] { minimal("max_capacity: 16KiB", "max_capacity: 16"); });
  EXPECT_NE(msg.find("unit is required"), std::string::npos) << msg;

  msg = input_error_of([] { minimal("max_capacity: 16KiB", "max_capacity: 512B"); });
  EXPECT_NE(msg.find("small to large"), std::string::npos) << msg;

  msg = input_error_of([] { minimal("version: 1", "version: 2"); });
  EXPECT_NE(msg.find("version: 1"), std::string::npos) << msg;

  msg = input_error_of([] { minimal("crossbar_tile: 1nW", "crosbar_tile: 1nW"); });
  EXPECT_NE(msg.find("did you mean 'crossbar_tile'"), std::string::npos) << msg;

  msg = input_error_of([] { minimal("drum_overhead_per_bit: 10fJ", "drum_overhead_per_bit: -10fJ"); });
  EXPECT_NE(msg.find("multiply.drum_overhead_per_bit"), std::string::npos) << msg;

  msg = input_error_of([] { minimal("leakage: {pe: 3uW, ", "leakage: {"); });
  EXPECT_NE(msg.find("'pe'"), std::string::npos) << msg;

  msg = input_error_of([] {
    minimal(
        "register_access_per_bit: 5fJ\n",
        "register_access_per_bit: 5fJ\nbit_error: {weight_sram: {impl: table, points: [{voltage: 0.5V, p: 0.1}]}}\n");
  });
  EXPECT_NE(msg.find("bit_error.weight_sram.points"), std::string::npos) << msg;

  msg = input_error_of([] { minimal().sram_class_for(17 * 1024); });
  EXPECT_NE(msg.find("tech.yaml"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'big'"), std::string::npos) << msg;
}
