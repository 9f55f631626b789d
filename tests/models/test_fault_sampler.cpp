// The geometric-skip fault sampler: fault rates and gap distribution match Bernoulli(p) within
// 99.9 % binomial bounds, edge rates (0, 1, tiny) behave, and results are reproducible.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include "core/rng.hpp"
#include "models/fault_sampler.hpp"

using namespace axsim;

namespace {

constexpr double kZ999 = 3.29;  // two-sided 99.9 % normal quantile

// True when p lies in the Wilson score interval of k successes in n trials at z.
bool in_wilson_bounds(std::uint64_t k, std::uint64_t n, double p, double z = kZ999) {
  const double nn = double(n), kk = double(k), z2 = z * z;
  const double center = (kk + z2 / 2) / (nn + z2);
  const double half = z / (nn + z2) * std::sqrt(kk * (nn - kk) / nn + z2 / 4);
  return p >= center - half && p <= center + half;
}

}  // namespace

TEST(FaultSampler, WilsonHelperRejectsAWrongRate) {
  // The bound used below must be able to fail: 1000 faults in 1e6 trials is not p = 1.2e-3.
  EXPECT_TRUE(in_wilson_bounds(1000, 1000000, 1e-3));
  EXPECT_FALSE(in_wilson_bounds(1000, 1000000, 1.2e-3));
  EXPECT_FALSE(in_wilson_bounds(1000, 1000000, 0.8e-3));
}

TEST(FaultSampler, FaultRateMatchesP) {
  for (double p : {1e-4, 1e-2, 0.3}) {
    const FaultSampler sampler(p);
    CounterRng rng(11, stream_id({1, std::uint64_t(p * 1e6)}));
    // About 3e4 faults each: enough for a tight bound, cheap because cost follows the faults.
    const std::uint64_t n = std::uint64_t(3e4 / p);
    std::uint64_t last = 0, calls = 0;
    bool increasing = true, in_range = true;
    const std::uint64_t count = sampler.for_each_fault(n, rng, [&](std::uint64_t pos) {
      increasing = increasing && (calls == 0 || pos > last);
      in_range = in_range && pos < n;
      last = pos;
      ++calls;
    });
    EXPECT_EQ(count, calls);
    EXPECT_TRUE(increasing) << "p=" << p;
    EXPECT_TRUE(in_range) << "p=" << p;
    EXPECT_TRUE(in_wilson_bounds(count, n, p)) << "p=" << p << " measured " << double(count) / double(n);
    // One draw per fault, plus the final one that overshoots the end: cost follows the faults.
    EXPECT_EQ(rng.index(), count + 1);
  }
}

TEST(FaultSampler, GapsAreGeometric) {
  for (double p : {1e-3, 0.05, 0.3}) {
    const FaultSampler sampler(p);
    CounterRng rng(5, stream_id({2, std::uint64_t(p * 1e6)}));
    const std::uint64_t n = 200000;
    const std::uint64_t tail_k = std::uint64_t(std::ceil(1.0 / p));  // P(gap >= k) = (1-p)^k ~ 1/e
    double sum = 0;
    std::uint64_t zeros = 0, tail = 0;
    for (std::uint64_t i = 0; i < n; ++i) {
      const std::uint64_t gap = sampler.next_gap(rng, std::numeric_limits<std::uint64_t>::max());
      sum += double(gap);
      zeros += gap == 0;
      tail += gap >= tail_k;
    }
    // Geometric on {0, 1, ...}: mean (1-p)/p, variance (1-p)/p^2.
    const double mean = (1 - p) / p, sd = std::sqrt(1 - p) / p;
    EXPECT_NEAR(sum / double(n), mean, kZ999 * sd / std::sqrt(double(n))) << "p=" << p;
    EXPECT_TRUE(in_wilson_bounds(zeros, n, p)) << "p=" << p << " P(gap=0) " << double(zeros) / double(n);
    EXPECT_TRUE(in_wilson_bounds(tail, n, std::pow(1 - p, double(tail_k))))
        << "p=" << p << " P(gap>=" << tail_k << ") " << double(tail) / double(n);
  }
}

TEST(FaultSampler, ZeroRateMakesNoDraws) {
  const FaultSampler sampler(0.0);
  EXPECT_TRUE(sampler.never());
  CounterRng rng(1, 2);
  EXPECT_EQ(sampler.for_each_fault(std::uint64_t(1) << 40, rng, [](std::uint64_t) { FAIL(); }), 0u);
  EXPECT_EQ(rng.index(), 0u);
  // A denormal rate cannot give a finite skip scale; it is treated as zero (documented).
  EXPECT_TRUE(FaultSampler(5e-324).never());
}

