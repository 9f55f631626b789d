#include "workloads/quant/monte_carlo.hpp"

#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>

#include "core/error.hpp"

namespace axsim::quant {

namespace {

// Continued fraction of the regularized incomplete beta function I_x(a, b) (modified Lentz method),
// converging fast for x < (a + 1) / (a + b + 2).
double beta_continued_fraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300, kEpsilon = 1e-16;
  double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1.0 / d;
  double f = d;
  for (int m = 1; m <= 1000; ++m) {
    // Even step: d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m)).
    double coefficient = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
    d = 1.0 + coefficient * d;
    c = 1.0 + coefficient / c;
    if (std::fabs(d) < kTiny) d = kTiny;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    f *= c * d;
    // Odd step: d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)).
    coefficient = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
    d = 1.0 + coefficient * d;
    c = 1.0 + coefficient / c;
    if (std::fabs(d) < kTiny) d = kTiny;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    const double step = c * d;
    f *= step;
    if (std::fabs(step - 1.0) < kEpsilon) break;
  }
  return f;
}

double incomplete_beta(double a, double b, double x) {
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  const double log_front = std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  const double front = std::exp(log_front);
  if (x < (a + 1.0) / (a + b + 2.0)) return front * beta_continued_fraction(a, b, x) / a;
  return 1.0 - front * beta_continued_fraction(b, a, 1.0 - x) / b;  // symmetry I_x(a,b) = 1 - I_{1-x}(b,a)
}

void check_options(const McOptions& o) {
  const std::string file = "<monte carlo options>";
  if (o.min_trials < 1) throw_input_error(file, "min_trials", "at least 1", std::to_string(o.min_trials));
  if (o.max_trials < o.min_trials)
    throw_input_error(file, "max_trials", "at least min_trials (" + std::to_string(o.min_trials) + ")",
                      std::to_string(o.max_trials));
  if (!(o.ci_half_width >= 0.0))
    throw_input_error(file, "ci_half_width", "a half-width >= 0 (e.g. 0.001 = 0.1 percentage points)",
                      std::to_string(o.ci_half_width));
  if (!(o.confidence > 0.0 && o.confidence < 1.0))
    throw_input_error(file, "confidence", "a confidence level in (0, 1) (e.g. 0.95)", std::to_string(o.confidence));
}

std::string percent(double fraction) {
  char text[64];
  std::snprintf(text, sizeof text, "%.4g pp", fraction * 100.0);
  return text;
}

}  // namespace

double student_t_cdf(double t, double df) {
  if (!(df > 0.0)) throw std::invalid_argument("student_t_cdf: df must be > 0, got " + std::to_string(df));
  if (std::isnan(t)) return t;
  if (std::isinf(t)) return t > 0 ? 1.0 : 0.0;
  // P(|T| > |t|) = I_{df / (df + t^2)}(df / 2, 1 / 2).
  const double tail = 0.5 * incomplete_beta(0.5 * df, 0.5, df / (df + t * t));
  return t >= 0.0 ? 1.0 - tail : tail;
}

double student_t_quantile(double p, double df) {
  if (!(df > 0.0)) throw std::invalid_argument("student_t_quantile: df must be > 0, got " + std::to_string(df));
  if (!(p > 0.0 && p < 1.0))
    throw std::invalid_argument("student_t_quantile: p must be in (0, 1), got " + std::to_string(p));
  if (p < 0.5) return -student_t_quantile(1.0 - p, df);
  if (p == 0.5) return 0.0;
  constexpr double kPi = 3.14159265358979323846;
  if (df == 1.0) return std::tan(kPi * (p - 0.5));                         // Cauchy
  if (df == 2.0) return (2.0 * p - 1.0) / std::sqrt(2.0 * p * (1.0 - p));  // closed form
  // Bracket, then bisect the monotone CDF to full double precision (60 halvings of the bracket, cheap).
  double lo = 0.0, hi = 1.0;
  while (student_t_cdf(hi, df) < p) {
    lo = hi;
    hi *= 2.0;
  }
  for (int i = 0; i < 200 && hi - lo > 1e-15 * hi; ++i) {
    const double mid = 0.5 * (lo + hi);
    (student_t_cdf(mid, df) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

McResult monte_carlo(const std::function<double(std::uint64_t trial)>& eval_one_trial, const McOptions& options) {
  check_options(options);
  McResult r;
  r.confidence = options.confidence;
  double sum = 0.0;
  for (int n = 1; n <= options.max_trials; ++n) {
    const double accuracy = eval_one_trial(options.first_trial + std::uint64_t(n - 1));
    r.accuracies.push_back(accuracy);
    r.trials = n;
    sum += accuracy;
    r.mean = sum / n;
    if (options.fault_free) {
      r.deterministic = true;
      r.converged = true;
      r.std = 0.0;
      r.half_width = 0.0;
      r.stop_reason = "fault-free configuration: deterministic, 1 trial is exact";
      if (options.on_trial) options.on_trial(r);
      return r;
    }
    double squares = 0.0;
    for (double a : r.accuracies) squares += (a - r.mean) * (a - r.mean);
    r.std = n > 1 ? std::sqrt(squares / (n - 1)) : 0.0;
    r.half_width = n > 1 ? student_t_quantile(0.5 * (1.0 + options.confidence), n - 1) * r.std / std::sqrt(double(n))
                         : std::numeric_limits<double>::infinity();
    r.converged = r.half_width <= options.ci_half_width;
    if (options.on_trial) options.on_trial(r);
    if (n >= std::max(options.min_trials, 2) && r.converged) {
      r.stop_reason = "confidence interval half-width " + percent(r.half_width) + " <= target " +
                      percent(options.ci_half_width) + " after " + std::to_string(n) + " trials";
      return r;
    }
  }
  r.stop_reason = "trial budget of " + std::to_string(options.max_trials) + " spent; half-width " +
                  percent(r.half_width) + (r.converged ? " <= " : " > ") + "target " + percent(options.ci_half_width);
  return r;
}

McResult monte_carlo(QuantizedExecutor& executor, const float* features, const std::int32_t* labels, std::size_t n,
                     McOptions options) {
  options.fault_free = !executor.has_fault_source();
  // Quantized once, and the first layer's fault-free sums computed once: a trial adds only its faults.
  const std::vector<std::uint8_t> codes = executor.quantize_inputs(features, n);
  const auto set = executor.prepare_set(codes.data(), n);
  return monte_carlo([&](std::uint64_t trial) { return executor.evaluate_prepared(*set, labels, trial).accuracy(); },
                     options);
}

McResult monte_carlo(FloatEvaluator& evaluator, const float* features, const std::int32_t* labels, std::size_t n,
                     McOptions options) {
  options.fault_free = !evaluator.has_fault_source();
  return monte_carlo([&](std::uint64_t trial) { return evaluator.evaluate(features, labels, n, trial).accuracy(); },
                     options);
}

}  // namespace axsim::quant
