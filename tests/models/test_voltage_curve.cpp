#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

#include "core/config.hpp"
#include "core/error.hpp"
#include "models/voltage_curve.hpp"

using namespace axsim;

namespace {

std::string input_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

std::unique_ptr<BitErrorCurve> curve_from(const std::string& yaml, const std::string& name = "curve.yaml") {
  return load_bit_error_curve(ConfigNode::parse(yaml, name));
}

const char* kDefaultTableYaml =
    "impl: table\nnominal: 1.1V\npoints:\n"
    "  - {voltage: 0.40V, p: 10%}\n  - {voltage: 0.66V, p: 0.01}\n  - {voltage: 850mV, p: 0.1%}\n";

}  // namespace

TEST(BitErrorTable, HitsItsPointsExactly) {
  for (const auto& curve : {default_bit_error_curve(), curve_from(kDefaultTableYaml)}) {
    EXPECT_EQ(curve->p_at(0.40), 0.10);
    EXPECT_EQ(curve->p_at(0.66), 0.01);
    EXPECT_EQ(curve->p_at(0.85), 0.001);
    EXPECT_EQ(curve->voltage_for(0.10), 0.40);
    EXPECT_EQ(curve->voltage_for(0.01), 0.66);
    EXPECT_EQ(curve->voltage_for(0.001), 0.85);
    EXPECT_EQ(curve->nominal_voltage(), 1.1);
  }
}

TEST(BitErrorTable, InterpolatesLog10LinearlyInVoltage) {
  auto curve = default_bit_error_curve();
  // Halfway between 0.40 V (1e-1) and 0.66 V (1e-2) in voltage is halfway in log10(p).
  EXPECT_NEAR(curve->p_at(0.53), std::pow(10.0, -1.5), 1e-15);
  EXPECT_NEAR(curve->p_at(0.66 + 0.19 * 0.25), std::pow(10.0, -2.25), 1e-15);
}

TEST(BitErrorTable, ExtrapolatesWithEndSlopes) {
  auto curve = default_bit_error_curve();
  const double low_slope = -1.0 / 0.26;   // decades per volt, first segment
  const double high_slope = -1.0 / 0.19;  // last segment
  EXPECT_NEAR(curve->p_at(0.30), 0.1 * std::pow(10.0, -0.10 * low_slope), 1e-12);
  EXPECT_NEAR(curve->p_at(0.95), 0.001 * std::pow(10.0, 0.10 * high_slope), 1e-15);
  // Just below nominal the last segment extended gives a small but nonzero rate; at nominal it is 0.
  const double below_nominal = 0.001 * std::pow(10.0, 0.25 * high_slope);
  EXPECT_NEAR(curve->p_at(std::nextafter(1.1, 0.0)), below_nominal, 1e-12);
  EXPECT_GT(curve->p_at(1.0999), 4e-5);
  EXPECT_EQ(curve->p_at(1.1), 0.0);
  EXPECT_EQ(curve->p_at(1.3), 0.0);
}

TEST(BitErrorTable, ClampsAtOneHalf) {
  auto curve = default_bit_error_curve();
  const double expected_clamp = 0.40 - std::log10(0.5 / 0.1) * 0.26;  // first segment reaches p = 0.5
  EXPECT_NEAR(curve->clamp_voltage(), expected_clamp, 1e-12);
  EXPECT_NEAR(curve->p_at(expected_clamp + 1e-9), 0.5, 1e-6);
  EXPECT_EQ(curve->p_at(expected_clamp - 1e-3), 0.5);
  EXPECT_EQ(curve->p_at(0.0), 0.5);
  EXPECT_EQ(curve->p_at(-1.0), 0.5);
  EXPECT_EQ(curve->voltage_for(0.5), curve->clamp_voltage());
  EXPECT_EQ(curve->voltage_for(0.9), curve->clamp_voltage());
}

TEST(BitErrorCurves, AreMonotoneInVoltage) {
  for (const auto& curve : {default_bit_error_curve(), curve_from("impl: exponential\nnominal: 1.1V\n")}) {
    double prev = 1.0;
    for (int k = 0; k <= 1300; ++k) {
      const double v = k * 0.001;
      const double p = curve->p_at(v);
      EXPECT_GE(p, 0.0);
      EXPECT_LE(p, 0.5);
      EXPECT_LE(p, prev) << curve->describe() << " at " << v;
      if (v > curve->clamp_voltage() + 0.001 && v < curve->nominal_voltage()) {
        EXPECT_LT(p, prev) << v;
      }
      prev = p;
    }
  }
}

