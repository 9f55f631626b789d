// The batched fault sampler (ExponentialStream): its vectorized Philox and log reproduce the scalar
// definitions bit for bit, its sequence does not depend on the batch size, the fault rate it produces lies in
// binomial 99.9 % bounds, its gaps follow the geometric law (chi-square), and the channels' sparse reads draw
// exactly what their copying reads draw.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/rng.hpp"
#include "models/fault_channel.hpp"
#include "models/fault_sampler.hpp"

using namespace axsim;

namespace {

constexpr double kZ999 = 3.29;

bool in_wilson_bounds(std::uint64_t k, std::uint64_t n, double p, double z = kZ999) {
  const double nn = double(n), kk = double(k), z2 = z * z;
  const double center = (kk + z2 / 2) / (nn + z2);
  const double half = z / (nn + z2) * std::sqrt(kk * (nn - kk) / nn + z2 / 4);
  return p >= center - half && p <= center + half;
}

// Upper 99.9 % point of chi-square with df degrees of freedom (Wilson-Hilferty; within 1 % for df >= 10).
double chi2_999(int df) {
  const double a = 2.0 / (9.0 * df);
  return df * std::pow(1 - a + 3.090 * std::sqrt(a), 3);
}

// Chi-square statistic of gaps drawn at rate p_true against the geometric law at rate p_model: bins 0..B-1
// each of expected mass >= ~0.5 % plus the tail.
double gap_chi_square(double p_true, double p_model, std::uint64_t n, int& df) {
  const FaultSampler sampler(p_true);
  ExponentialStream stream(3, stream_id({9, std::uint64_t(p_true * 1e6)}));
  // Bins of equal width chosen so that there are ~40 of them before the tail.
  const std::uint64_t width = std::max<std::uint64_t>(1, std::uint64_t(std::ceil(0.1 / p_model)));
  const int bins = 40;
  std::vector<double> observed(bins + 1, 0.0);
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::uint64_t gap = sampler.gap_from_exponential(stream.next(), ~std::uint64_t(0));
    observed[std::size_t(std::min<std::uint64_t>(gap / width, bins))] += 1;
  }
  double chi2 = 0;
  const double q = 1 - p_model;
  for (int b = 0; b <= bins; ++b) {
    // P(gap in [b w, (b+1) w)) = q^(b w) - q^((b+1) w); tail: q^(bins w).
    const double lo = std::pow(q, double(b) * double(width));
    const double mass = b == bins ? lo : lo - std::pow(q, double(b + 1) * double(width));
    const double expected = mass * double(n);
    chi2 += (observed[std::size_t(b)] - expected) * (observed[std::size_t(b)] - expected) / expected;
  }
  df = bins;
  return chi2;
}

}  // namespace

TEST(BatchedSampler, PhiloxBlocksMatchCounterRng) {
  // Word w of block b is half (w mod 2) of 64-bit draw 2b + w/2 of CounterRng (its block layout).
  const std::uint64_t seed = 0x0123456789ABCDEFull, stream = stream_id({4, 5});
  std::vector<std::uint32_t> words(4 * 37);  // not a multiple of the 8-block vector width
  philox_u32_blocks(seed, stream, 1000, 37, words.data());
  CounterRng rng(seed, stream, 2 * 1000);
  for (std::size_t b = 0; b < 37; ++b) {
    const std::uint64_t d0 = rng.next_u64(), d1 = rng.next_u64();
    EXPECT_EQ(words[4 * b + 0], std::uint32_t(d0));
    EXPECT_EQ(words[4 * b + 1], std::uint32_t(d0 >> 32));
    EXPECT_EQ(words[4 * b + 2], std::uint32_t(d1));
    EXPECT_EQ(words[4 * b + 3], std::uint32_t(d1 >> 32));
  }
}

TEST(BatchedSampler, VectorLogMatchesScalarBitsAndLibm) {
  std::vector<std::uint32_t> u{0u,          1u,          2u,          0x7FFFFFFFu, 0x80000000u,
                               0xB504F333u, 0xB504F334u, 0xFFFFFFFEu, 0xFFFFFFFFu};
  CounterRng rng(1, 2);
  while (u.size() < 4099) u.push_back(rng.next_u32());
  std::vector<double> e(u.size());
  exponentials_from_u32(u.data(), e.data(), u.size());
  double worst = 0;
  for (std::size_t i = 0; i < u.size(); ++i) {
    EXPECT_EQ(e[i], exponential_from_u32_reference(u[i])) << "u=" << u[i];  // identical bits
    const double exact = -std::log((double(u[i]) + 0.5) * 0x1.0p-32);
    const double err = std::abs(e[i] - exact) / std::max(exact, 1e-300);
    worst = std::max(worst, err);
    EXPECT_GT(e[i], 0.0);
  }
  EXPECT_LT(worst, 1e-14) << "relative error of the polynomial log";
  // The largest variate: -log(2^-33).
  EXPECT_NEAR(exponential_from_u32_reference(0), 33 * std::log(2.0), 1e-13);
}

TEST(BatchedSampler, SequenceDoesNotDependOnTheBatchSize) {
  ExponentialStream a(7, 8, 32), b(7, 8, 4096);
  for (int i = 0; i < 20000; ++i) ASSERT_EQ(a.next(), b.next()) << "variate " << i;
  EXPECT_EQ(a.index(), 20000u);
  ExponentialStream c(7, 9, 1024);
  ExponentialStream d(7, 8, 1024);
  int same = 0;
  for (int i = 0; i < 1000; ++i) same += c.next() == d.next();
  EXPECT_LT(same, 5) << "different streams must differ";
}

