// The batched geometric sampler must reproduce the scalar one fault for fault: committed LaNMax and
// erasure-regularizer results were produced with FaultSampler::next_gap on CounterRng.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <vector>

#include "core/rng.hpp"
#include "models/fault_channel.hpp"
#include "models/fault_sampler.hpp"
#include "models/geometric_gaps.hpp"

namespace axsim {
namespace {

constexpr std::uint64_t kNoLimit = std::numeric_limits<std::uint64_t>::max();

std::vector<std::uint64_t> scalar_gaps(const FaultSampler& sampler, std::uint64_t seed, std::uint64_t stream,
                                       std::uint64_t first, std::size_t n) {
  CounterRng rng(seed, stream, first);
  std::vector<std::uint64_t> gaps(n);
  for (auto& g : gaps) g = sampler.next_gap(rng, kNoLimit);
  return gaps;
}

void expect_same_gaps(double p, double tolerance, std::uint64_t first, std::size_t n) {
  const FaultSampler sampler(p);
  const std::vector<std::uint64_t> expected = scalar_gaps(sampler, 5, stream_id({9, std::uint64_t(p * 1e6)}), first, n);
  std::vector<double> gaps(n);
  geometric_gaps(sampler, 5, stream_id({9, std::uint64_t(p * 1e6)}), first, n, gaps.data(), tolerance);
  std::size_t mismatches = 0;
  for (std::size_t k = 0; k < n; ++k) mismatches += std::uint64_t(gaps[k]) != expected[k] ? 1 : 0;
  EXPECT_EQ(mismatches, 0u) << "p = " << p << ", tolerance = " << tolerance;
}

TEST(GeometricGaps, SameGapsAsScalarSampler) {
  for (double p : {1e-4, 1e-3, 0.01, 0.05, 0.1, 0.17, 0.3, 0.5, 0.9}) expect_same_gaps(p, kGapTolerance, 0, 200000);
  expect_same_gaps(0.2, kGapTolerance, 1000006, 1002);  // offset start, not a multiple of the batch
}

TEST(GeometricGaps, ScalarFallbackPathIsExactToo) {
  // A huge tolerance sends (almost) every draw through the std::log path.
  for (double p : {0.01, 0.3}) expect_same_gaps(p, 0.5, 0, 20000);
}

TEST(GeometricGaps, RejectsOddRangesAndDegenerateRates) {
  std::vector<double> gaps(4);
  EXPECT_THROW(geometric_gaps(FaultSampler(0.1), 1, 2, 1, 2, gaps.data()), std::invalid_argument);
  EXPECT_THROW(geometric_gaps(FaultSampler(0.1), 1, 2, 0, 3, gaps.data()), std::invalid_argument);
  EXPECT_THROW(geometric_gaps(FaultSampler(0.0), 1, 2, 0, 2, gaps.data()), std::invalid_argument);
}

TEST(GeometricGapStream, SamePositionsAsFaultSampler) {
  for (double p : {0.0, 1e-4, 0.003, 0.1, 0.3, 0.5, 1.0}) {
    for (std::uint64_t n : {0ull, 1ull, 7ull, 1000ull, 65536ull}) {
      const FaultSampler sampler(p);
      CounterRng rng(11, 12);
      const std::vector<std::uint64_t> expected = sampler.fault_positions(n, rng);
      GeometricGapStream stream(sampler, 11, 12, p * double(n));
      std::vector<std::uint64_t> got;
      const std::uint64_t count = stream.for_each_fault(n, [&](std::uint64_t pos) { got.push_back(pos); });
      EXPECT_EQ(got, expected) << "p = " << p << ", n = " << n;
      EXPECT_EQ(count, expected.size());
    }
  }
}

// flip_signs / erase on (seed, stream) = the scalar helpers on each chunk's CounterRng.
template <class Batched, class Scalar>
void expect_same_as_chunked_scalar(std::size_t n, double p, Batched batched, Scalar scalar) {
  std::vector<float> a(n), b(n);
  for (std::size_t i = 0; i < n; ++i) a[i] = b[i] = (i * 2654435761u) % 3 == 0 ? -1.0f : 1.0f;
  const FaultStats got = batched(std::span<float>(a), p, 31, 32);
  FaultStats expected;
  for (std::uint64_t begin = 0, c = 0; begin < n; begin += kFaultChunkWords, ++c) {
    CounterRng rng(31, stream_id({32, c}));
    const std::uint64_t end = std::min<std::uint64_t>(n, begin + kFaultChunkWords);
    expected += scalar(std::span<float>(b).subspan(begin, end - begin), p, rng);
  }
  EXPECT_EQ(a, b) << "p = " << p;
  EXPECT_EQ(got.faulty_words, expected.faulty_words);
  EXPECT_EQ(got.faulty_bits, expected.faulty_bits);
  EXPECT_EQ(got.words_changed, expected.words_changed);
  EXPECT_EQ(got.words_read, expected.words_read);
  EXPECT_EQ(got.bits_read, expected.bits_read);
  EXPECT_GT(got.faulty_words, 0u);
}

TEST(GeometricGaps, FlipSignsAndEraseMatchScalarHelpers) {
  for (double p : {0.002, 0.3}) {
    expect_same_as_chunked_scalar(
        200704, p,
        [](std::span<float> w, double q, std::uint64_t s, std::uint64_t t) { return flip_signs(w, q, s, t); },
        [](std::span<float> w, double q, CounterRng& r) { return flip_signs(w, q, r); });
    expect_same_as_chunked_scalar(
        70000, p, [](std::span<float> w, double q, std::uint64_t s, std::uint64_t t) { return erase(w, q, s, t); },
        [](std::span<float> w, double q, CounterRng& r) { return erase(w, q, r); });
  }
}

}  // namespace
}  // namespace axsim