TEST(FaultSampler, RateOneFaultsEveryPositionWithoutDraws) {
  const FaultSampler sampler(1.0);
  EXPECT_TRUE(sampler.always());
  CounterRng rng(1, 2);
  std::uint64_t expected = 0;
  bool consecutive = true;
  EXPECT_EQ(
      sampler.for_each_fault(1000, rng, [&](std::uint64_t pos) { consecutive = consecutive && pos == expected++; }),
      1000u);
  EXPECT_TRUE(consecutive);
  EXPECT_EQ(rng.index(), 0u);
}

TEST(FaultSampler, TinyRatesDoNotOverflow) {
  // 1e-9 over 2^40 bits: ~1100 faults, all inside the stream.
  {
    const FaultSampler sampler(1e-9);
    CounterRng rng(3, 4);
    const std::uint64_t n = std::uint64_t(1) << 40;
    bool in_range = true;
    const std::uint64_t count = sampler.for_each_fault(n, rng, [&](std::uint64_t pos) { in_range &= pos < n; });
    EXPECT_TRUE(in_range);
    EXPECT_TRUE(in_wilson_bounds(count, n, 1e-9)) << count;
  }
  // 1e-300 over the longest stream: the gap (~1e301) exceeds any integer; must stop after one draw.
  {
    const FaultSampler sampler(1e-300);
    EXPECT_FALSE(sampler.never());
    CounterRng rng(3, 5);
    EXPECT_EQ(sampler.for_each_fault(std::numeric_limits<std::uint64_t>::max(), rng, [](std::uint64_t) {}), 0u);
    EXPECT_EQ(rng.index(), 1u);
  }
}

TEST(FaultSampler, RejectsInvalidRates) {
  EXPECT_THROW(FaultSampler(-0.1), std::invalid_argument);
  EXPECT_THROW(FaultSampler(1.5), std::invalid_argument);
  EXPECT_THROW(FaultSampler(std::nan("")), std::invalid_argument);
  EXPECT_NO_THROW(FaultSampler(0.5));
}

TEST(FaultSampler, BitFaultsMapToWordAndBit) {
  const FaultSampler sampler(0.05);
  for (int stored_bits : {1, 7, 8, 12, 32}) {
    CounterRng a(9, 10), b(9, 10);
    const std::uint64_t n_words = 5000;
    const auto positions = sampler.fault_positions(n_words * std::uint64_t(stored_bits), a);
    std::size_t i = 0;
    bool match = true;
    sampler.for_each_faulty_bit(n_words, stored_bits, b, [&](std::uint64_t word, unsigned bit) {
      match = match && i < positions.size() && bit < unsigned(stored_bits) &&
              word * std::uint64_t(stored_bits) + bit == positions[i];
      ++i;
    });
    EXPECT_TRUE(match) << stored_bits;
    EXPECT_EQ(i, positions.size());
  }
  CounterRng rng(1, 1);
  EXPECT_EQ(sampler.for_each_faulty_bit(1000, 0, rng, [](std::uint64_t, unsigned) { FAIL(); }), 0u);
  EXPECT_THROW(sampler.for_each_faulty_bit(std::uint64_t(1) << 62, 8, rng, [](std::uint64_t, unsigned) {}),
               std::invalid_argument);
  EXPECT_THROW(sampler.for_each_faulty_bit(10, 65, rng, [](std::uint64_t, unsigned) {}), std::invalid_argument);
}

TEST(FaultSampler, WordFaultRateMatchesP) {
  for (double p : {1e-4, 1e-2, 0.3}) {
    const FaultSampler sampler(p);
    CounterRng rng(21, stream_id({3, std::uint64_t(p * 1e6)}));
    const std::uint64_t n = std::uint64_t(2e4 / p);
    const std::uint64_t count = sampler.for_each_faulty_word(n, rng, [](std::uint64_t) {});
    EXPECT_TRUE(in_wilson_bounds(count, n, p)) << "p=" << p;
  }
}

TEST(FaultSampler, ReproducibleAndStreamDependent) {
  const FaultSampler sampler(0.01);
  CounterRng a(7, 1), b(7, 1), c(7, 2);
  const auto pa = sampler.fault_positions(100000, a);
  EXPECT_EQ(pa, sampler.fault_positions(100000, b));
  EXPECT_NE(pa, sampler.fault_positions(100000, c));
}
