#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "tests/workloads/quant/quant_test_util.hpp"
#include "workloads/quant/monte_carlo.hpp"

namespace axsim::quant {
namespace {

TEST(StudentT, QuantilesMatchTables) {
  struct Row {
    double p, df, t;
  };
  // Standard two-sided tables (e.g. NIST/SEMATECH e-Handbook, table of t critical values).
  const Row rows[] = {{0.975, 1, 12.7062047},  {0.975, 2, 4.30265273},  {0.975, 3, 3.18244631},
                      {0.975, 4, 2.77644511},  {0.975, 5, 2.57058184},  {0.975, 9, 2.26215716},
                      {0.975, 10, 2.22813885}, {0.975, 30, 2.04227246}, {0.975, 100, 1.98397152},
                      {0.95, 1, 6.31375151},   {0.95, 4, 2.13184679},   {0.995, 5, 4.03214298},
                      {0.995, 2, 9.92484320},  {0.9, 7, 1.41492393}};
  for (const Row& r : rows) {
    EXPECT_NEAR(student_t_quantile(r.p, r.df), r.t, 1e-6 * r.t) << "p " << r.p << " df " << r.df;
    EXPECT_NEAR(student_t_quantile(1 - r.p, r.df), -r.t, 1e-6 * r.t);
    EXPECT_NEAR(student_t_cdf(r.t, r.df), r.p, 1e-9);
  }
  EXPECT_EQ(student_t_cdf(0.0, 3), 0.5);
  EXPECT_NEAR(student_t_quantile(0.975, 1e6), 1.959966, 1e-5);  // -> normal
  EXPECT_THROW(student_t_quantile(1.0, 3), std::invalid_argument);
}

// Accuracies ~ N(0.9, sigma^2), a pure function of the trial index.
double noisy_accuracy(std::uint64_t trial, double sigma = 0.01) {
  CounterRng rng(5, trial);
  return 0.9 + sigma * rng.normal();
}

double half_width_of(const std::vector<double>& x, double confidence) {
  const double n = double(x.size());
  double mean = 0, ss = 0;
  for (double v : x) mean += v / n;
  for (double v : x) ss += (v - mean) * (v - mean);
  return student_t_quantile(0.5 + confidence / 2, n - 1) * std::sqrt(ss / (n - 1)) / std::sqrt(n);
}

TEST(MonteCarlo, StopsAtTheFirstTrialWhoseIntervalIsNarrowEnough) {
  McOptions o;
  o.ci_half_width = 0.003;
  o.max_trials = 1000;
  const McResult r = monte_carlo([](std::uint64_t t) { return noisy_accuracy(t); }, o);
  ASSERT_TRUE(r.converged);
  ASSERT_GE(r.trials, 3);
  EXPECT_EQ(int(r.accuracies.size()), r.trials);
  EXPECT_LE(r.half_width, 0.003);
  EXPECT_NEAR(r.half_width, half_width_of(r.accuracies, 0.95), 1e-12);
  // One trial fewer was not enough (stopping is not late).
  std::vector<double> fewer(r.accuracies.begin(), r.accuracies.end() - 1);
  if (fewer.size() >= 2) {
    EXPECT_GT(half_width_of(fewer, 0.95), 0.003);
  }
  EXPECT_NEAR(r.mean, 0.9, 0.003 * 2);
  EXPECT_FALSE(r.deterministic);
  EXPECT_FALSE(r.stop_reason.empty());
}

TEST(MonteCarlo, HonoursTheTrialBudgetAndMinimum) {
  McOptions o;
  o.ci_half_width = 0.0;  // unreachable with noisy trials
  o.max_trials = 7;
  int calls = 0;
  McResult r = monte_carlo(
      [&](std::uint64_t t) {
        ++calls;
        return noisy_accuracy(t);
      },
      o);
  EXPECT_EQ(r.trials, 7);
  EXPECT_EQ(calls, 7);
  EXPECT_FALSE(r.converged);
  // Constant accuracies with a fault source: the interval is 0 wide after min_trials.
  o.ci_half_width = 0.001;
  o.min_trials = 4;
  r = monte_carlo([](std::uint64_t) { return 0.5; }, o);
  EXPECT_EQ(r.trials, 4);
  EXPECT_TRUE(r.converged);
  EXPECT_EQ(r.half_width, 0.0);
  // Trials are numbered from first_trial.
  o.first_trial = 10;
  std::vector<std::uint64_t> seen;
  monte_carlo(
      [&](std::uint64_t t) {
        seen.push_back(t);
        return 0.5;
      },
      o);
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{10, 11, 12, 13}));
}

TEST(MonteCarlo, FaultFreeNeedsExactlyOneTrial) {
  McOptions o;
  o.fault_free = true;
  o.min_trials = 5;
  int calls = 0;
  const McResult r = monte_carlo(
      [&](std::uint64_t) {
        ++calls;
        return 0.97;
      },
      o);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(r.trials, 1);
  EXPECT_TRUE(r.deterministic);
  EXPECT_TRUE(r.converged);
  EXPECT_EQ(r.half_width, 0.0);
  EXPECT_EQ(r.mean, 0.97);
  EXPECT_NE(r.stop_reason.find("fault-free"), std::string::npos);
}

TEST(MonteCarlo, BadOptionsAreInputErrors) {
  auto f = [](std::uint64_t) { return 1.0; };
  McOptions o;
  o.min_trials = 0;
  EXPECT_THROW(monte_carlo(f, o), InputError);
  o = {};
  o.max_trials = 1;  // below min_trials = 2
  EXPECT_THROW(monte_carlo(f, o), InputError);
  o = {};
  o.confidence = 1.0;
  EXPECT_THROW(monte_carlo(f, o), InputError);
  o = {};
  o.ci_half_width = -1;
  EXPECT_THROW(monte_carlo(f, o), InputError);
}

TEST(MonteCarlo, DetectsTheExecutorsFaultSource) {
  const auto net =
      testing::random_network({{QOpKind::dense, 16}, {QOpKind::dense, 4}}, 12, 1, 1, Multiplier::exact(8), 9);
  QuantizedExecutor executor(net);
  const std::size_t n = 200;
  CounterRng rng(3, 3);
  std::vector<float> x(n * 12);
  for (float& v : x) v = float(rng.uniform());
  std::vector<std::int32_t> labels(n);
  executor.run(x.data(), n, 0, nullptr, labels.data());
  McOptions o;
  o.max_trials = 6;
  McResult r = monte_carlo(executor, x.data(), labels.data(), n, o);
  EXPECT_TRUE(r.deterministic);
  EXPECT_EQ(r.trials, 1);
  EXPECT_EQ(r.mean, 1.0);
  FaultInjection faults;
  faults.weight_rate = 0.05;
  executor.set_faults(faults);
  r = monte_carlo(executor, x.data(), labels.data(), n, o);
  EXPECT_FALSE(r.deterministic);
  EXPECT_GE(r.trials, 2);
  EXPECT_LT(r.mean, 1.0);
}

}  // namespace
}  // namespace axsim::quant
