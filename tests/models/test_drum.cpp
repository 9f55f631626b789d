#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "models/drum.hpp"

using namespace axsim;

namespace {

// Independent bit-level reference of a DRUM operand: scan for the leading one, copy the k bits of the
// window one by one, then set the window's lowest bit. (The library computes it with shifts/masks.)
std::uint32_t reference_operand(std::uint32_t x, int k) {
  int leading = -1;
  for (int bit = 31; bit >= 0; --bit) {
    if ((x >> bit) & 1u) {
      leading = bit;
      break;
    }
  }
  if (leading < k) return x;  // x fits in k bits: exact
  std::uint32_t kept = 0;
  const int lowest = leading - k + 1;
  for (int bit = leading; bit >= lowest; --bit) kept |= x & (std::uint32_t{1} << bit);
  return kept | (std::uint32_t{1} << lowest);
}

// Sign-magnitude multiply of the reference operands by shift-and-add over the multiplier's bits.
std::int64_t reference_drum_multiply(std::int64_t a, std::int64_t b, int k) {
  const bool negative = (a < 0) != (b < 0);
  const std::uint32_t ma = reference_operand(std::uint32_t(a < 0 ? -a : a), k);
  const std::uint32_t mb = reference_operand(std::uint32_t(b < 0 ? -b : b), k);
  std::uint64_t product = 0;
  for (int bit = 0; bit < 32; ++bit)
    if ((mb >> bit) & 1u) product += std::uint64_t(ma) << bit;
  return negative ? -std::int64_t(product) : std::int64_t(product);
}

double worst_case_relative_error(int k) { return std::pow(1.0 + std::ldexp(1.0, -(k - 1)), 2) - 1.0; }

}  // namespace

TEST(Drum, ScalarTransformMatchesBitLevelReferenceForEvery16BitValue) {
  for (int k = 1; k <= 17; ++k)
    for (std::uint32_t x = 0; x < 65536; ++x)
      ASSERT_EQ(drum_transform(x, k), reference_operand(x, k)) << x << " k=" << k;
  // Wide operands too (sampled).
  CounterRng rng(11, stream_id({1}));
  for (int i = 0; i < 20000; ++i) {
    const std::uint32_t x = std::uint32_t(rng.next_u64() >> (32 + rng.below(32)));
    const int k = 1 + int(rng.below(31));
    ASSERT_EQ(drum_transform(x, k), reference_operand(x, k)) << x << " k=" << k;
  }
}

TEST(Drum, NarrowSignedTransformMatchesScalarForEveryCode) {
  for (int k = 1; k <= 40; ++k) {
    for (std::int32_t a = -255; a <= 255; ++a)
      ASSERT_EQ(drum_transform_signed_narrow<8>(a, k), drum_transform_signed(a, k)) << a << " k=" << k;
    for (std::int32_t a = -65535; a <= 65535; ++a)
      ASSERT_EQ(drum_transform_signed_narrow<16>(a, k), drum_transform_signed(a, k)) << a << " k=" << k;
  }
}

TEST(Drum, KnownValues) {
  // 0b1011'0110 = 182 with k=4: window 1011 (t=4), force LSB -> 1011 -> 176.
  EXPECT_EQ(drum_transform(182u, 4), 176u);
  // 0b1010'0110 = 166, k=4: window 1010 -> 1011 -> 176.
  EXPECT_EQ(drum_transform(166u, 4), 176u);
  EXPECT_EQ(drum_transform(15u, 4), 15u);  // < 2^k: exact
  EXPECT_EQ(drum_transform(16u, 4), 18u);  // 1'0000 -> window 1000 (t=1) -> 1001 -> 18
  EXPECT_EQ(drum_transform(255u, 8), 255u);
  EXPECT_EQ(drum_transform(0xFFFFFFFFu, 32), 0xFFFFFFFFu);
  EXPECT_EQ(drum_transform_signed(-16, 4), -18);
  EXPECT_EQ(drum_multiply(-16, 16, 4), -324);
  static_assert(drum_transform(182u, 4) == 176u, "usable at compile time");
}

TEST(Drum, ExhaustiveSigned8BitProductsMatchReferenceAndSeparableIdentity) {
  for (int k = 1; k <= 8; ++k) {
    for (int a = -128; a <= 127; ++a) {
      const std::int64_t da = drum_transform_signed(a, k);
      for (int b = -128; b <= 127; ++b) {
        const std::int64_t p = drum_multiply(a, b, k);
        ASSERT_EQ(p, reference_drum_multiply(a, b, k)) << a << "*" << b << " k=" << k;
        ASSERT_EQ(p, da * drum_transform_signed(b, k));
      }
    }
  }
}

TEST(Drum, ExhaustiveUnsigned8BitProductsMatchReference) {
  for (int k = 1; k <= 8; ++k) {
    for (int a = 0; a <= 255; ++a) {
      for (int b = 0; b <= 255; ++b) {
        const std::int64_t p = drum_multiply(a, b, k);
        ASSERT_EQ(p, reference_drum_multiply(a, b, k)) << a << "*" << b << " k=" << k;
        ASSERT_EQ(p, std::int64_t(drum_transform(a, k)) * drum_transform(b, k));
      }
    }
  }
}

