// Supply voltage -> SRAM bit-error rate, and back (DESIGN section 3, "Voltage -> bit-error rate").
//
// Every memory domain (weight SRAM, neuron SRAM, PE local stores) has one BitErrorCurve. The simulator
// asks "what is p at the voltage in force?" (p_at); the trainer learns a per-layer p (LaNMax) and asks
// "which voltage gives that p?" (voltage_for). Both directions come from the same object, so a learned
// p and the simulated voltage can never disagree.
//
// Two implementations, chosen by `impl:` in YAML:
//   table        measured points (V, p); log10(p) is piecewise linear in V (SRAM failure rates fall
//                exponentially with supply voltage, so the points lie close to a line on a log scale).
//                Default points: near-threshold 65 nm SRAM from AxTrain (He 2018) citing Dreslinski
//                2010: 10 % @ 0.40 V, 1 % @ 0.66 V, 0.1 % @ 0.85 V; reliable (nominal) at 1.1 V.
//   exponential  the abstract model of Hacene 2019 / LaNMax (Henwood 2020): p = exp(-a * eta),
//                eta = energy normalized to the reliable memory, a = 12.8 (fitted by Hacene to 65 nm
//                SRAM energy and reliability at 0.5 V and 1.1 V). To give eta a voltage we use the
//                dynamic-energy scaling of DESIGN section 5: eta = (V / V_nom)^exponent (exponent 2,
//                i.e. E ~ C V^2). With a = 12.8 this gives p(0.5 V) = 7 %, in line with the table.
//
// Conventions shared by both:
//   * p = 0 at and above the nominal voltage: the reliable memory (LaNMax's eta(0) = 1). Just below
//     nominal the model gives a small p > 0 (table: the last segment's slope extrapolated to V_nom,
//     1.1 V -> ~4.8e-5 with the default points; exponential: exp(-a) = 2.8e-6). That step is
//     deliberate: the models describe the near-threshold regime, and at nominal voltage the memory is
//     designed (margins, redundancy) to be fault free. Report voltages in that gap as such.
//   * p is clamped to at most 0.5: a bit that reads wrong more often than not carries no information
//     and a fault channel with p > 0.5 would mean something else. clamp_voltage() is where the clamp
//     starts; lowering the voltage further changes nothing.
//   * voltage_for(p) = the lowest voltage in [clamp_voltage(), nominal_voltage()] at which
//     p_at(V) <= p. So voltage_for(0) = nominal, voltage_for(p >= 0.5) = clamp_voltage(), and for p in
//     the gap below p_at(nominal^-) it is the nominal voltage. Inside (p_at(nominal^-), 0.5) it is the
//     exact inverse: p_at(voltage_for(p)) == p.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"

namespace axsim {

// Hacene 2019's fit for 65 nm SRAM: p(eta) = exp(-a eta).
inline constexpr double kDefaultReliabilityExponent = 12.8;

// Abstract energy-reliability model (Hacene 2019 eq. 1; LaNMax eq. 1). The single implementation of
// p <-> eta; energy/eta.hpp builds the memory-energy metric on it.
//   eta_for_p(p) = -ln(p) / a for p > 0, eta_for_p(0) = 1 (the reliable memory), clamped to [0, 1].
//   p_for_eta(eta) = exp(-a * eta), eta clamped to [0, 1] first. (p_for_eta(1) = exp(-a) is the pure
//   formula; the voltage curve treats eta = 1, i.e. V >= V_nom, as p = 0, see above.)
// Throws std::invalid_argument for p < 0, a <= 0 or NaN arguments.
double eta_for_p(double p, double a = kDefaultReliabilityExponent);
double p_for_eta(double eta, double a = kDefaultReliabilityExponent);

class BitErrorCurve {
 public:
  virtual ~BitErrorCurve() = default;