TEST(BitErrorCurves, VoltageForInvertsPAt) {
  for (const auto& curve :
       {default_bit_error_curve(), curve_from("impl: exponential\nnominal: 0.9V\na: 10\nexponent: 1.5\n")}) {
    const double lo = curve->clamp_voltage(), hi = curve->nominal_voltage();
    for (int k = 1; k < 1000; ++k) {
      const double v = lo + (hi - lo) * k / 1000.0;
      EXPECT_NEAR(curve->voltage_for(curve->p_at(v)), v, 1e-9) << curve->describe();
    }
    EXPECT_EQ(curve->voltage_for(0.0), hi);
    EXPECT_EQ(curve->voltage_for(1e-12), hi);  // only the reliable nominal voltage is that good
    EXPECT_THROW(curve->voltage_for(-0.1), std::invalid_argument);
    // And the other way round for rates the model reaches below nominal.
    const double p_top = curve->p_at(std::nextafter(hi, 0.0));
    for (double p = 0.49; p > p_top * 1.01; p *= 0.7) EXPECT_NEAR(curve->p_at(curve->voltage_for(p)), p, p * 1e-9);
  }
}

TEST(BitErrorTable, RejectsBadTablesNamingFileAndKey) {
  std::string msg = input_error_of([] {
    curve_from("impl: table\nnominal: 1.1V\npoints:\n  - {voltage: 0.66V, p: 0.01}\n  - {voltage: 0.40V, p: 0.001}\n",
               "bad.yaml");
  });
  EXPECT_NE(msg.find("bad.yaml:line 5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("points[1]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("increasing"), std::string::npos) << msg;

  msg = input_error_of([] {
    curve_from("impl: table\npoints:\n  - {voltage: 0.4V, p: 0.01}\n  - {voltage: 0.6V, p: 0.02}\nnominal: 1V\n");
  });
  EXPECT_NE(msg.find("points[1]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("decreasing"), std::string::npos) << msg;

  msg = input_error_of([] {
    curve_from("impl: table\nnominal: 1V\npoints:\n  - {voltage: 0.4V, p: 0.7}\n  - {voltage: 0.6V, p: 0.02}\n");
  });
  EXPECT_NE(msg.find("points[0]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("0 < p <= 0.5"), std::string::npos) << msg;

  msg = input_error_of([] {
    curve_from("impl: table\nnominal: 1V\npoints:\n  - {voltage: 0.4V, p: 0}\n  - {voltage: 0.6V, p: 0.02}\n");
  });
  EXPECT_NE(msg.find("0 < p <= 0.5"), std::string::npos) << msg;

  msg = input_error_of([] { curve_from("impl: table\nnominal: 1V\npoints:\n  - {voltage: 0.4V, p: 0.1}\n"); });
  EXPECT_NE(msg.find("at least 2 points"), std::string::npos) << msg;
  EXPECT_NE(msg.find("key points"), std::string::npos) << msg;

  msg = input_error_of([] {
    curve_from("impl: table\nnominal: 0.5V\npoints:\n  - {voltage: 0.4V, p: 0.1}\n  - {voltage: 0.6V, p: 0.02}\n");
  });
  EXPECT_NE(msg.find("key nominal"), std::string::npos) << msg;
  EXPECT_NE(msg.find("above the last point"), std::string::npos) << msg;

  msg = input_error_of([] { curve_from("impl: table\nnominal: 1V\npoints:\n  - {voltge: 0.4V, p: 0.1}\n"); });
  EXPECT_NE(msg.find("did you mean 'voltage'"), std::string::npos) << msg;

  msg = input_error_of([] { curve_from("impl: table\nnominal: 1V\npoints:\n  - {voltage: 0.4A, p: 0.1}\n"); });
  EXPECT_NE(msg.find("points[0].voltage"), std::string::npos) << msg;
  EXPECT_NE(msg.find("voltage like"), std::string::npos) << msg;

  msg = input_error_of([] { curve_from("impl: tabel\n"); });
  EXPECT_NE(msg.find("did you mean 'table'"), std::string::npos) << msg;

  msg = input_error_of([] { curve_from("impl: exponential\nnominal: 1V\nslope: 3\n"); });
  EXPECT_NE(msg.find("unknown key 'slope'"), std::string::npos) << msg;

  // Nominal is required unless the caller (a technology file) supplies one.
  msg = input_error_of([] { curve_from("impl: exponential\n"); });
  EXPECT_NE(msg.find("nominal"), std::string::npos) << msg;
  auto with_default = load_bit_error_curve(ConfigNode::parse("impl: exponential\n", "t.yaml"), 0.9);
  EXPECT_EQ(with_default->nominal_voltage(), 0.9);
}

TEST(BitErrorTable, ConstructorRejectsBadTables) {
  EXPECT_THROW(TableBitErrorCurve({{0.4, 0.1}}, 1.1), std::invalid_argument);
  EXPECT_THROW(TableBitErrorCurve({{0.4, 0.1}, {0.4, 0.01}}, 1.1), std::invalid_argument);
  EXPECT_THROW(TableBitErrorCurve({{0.4, 0.1}, {0.6, 0.1}}, 1.1), std::invalid_argument);
  EXPECT_THROW(TableBitErrorCurve({{0.4, 0.1}, {0.6, 0.01}}, 0.6), std::invalid_argument);
  EXPECT_NO_THROW(TableBitErrorCurve({{0.4, 0.5}, {0.6, 0.01}}, 0.7));
  EXPECT_EQ(TableBitErrorCurve({{0.4, 0.5}, {0.6, 0.01}}, 0.7).clamp_voltage(), 0.4);
}

TEST(ExponentialModel, EtaAndPRoundTrip) {
  EXPECT_DOUBLE_EQ(eta_for_p(std::exp(-12.8 * 0.5)), 0.5);
  EXPECT_EQ(eta_for_p(0.0), 1.0);
  EXPECT_EQ(eta_for_p(1.0), 0.0);
  EXPECT_EQ(eta_for_p(1e-9), 1.0);  // -ln(1e-9)/12.8 = 1.6, clamped
  EXPECT_DOUBLE_EQ(p_for_eta(0.25), std::exp(-3.2));
  EXPECT_EQ(p_for_eta(-1.0), 1.0);
  EXPECT_THROW(eta_for_p(-0.01), std::invalid_argument);
  for (double eta = 0.0; eta <= 1.0; eta += 0.01) EXPECT_NEAR(eta_for_p(p_for_eta(eta)), eta, 1e-12);
  for (double p = 0.9; p > std::exp(-12.8); p *= 0.5) EXPECT_NEAR(p_for_eta(eta_for_p(p)), p, p * 1e-12);
}

TEST(ExponentialModel, VoltageMappingIsDynamicEnergyScaling) {
  auto curve = curve_from("impl: exponential\nnominal: 1.1V\n");
  auto* exp_curve = dynamic_cast<ExponentialBitErrorCurve*>(curve.get());
  ASSERT_NE(exp_curve, nullptr);
  EXPECT_EQ(exp_curve->a(), 12.8);
  EXPECT_EQ(exp_curve->exponent(), 2.0);
  // eta = (V/Vnom)^2; Hacene's fit points: 0.5 V and 1.1 V.
  EXPECT_NEAR(curve->p_at(0.5), std::exp(-12.8 * std::pow(0.5 / 1.1, 2)), 1e-15);
  EXPECT_NEAR(exp_curve->eta_at(0.55), 0.25, 1e-15);
  EXPECT_NEAR(exp_curve->voltage_for_eta(0.25), 0.55, 1e-15);
  EXPECT_NEAR(curve->clamp_voltage(), 1.1 * std::sqrt(std::log(2.0) / 12.8), 1e-12);
  EXPECT_NEAR(curve->voltage_for(std::exp(-12.8 * 0.36)), 1.1 * 0.6, 1e-12);
  EXPECT_EQ(curve->p_at(1.1), 0.0);
  EXPECT_NEAR(curve->p_at(std::nextafter(1.1, 0.0)), std::exp(-12.8), 1e-15);
  EXPECT_NE(curve->describe().find("exponential"), std::string::npos);
}