TEST(Drum, KAtLeastWidthIsExact) {
  for (int a = -128; a <= 127; ++a)
    for (int b = -128; b <= 127; ++b) ASSERT_EQ(drum_multiply(a, b, 8), a * b);
  CounterRng rng(5, stream_id({2}));
  for (int i = 0; i < 10000; ++i) {
    const std::int32_t a = std::int32_t(rng.next_u32() >> 1), b = -std::int32_t(rng.next_u32() >> 1);
    ASSERT_EQ(drum_multiply(a, b, 32), std::int64_t(a) * b);
  }
  EXPECT_TRUE(Multiplier::drum(8, 8).is_exact());
  EXPECT_FALSE(Multiplier::drum(7, 8).is_exact());
}

TEST(Drum, TransformKeepsBitLengthSoWordsKeepTheirType) {
  for (int k = 1; k <= 16; ++k) {
    for (std::uint32_t x = 1; x < 65536; ++x) {
      const std::uint32_t d = drum_transform(x, k);
      ASSERT_EQ(std::bit_width(d), std::bit_width(x)) << x << " k=" << k;
      if (x <= 127) {
        ASSERT_LE(d, 127u);
      }
      if (x <= 255) {
        ASSERT_LE(d, 255u);
      }
    }
  }
  // The most negative int8 is the one value that grows out of its word.
  EXPECT_EQ(drum_transform_signed(-128, 4), -(128 + 16));
}

TEST(Drum, BatchTransformsMatchScalarForEvery8And16BitValue) {
  std::vector<std::int8_t> s8;
  std::vector<std::uint8_t> u8;
  for (int v = -127; v <= 127; ++v) s8.push_back(std::int8_t(v));  // symmetric int8 codes
  for (int v = 0; v <= 255; ++v) u8.push_back(std::uint8_t(v));
  std::vector<std::int16_t> s16;
  std::vector<std::uint16_t> u16;
  for (int v = -32767; v <= 32767; ++v) s16.push_back(std::int16_t(v));
  for (int v = 0; v <= 65535; ++v) u16.push_back(std::uint16_t(v));
  std::vector<std::int8_t> all_s8;
  for (int v = -128; v <= 127; ++v) all_s8.push_back(std::int8_t(v));

  for (int k = 1; k <= 17; ++k) {
    std::vector<std::int8_t> o8(s8.size());
    drum_transform_batch(s8, o8, k);
    for (std::size_t i = 0; i < s8.size(); ++i) ASSERT_EQ(o8[i], drum_transform_signed(s8[i], k)) << int(s8[i]);
    std::vector<std::uint8_t> ou8 = u8;
    drum_transform_batch(std::span<std::uint8_t>(ou8), k);  // in place
    for (std::size_t i = 0; i < u8.size(); ++i) ASSERT_EQ(ou8[i], drum_transform(u8[i], k)) << int(u8[i]);
    std::vector<std::int16_t> o16(s16.size());
    drum_transform_batch(s16, o16, k);
    for (std::size_t i = 0; i < s16.size(); ++i) ASSERT_EQ(o16[i], drum_transform_signed(s16[i], k)) << s16[i];
    std::vector<std::uint16_t> ou16 = u16;
    drum_transform_batch(std::span<std::uint16_t>(ou16), k);
    for (std::size_t i = 0; i < u16.size(); ++i) ASSERT_EQ(ou16[i], drum_transform(u16[i], k)) << u16[i];
    std::vector<std::int16_t> wide(all_s8.size());
    drum_transform_batch(all_s8, wide, k);
    for (std::size_t i = 0; i < all_s8.size(); ++i) ASSERT_EQ(wide[i], drum_transform_signed(all_s8[i], k));
  }
  // int32: sampled values of every bit length, every k.
  CounterRng rng(3, stream_id({3}));
  std::vector<std::int32_t> s32(50000);
  for (auto& v : s32) {
    v = std::int32_t(rng.next_u32() >> (1 + rng.below(31)));
    if (rng.below(2)) v = -v;
  }
  for (int k = 1; k <= 33; ++k) {
    std::vector<std::int32_t> o32 = s32;
    drum_transform_batch(std::span<std::int32_t>(o32), k);
    for (std::size_t i = 0; i < s32.size(); ++i) ASSERT_EQ(o32[i], drum_transform_signed(s32[i], k)) << s32[i];
  }
}

TEST(Drum, BatchRejectsBadArguments) {
  std::vector<std::int8_t> v{1, -128, 3};
  EXPECT_THROW(drum_transform_batch(std::span<std::int8_t>(v), 4), std::domain_error);
  std::vector<std::int8_t> ok{1, -128, 3};
  EXPECT_NO_THROW(drum_transform_batch(std::span<std::int8_t>(ok), 8));  // k >= width: exact, -128 is fine
  EXPECT_EQ(ok[1], -128);
  std::vector<std::int16_t> s16{std::numeric_limits<std::int16_t>::min()};
  EXPECT_THROW(drum_transform_batch(std::span<std::int16_t>(s16), 5), std::domain_error);
  std::vector<std::int8_t> in(4), out(3);
  EXPECT_THROW(drum_transform_batch(std::span<const std::int8_t>(in), std::span<std::int8_t>(out), 4),
               std::invalid_argument);
  EXPECT_THROW(drum_transform_batch(std::span<std::int8_t>(in), 0), std::invalid_argument);
}