  // Probability that one stored bit is read wrong at supply voltage `volts` (V). In [0, 0.5];
  // non-increasing in volts; exactly 0 at and above nominal_voltage(); 0.5 at and below clamp_voltage().
  virtual double p_at(double volts) const = 0;

  // The lowest voltage in [clamp_voltage(), nominal_voltage()] whose bit-error rate is at most p.
  // p = 0 -> nominal_voltage(); p >= 0.5 -> clamp_voltage(). Throws std::invalid_argument if p < 0 or NaN.
  virtual double voltage_for(double p) const = 0;

  virtual double nominal_voltage() const = 0;  // V; reliable at and above
  virtual double clamp_voltage() const = 0;    // V; p reaches 0.5 here
  virtual std::string describe() const = 0;    // one line for reports and logs
};

// A point of a measured curve: bit-error probability p at supply voltage `volts`.
struct BitErrorPoint {
  double volts;
  double p;
};

class TableBitErrorCurve final : public BitErrorCurve {
 public:
  // Requirements (std::invalid_argument otherwise): at least 2 points, voltages strictly increasing,
  // p strictly decreasing with 0 < p <= 0.5, nominal above the last point's voltage.
  TableBitErrorCurve(std::vector<BitErrorPoint> points, double nominal_volts);

  double p_at(double volts) const override;
  double voltage_for(double p) const override;
  double nominal_voltage() const override { return nominal_; }
  double clamp_voltage() const override { return clamp_volts_; }
  std::string describe() const override;
  const std::vector<BitErrorPoint>& points() const { return points_; }

  // Why a table is invalid, or nullopt if it is valid. `point` is the index of the offending point
  // (-1: the whole table or the nominal voltage). Shared by the constructor and the YAML loader so
  // both reject exactly the same tables.
  struct Problem {
    int point;
    std::string expected;
    std::string found;
  };
  static std::optional<Problem> check(const std::vector<BitErrorPoint>& points, double nominal_volts);

 private:
  double log10_p_at(double volts) const;  // unclamped piecewise-linear model
  std::vector<BitErrorPoint> points_;
  std::vector<double> log10_p_;
  std::vector<double> slope_;  // d log10(p) / dV of segment i (between points i and i+1); all < 0
  double nominal_;
  double clamp_volts_;
};

class ExponentialBitErrorCurve final : public BitErrorCurve {
 public:
  // p(V) = exp(-a * (V / nominal)^exponent) below nominal. Requires a > 0, exponent > 0, nominal > 0.
  ExponentialBitErrorCurve(double a, double nominal_volts, double exponent = 2.0);

  double p_at(double volts) const override;
  double voltage_for(double p) const override;
  double nominal_voltage() const override { return nominal_; }
  double clamp_voltage() const override { return clamp_volts_; }
  std::string describe() const override;

  double a() const { return a_; }
  double exponent() const { return exponent_; }
  // Normalized energy at a voltage, (V / V_nom)^exponent clamped to [0, 1], and its inverse.
  double eta_at(double volts) const;
  double voltage_for_eta(double eta) const;

 private:
  double a_;
  double nominal_;
  double exponent_;
  double clamp_volts_;
};

// The default near-threshold 65 nm SRAM table (see top of file).
std::unique_ptr<BitErrorCurve> default_bit_error_curve();

// Load a curve from YAML (strict keys):
//   impl: table                          impl: exponential
//   nominal: 1.1V                        nominal: 1.1V
//   points:                              a: 12.8
//     - {voltage: 0.40V, p: 10%}         exponent: 2
//     - {voltage: 0.66V, p: 0.01}
// `nominal` may be omitted when the caller supplies default_nominal (a technology file's nominal
// voltage); `a` defaults to 12.8 and `exponent` to 2. Errors name the file, line and key.
std::unique_ptr<BitErrorCurve> load_bit_error_curve(const ConfigNode& node,
                                                    std::optional<double> default_nominal = std::nullopt);

}  // namespace axsim