TEST(BatchedSampler, ResetRestartsAnotherStreamFromItsFirstVariate) {
  ExponentialStream used(7, 9, 256);
  for (int i = 0; i < 3000; ++i) used.next();  // buffers grown and partly consumed
  used.reset(7, 8);
  ExponentialStream fresh(7, 8, 256);
  EXPECT_EQ(used.index(), 0u);
  for (int i = 0; i < 5000; ++i) ASSERT_EQ(used.next(), fresh.next()) << "variate " << i;
}

TEST(BatchedSampler, FaultRateIsInsideBinomialBounds) {
  for (double p : {1e-4, 1e-2, 0.3}) {
    const FaultSampler sampler(p);
    ExponentialStream stream(11, stream_id({1, std::uint64_t(p * 1e6)}));
    const std::uint64_t n = std::uint64_t(4e4 / p);
    std::uint64_t last = 0, calls = 0;
    bool increasing = true;
    const std::uint64_t count = stream.for_each_fault(n, sampler, [&](std::uint64_t pos) {
      increasing = increasing && (calls == 0 || pos > last) && pos < n;
      last = pos;
      ++calls;
    });
    EXPECT_EQ(count, calls);
    EXPECT_TRUE(increasing);
    EXPECT_TRUE(in_wilson_bounds(count, n, p)) << "p=" << p << " measured " << double(count) / double(n);
    // One variate per fault plus the one overshooting the end (none if the last position is faulty).
    EXPECT_GE(stream.index(), count);
    EXPECT_LE(stream.index(), count + 1);
  }
}

TEST(BatchedSampler, GapsFollowTheGeometricLaw) {
  for (double p : {1e-3, 1e-2, 0.2}) {
    int df = 0;
    const double chi2 = gap_chi_square(p, p, 400000, df);
    EXPECT_LT(chi2, chi2_999(df)) << "p=" << p;
  }
}

TEST(BatchedSampler, ChiSquareTestCanFail) {
  // The same draws tested against a rate 3 % off must be rejected: the test has the power to see it.
  int df = 0;
  const double chi2 = gap_chi_square(1e-2, 1.03e-2, 400000, df);
  EXPECT_GT(chi2, chi2_999(df));
}

TEST(BatchedSampler, SparseReadsDrawExactlyWhatCopyingReadsDraw) {
  for (const char* name : {"flip", "bit_mask", "stuck_at", "erasure", "word_mask"}) {
    const auto channel = make_fault_channel(name);
    for (WordLayout layout : {WordLayout{8, true}, WordLayout{8, false}, WordLayout{5, true}}) {
      CounterRng rng(3, 4);
      std::vector<std::int8_t> stored(5000);
      const std::int64_t lo = layout.has_sign_bit ? -(1 << (layout.bits - 1)) : 0;
      const std::int64_t span = layout.has_sign_bit ? (1 << layout.bits) : (1 << (layout.bits - 1));
      for (auto& w : stored) w = std::int8_t(lo + std::int64_t(rng.below(std::uint64_t(span))));
      ExponentialStream s1(5, 6), s2(5, 6);
      std::vector<std::int8_t> copy = stored;
      const FaultStats a = channel->apply(std::span<std::int8_t>(copy), layout, 0.05, s1);
      std::vector<WordChange> changes;
      const FaultStats b = channel->sample_changes(std::span<const std::int8_t>(stored), layout, 0.05, s2, changes);
      EXPECT_EQ(a, b) << name;
      EXPECT_EQ(s1.index(), s2.index()) << name;
      std::vector<std::int8_t> rebuilt = stored;
      for (std::size_t i = 0; i < changes.size(); ++i) {
        if (i > 0) {
          EXPECT_LT(changes[i - 1].word, changes[i].word);
        }
        EXPECT_NE(std::int32_t(stored[changes[i].word]), changes[i].value);
        rebuilt[changes[i].word] = std::int8_t(changes[i].value);
      }
      EXPECT_EQ(rebuilt, copy) << name << " bits " << layout.bits;
      EXPECT_EQ(b.words_changed, changes.size());
      if (std::string_view(name) != "erasure") {
        EXPECT_GT(b.faulty_bits, 0u);
      }
      // The per-word rule matches the channel's reference corrupt() on the faulty cells: checked for flip by
      // decoding the XOR of the stored code.
      if (std::string_view(name) == "flip")
        for (const WordChange& c : changes) {
          const std::uint32_t x = encode_word(stored[c.word], layout) ^ encode_word(c.value, layout);
          EXPECT_NE(x, 0u);
          EXPECT_EQ(x & ~stored_mask(layout), 0u);
        }
    }
  }
}

TEST(BatchedSampler, SixteenBitWordsAndZeroRate) {
  const auto channel = make_fault_channel("flip");
  std::vector<std::int16_t> stored(3000, 77);
  ExponentialStream s(1, 1);
  std::vector<WordChange> changes;
  const FaultStats zero =
      channel->sample_changes(std::span<const std::int16_t>(stored), WordLayout{16, true}, 0.0, s, changes);
  EXPECT_EQ(zero.faulty_bits, 0u);
  EXPECT_EQ(zero.bits_read, 3000u * 16);
  EXPECT_TRUE(changes.empty());
  EXPECT_EQ(s.index(), 0u);  // no draws at p = 0
  const FaultStats some =
      channel->sample_changes(std::span<const std::int16_t>(stored), WordLayout{16, true}, 0.01, s, changes);
  EXPECT_TRUE(in_wilson_bounds(some.faulty_bits, some.bits_read, 0.01));
  EXPECT_EQ(some.words_changed, changes.size());
}