// DRUM paper check (ICCAD 2015): 16-bit operands uniform in [1, 2^16 - 1]; relative error
// (approx - exact) / exact. Published sigma: 3.61 % at k = 5, 0.45 % at k = 8.
TEST(Drum, Uniform16BitErrorStatisticsMatchPublishedValues) {
  struct Expected {
    int k;
    double sigma_percent;
  };
  const Expected cases[] = {{5, 3.61}, {8, 0.45}};
  const int samples = 3'000'000;
  for (const Expected& c : cases) {
    CounterRng rng(2015, stream_id({16, std::uint64_t(c.k)}));
    double sum = 0, sum_sq = 0, max_error = 0;
    for (int i = 0; i < samples; ++i) {
      const std::int32_t a = std::int32_t(1 + rng.below(65535)), b = std::int32_t(1 + rng.below(65535));
      const double exact = double(a) * double(b);
      const double error = (double(drum_multiply(a, b, c.k)) - exact) / exact;
      sum += error;
      sum_sq += error * error;
      max_error = std::max(max_error, std::abs(error));
    }
    const double mean = sum / samples;
    const double sigma = std::sqrt(sum_sq / samples - mean * mean);
    const double bound = worst_case_relative_error(c.k);
    std::cout << "[ DRUM k=" << c.k << " ] mean " << 100 * mean << " %, sigma " << 100 * sigma << " % (published "
              << c.sigma_percent << " %), max " << 100 * max_error << " % (bound " << 100 * bound << " %)\n";
    RecordProperty("drum" + std::to_string(c.k) + "_sigma_percent", std::to_string(100 * sigma));
    EXPECT_NEAR(100 * sigma, c.sigma_percent, 0.05) << "k=" << c.k;
    EXPECT_LT(std::abs(100 * mean), 0.5) << "k=" << c.k;
    EXPECT_LE(max_error, bound * (1 + 1e-12)) << "k=" << c.k;
    EXPECT_GT(max_error, 0.95 * bound) << "k=" << c.k;
  }
}

// For k >= 2 a power of two gains exactly its forced bit, 2^-(k-1) relative. (At k = 1 the window is just
// the leading one, so forcing it changes nothing: D(x) = 2^L rounds down and the bound is never reached.)
TEST(Drum, WorstCaseIsReachedByPowersOfTwo) {
  EXPECT_EQ(drum_multiply(1 << 12, 1 << 14, 1), std::int64_t{1} << 26);
  for (int k = 2; k <= 10; ++k) {
    const std::int32_t a = 1 << 12, b = 1 << 14;  // both >= 2^k: each gains 2^-(k-1) relative
    const double error = (double(drum_multiply(a, b, k)) - double(a) * b) / (double(a) * b);
    EXPECT_DOUBLE_EQ(error, worst_case_relative_error(k)) << "k=" << k;
  }
}

TEST(Multiplier, NamesParseAndRoundTrip) {
  EXPECT_EQ(Multiplier::exact().name(), "exact");
  EXPECT_EQ(Multiplier::drum(4).name(), "drum4");
  for (int k = 1; k <= 8; ++k) EXPECT_EQ(parse_multiplier(Multiplier::drum(k).name()), Multiplier::drum(k));
  EXPECT_EQ(parse_multiplier("exact", 16), Multiplier::exact(16));
  EXPECT_EQ(parse_multiplier("drum12", 16).k, 12);
  EXPECT_EQ(Multiplier::drum(4).multiply(100, -100), drum_multiply(100, -100, 4));
  EXPECT_EQ(Multiplier::exact().multiply(100, -100), -10000);
  EXPECT_EQ(Multiplier::exact().transform(-77), -77);
  EXPECT_THROW(Multiplier::drum(0), std::invalid_argument);
  EXPECT_THROW(Multiplier::drum(9, 8), std::invalid_argument);
}

TEST(Multiplier, BadTextNamesFileLocationAndHint) {
  auto message = [](std::string_view text) {
    try {
      parse_multiplier(text, 8, "hw.yaml", "key pe.multiplier");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string colon = message("drum:4");
  EXPECT_NE(colon.find("hw.yaml:key pe.multiplier: expected 'exact' or 'drum<k>' with k in 1..8"), std::string::npos)
      << colon;
  EXPECT_NE(colon.find("did you mean 'drum4'"), std::string::npos) << colon;
  EXPECT_NE(message("exakt").find("did you mean 'exact'"), std::string::npos);
  EXPECT_NE(message("drum").find("found 'drum' (no k)"), std::string::npos);
  EXPECT_NE(message("drum9").find("out of range"), std::string::npos);
  EXPECT_NE(message("drum0").find("out of range"), std::string::npos);
  EXPECT_NE(message("").find("expected"), std::string::npos);
}
