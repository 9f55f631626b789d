#include "models/voltage_curve.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "core/units.hpp"

namespace axsim {

namespace {

constexpr double kMaxP = 0.5;

void require_probability(double p, const char* what) {
  if (std::isnan(p) || p < 0.0)
    throw std::invalid_argument(std::string(what) + ": p must be >= 0, got " + std::to_string(p));
}

std::string percent(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g%%", p * 100.0);
  return buf;
}

}  // namespace

double eta_for_p(double p, double a) {
  require_probability(p, "eta_for_p");
  if (!(a > 0.0)) throw std::invalid_argument("eta_for_p: a must be > 0");
  if (p == 0.0) return 1.0;  // LaNMax: the reliable memory (p = 0) costs the full energy
  return std::clamp(-std::log(p) / a, 0.0, 1.0);
}

double p_for_eta(double eta, double a) {
  if (std::isnan(eta)) throw std::invalid_argument("p_for_eta: eta is NaN");
  if (!(a > 0.0)) throw std::invalid_argument("p_for_eta: a must be > 0");
  return std::exp(-a * std::clamp(eta, 0.0, 1.0));
}

// ---------------------------------------------------------------------------------------------------
// Table

std::optional<TableBitErrorCurve::Problem> TableBitErrorCurve::check(const std::vector<BitErrorPoint>& points,
                                                                     double nominal_volts) {
  if (points.size() < 2)
    return Problem{-1, "at least 2 points (voltage, p)", std::to_string(points.size()) + " point(s)"};
  for (std::size_t i = 0; i < points.size(); ++i) {
    const auto& pt = points[i];
    const int idx = int(i);
    if (!std::isfinite(pt.volts) || pt.volts <= 0.0)
      return Problem{idx, "a positive voltage", format_quantity(pt.volts, Dim::volt)};
    if (!(pt.p > 0.0 && pt.p <= kMaxP))
      return Problem{idx, "a bit-error probability p with 0 < p <= 0.5", std::to_string(pt.p)};
    if (i > 0) {
      const auto& prev = points[i - 1];
      if (!(pt.volts > prev.volts))
        return Problem{idx, "voltages strictly increasing (above " + format_quantity(prev.volts, Dim::volt) + ")",
                       format_quantity(pt.volts, Dim::volt)};
      if (!(pt.p < prev.p))
        return Problem{idx, "p strictly decreasing as the voltage rises (below " + std::to_string(prev.p) + ")",
                       std::to_string(pt.p)};
    }
  }
  if (!std::isfinite(nominal_volts) || !(nominal_volts > points.back().volts))
    return Problem{
        -1, "a nominal (reliable) voltage above the last point " + format_quantity(points.back().volts, Dim::volt),
        format_quantity(nominal_volts, Dim::volt)};
  return std::nullopt;
}

TableBitErrorCurve::TableBitErrorCurve(std::vector<BitErrorPoint> points, double nominal_volts)
    : points_(std::move(points)), nominal_(nominal_volts) {
  if (auto problem = check(points_, nominal_)) {
    std::string where = problem->point >= 0 ? "point " + std::to_string(problem->point) : "table";
    throw std::invalid_argument("bit-error table, " + where + ": expected " + problem->expected + ", found " +
                                problem->found);
  }
  for (const auto& pt : points_) log10_p_.push_back(std::log10(pt.p));
  for (std::size_t i = 0; i + 1 < points_.size(); ++i)
    slope_.push_back((log10_p_[i + 1] - log10_p_[i]) / (points_[i + 1].volts - points_[i].volts));
  // Extend the first segment down to p = 0.5 (it may already start there).
  clamp_volts_ = points_[0].volts + (std::log10(kMaxP) - log10_p_[0]) / slope_[0];
}

double TableBitErrorCurve::log10_p_at(double volts) const {
  // Segment i runs from point i to point i+1; below the first point use segment 0 extended, above
  // the last point the last segment extended (the end slopes).
  std::size_t seg;
  if (volts <= points_.front().volts) {
    seg = 0;
  } else if (volts >= points_.back().volts) {
    seg = slope_.size() - 1;
  } else {
    auto it = std::upper_bound(points_.begin(), points_.end(), volts,
                               [](double v, const BitErrorPoint& pt) { return v < pt.volts; });
    seg = std::size_t(it - points_.begin()) - 1;
  }
  // Anchor at the nearer end of the segment so extrapolation above the last point starts from it.
  const std::size_t anchor = volts >= points_.back().volts ? seg + 1 : seg;
  return log10_p_[anchor] + (volts - points_[anchor].volts) * slope_[seg];
}

double TableBitErrorCurve::p_at(double volts) const {
  if (volts >= nominal_) return 0.0;
  if (volts <= clamp_volts_) return kMaxP;
  // Table points are returned exactly (no round trip through log10/pow).
  auto it = std::lower_bound(points_.begin(), points_.end(), volts,
                             [](const BitErrorPoint& pt, double v) { return pt.volts < v; });
  if (it != points_.end() && it->volts == volts) return it->p;
  return std::min(kMaxP, std::pow(10.0, log10_p_at(volts)));
}

double TableBitErrorCurve::voltage_for(double p) const {
  require_probability(p, "TableBitErrorCurve::voltage_for");
  if (p == 0.0) return nominal_;
  if (p >= kMaxP) return clamp_volts_;
  for (const auto& pt : points_)
    if (pt.p == p) return pt.volts;
  const double lp = std::log10(p);
  // Rates below what the model reaches just under nominal only exist at nominal (the reliable step).
  if (lp <= log10_p_at(nominal_)) return nominal_;
  std::size_t seg, anchor;
  if (lp >= log10_p_.front()) {
    seg = anchor = 0;
  } else if (lp <= log10_p_.back()) {
    seg = slope_.size() - 1;
    anchor = seg + 1;
  } else {
    seg = 0;
    while (!(lp >= log10_p_[seg + 1])) ++seg;  // log10_p_ is strictly decreasing
    anchor = seg;
  }
  const double v = points_[anchor].volts + (lp - log10_p_[anchor]) / slope_[seg];
  return std::clamp(v, clamp_volts_, nominal_);
}

std::string TableBitErrorCurve::describe() const {
  std::string s = "table:";
  for (std::size_t i = 0; i < points_.size(); ++i)
    s += (i ? ", " : " ") + percent(points_[i].p) + " @ " + format_quantity(points_[i].volts, Dim::volt);
  s += "; reliable at " + format_quantity(nominal_, Dim::volt) + "; p = 50% below " +
       format_quantity(clamp_volts_, Dim::volt);
  return s;
}

// ---------------------------------------------------------------------------------------------------
// Exponential

ExponentialBitErrorCurve::ExponentialBitErrorCurve(double a, double nominal_volts, double exponent)
    : a_(a), nominal_(nominal_volts), exponent_(exponent) {
  if (!(a > 0.0) || !std::isfinite(a)) throw std::invalid_argument("exponential bit-error curve: a must be > 0");
  if (!(nominal_volts > 0.0) || !std::isfinite(nominal_volts))
    throw std::invalid_argument("exponential bit-error curve: nominal voltage must be > 0");
  if (!(exponent > 0.0) || !std::isfinite(exponent))
    throw std::invalid_argument("exponential bit-error curve: exponent must be > 0");
  // exp(-a eta) = 0.5 at eta = ln 2 / a; if a <= ln 2 the clamp covers everything below nominal.
  clamp_volts_ = voltage_for_eta(std::min(1.0, std::log(2.0) / a_));
}

double ExponentialBitErrorCurve::eta_at(double volts) const {
  if (volts <= 0.0) return 0.0;
  return std::min(1.0, std::pow(volts / nominal_, exponent_));
}

double ExponentialBitErrorCurve::voltage_for_eta(double eta) const {
  return nominal_ * std::pow(std::clamp(eta, 0.0, 1.0), 1.0 / exponent_);
}

double ExponentialBitErrorCurve::p_at(double volts) const {
  if (volts >= nominal_) return 0.0;
  if (volts <= clamp_volts_) return kMaxP;
  return std::min(kMaxP, p_for_eta(eta_at(volts), a_));
}

double ExponentialBitErrorCurve::voltage_for(double p) const {
  require_probability(p, "ExponentialBitErrorCurve::voltage_for");
  if (p == 0.0) return nominal_;
  if (p >= kMaxP) return clamp_volts_;
  const double eta = -std::log(p) / a_;
  if (eta >= 1.0) return nominal_;  // below exp(-a): only the reliable nominal voltage is that good
  return std::clamp(voltage_for_eta(eta), clamp_volts_, nominal_);
}

std::string ExponentialBitErrorCurve::describe() const {
  char buf[160];
  std::snprintf(buf, sizeof buf, "exponential: p = exp(-%.4g * (V/%s)^%.3g); reliable at %s; p = 50%% below %s", a_,
                format_quantity(nominal_, Dim::volt).c_str(), exponent_, format_quantity(nominal_, Dim::volt).c_str(),
                format_quantity(clamp_volts_, Dim::volt).c_str());
  return buf;
}

// ---------------------------------------------------------------------------------------------------
// Defaults and YAML

std::unique_ptr<BitErrorCurve> default_bit_error_curve() {
  return std::make_unique<TableBitErrorCurve>(std::vector<BitErrorPoint>{{0.40, 0.10}, {0.66, 0.01}, {0.85, 0.001}},
                                              1.1);
}

std::unique_ptr<BitErrorCurve> load_bit_error_curve(const ConfigNode& node, std::optional<double> default_nominal) {
  node.expect_map();
  const std::string impl = node.choice("impl", {"table", "exponential"});
  const double nominal = node.quantity("nominal", Dim::volt, default_nominal);
  if (!(nominal > 0.0)) {
    auto at = node.maybe("nominal");
    (at ? *at : node).fail("a positive nominal voltage", format_quantity(nominal, Dim::volt));
  }

  if (impl == "exponential") {
    node.expect_keys({"impl", "nominal", "a", "exponent"});
    const double a = node.num("a", kDefaultReliabilityExponent);
    if (!(a > 0.0)) node.child("a").fail("a positive exponent a (12.8 for 65 nm SRAM)", std::to_string(a));
    const double exponent = node.num("exponent", 2.0);
    if (!(exponent > 0.0))
      node.child("exponent").fail("a positive voltage exponent (2: energy ~ V^2)", std::to_string(exponent));
    return std::make_unique<ExponentialBitErrorCurve>(a, nominal, exponent);
  }

  node.expect_keys({"impl", "nominal", "points"});
  const ConfigNode points_node = node.child("points");
  const std::vector<ConfigNode> items = points_node.items();
  std::vector<BitErrorPoint> points;
  for (const auto& item : items) {
    if (!item.is_map())
      item.fail("a point {voltage: <V>, p: <probability>}", item.is_sequence() ? "a list" : "'" + item.as_str() + "'");
    item.expect_keys({"voltage", "p"});
    points.push_back({item.quantity("voltage", Dim::volt), item.num("p")});
  }
  if (auto problem = TableBitErrorCurve::check(points, nominal)) {
    if (problem->point >= 0) items[std::size_t(problem->point)].fail(problem->expected, problem->found);
    if (points.size() < 2) points_node.fail(problem->expected, problem->found);
    auto at = node.maybe("nominal");
    (at ? *at : node).fail(problem->expected, problem->found);
  }
  return std::make_unique<TableBitErrorCurve>(std::move(points), nominal);
}

}  // namespace axsim
