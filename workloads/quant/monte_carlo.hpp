// Monte Carlo evaluation under random faults (DESIGN.md section 6): repeat the test set with fresh
// faults (trial t = a new chip instance / fresh fault draws) until the confidence interval of the mean
// accuracy is narrow enough, or a trial budget is spent.
//
// After n trials with accuracies x_1..x_n: mean, sample standard deviation s (n - 1 in the
// denominator) and the half-width of the two-sided Student-t interval
//   h = t_{(1 + confidence) / 2, n - 1} * s / sqrt(n).
// Stops at the first n >= max(min_trials, 2) with h <= ci_half_width, or at n = max_trials.
// A fault-free configuration is deterministic: every trial gives the same accuracy, so exactly one
// trial is run and the result says so (deterministic = true, half_width = 0).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "workloads/quant/executor.hpp"
#include "workloads/quant/float_eval.hpp"

namespace axsim::quant {

struct McResult;

struct McOptions {
  int min_trials = 2;
  int max_trials = 100;
  double ci_half_width = 0.001;  // target half-width as a fraction of accuracy (0.001 = 0.1 percentage points)
  double confidence = 0.95;
  std::uint64_t first_trial = 0;  // trial indices first_trial, first_trial + 1, ... (seed the fault streams)
  bool fault_free = false;        // generic overload only: the caller knows there is no fault source
  // Called after every trial with the running result (progress reporting); may be empty.
  std::function<void(const McResult&)> on_trial;
};

struct McResult {
  double mean = 0.0;
  double std = 0.0;         // sample standard deviation of the per-trial accuracies
  double half_width = 0.0;  // of the confidence interval; +infinity after a single random trial
  double confidence = 0.95;
  int trials = 0;
  std::vector<double> accuracies;  // per trial, in order
  bool deterministic = false;      // fault-free: one trial is exact
  bool converged = false;          // half_width <= the target (always true when deterministic)
  std::string stop_reason;         // human-readable: why the run stopped
};

// Student-t distribution with df > 0 degrees of freedom: CDF and quantile (inverse CDF, p in (0, 1)).
double student_t_cdf(double t, double df);
double student_t_quantile(double p, double df);

// Validates the options (InputError naming the field) and runs eval_one_trial(trial) -> accuracy in [0, 1].
McResult monte_carlo(const std::function<double(std::uint64_t trial)>& eval_one_trial, const McOptions& options);

// Convenience: the whole set per trial; fault_free is taken from the evaluator (has_fault_source()).
McResult monte_carlo(QuantizedExecutor& executor, const float* features, const std::int32_t* labels, std::size_t n,
                     McOptions options);
McResult monte_carlo(FloatEvaluator& evaluator, const float* features, const std::int32_t* labels, std::size_t n,
                     McOptions options);

}  // namespace axsim::quant
