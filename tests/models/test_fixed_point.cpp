#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/rng.hpp"
#include "models/drum.hpp"
#include "models/fixed_point.hpp"

using namespace axsim;

namespace {
std::vector<FixedPointFormat> sample_formats() {
  return {FixedPointFormat::power_of_two(8, 7, true),         FixedPointFormat::power_of_two(8, 7, true, false),
          FixedPointFormat::power_of_two(8, 4, false),        FixedPointFormat::power_of_two(9, 0, false),
          FixedPointFormat::power_of_two(16, 12, true),       FixedPointFormat::power_of_two(4, -2, true),
          FixedPointFormat::with_step(8, 0.0123, true),       FixedPointFormat::with_step(6, 3.7, false),
          FixedPointFormat::power_of_two(32, 20, true, false)};
}
}  // namespace

TEST(FixedPoint, CodeRangesAndLayouts) {
  const auto s8 = FixedPointFormat::power_of_two(8, 7, true);
  EXPECT_EQ(s8.min_code(), -127);  // symmetric by default
  EXPECT_EQ(s8.max_code(), 127);
  EXPECT_EQ(s8.layout(), (WordLayout{8, true}));
  EXPECT_EQ(s8.layout().stored_bits(), 8);
  const auto s8a = FixedPointFormat::power_of_two(8, 7, true, /*symmetric=*/false);
  EXPECT_EQ(s8a.min_code(), -128);
  const auto u8 = FixedPointFormat::power_of_two(8, 3, false);
  EXPECT_EQ(u8.min_code(), 0);
  EXPECT_EQ(u8.max_code(), 127);
  EXPECT_EQ(u8.layout().stored_bits(), 7);  // the sign bit of a ReLU output is not stored
  const auto u9 = FixedPointFormat::power_of_two(9, 0, false);
  EXPECT_EQ(u9.max_code(), 255);
  EXPECT_EQ(u9.layout().stored_bits(), 8);
  EXPECT_TRUE(u9.codes_fit<std::uint8_t>());
  EXPECT_FALSE(u9.codes_fit<std::int8_t>());
  const auto s32 = FixedPointFormat::power_of_two(32, 0, true, false);
  EXPECT_EQ(s32.min_code(), std::numeric_limits<std::int32_t>::min());
  EXPECT_EQ(s32.max_code(), std::numeric_limits<std::int32_t>::max());
  EXPECT_EQ(s8.step(), 1.0 / 128);
  EXPECT_EQ(s8.to_string(), "s8f7");
  EXPECT_EQ(s8a.to_string(), "s8af7");
  EXPECT_EQ(u9.to_string(), "u9f0");
}

TEST(FixedPoint, SymmetricInt8CodesStayInt8UnderDrum) {
  const auto s8 = FixedPointFormat::power_of_two(8, 7, true);
  for (int k = 1; k <= 8; ++k)
    for (int code = s8.min_code(); code <= s8.max_code(); ++code) {
      const int d = drum_transform_signed(code, k);
      ASSERT_GE(d, s8.min_code());
      ASSERT_LE(d, s8.max_code());
    }
}

TEST(FixedPoint, RoundTripOfEveryCode) {
  for (const auto& f : sample_formats()) {
    const std::int64_t lo = f.min_code(), hi = f.max_code();
    const std::int64_t stride = std::max<std::int64_t>(1, (hi - lo) / 100000);
    for (std::int64_t code = lo; code <= hi; code += stride)
      ASSERT_EQ(f.quantize(f.dequantize(std::int32_t(code))), code) << f.to_string();
    ASSERT_EQ(f.quantize(f.dequantize(std::int32_t(hi))), hi) << f.to_string();
  }
}

TEST(FixedPoint, RoundsToNearestWithTiesToEvenAndSaturates) {
  const auto f = FixedPointFormat::power_of_two(8, 2, true);  // step 0.25, codes -127..127
  EXPECT_EQ(f.quantize(0.25 * 0.5), 0);
  EXPECT_EQ(f.quantize(0.25 * 1.5), 2);
  EXPECT_EQ(f.quantize(0.25 * 2.5), 2);
  EXPECT_EQ(f.quantize(-0.25 * 1.5), -2);
  EXPECT_EQ(f.quantize(0.25 * 3.4), 3);
  EXPECT_EQ(f.quantize(0.25 * 3.6), 4);
  EXPECT_EQ(f.quantize(1e9), 127);
  EXPECT_EQ(f.quantize(-1e9), -127);
  EXPECT_EQ(f.quantize(std::numeric_limits<double>::infinity()), 127);
  EXPECT_EQ(f.quantize(-std::numeric_limits<double>::infinity()), -127);
  EXPECT_EQ(f.quantize(std::nan("")), 0);
  EXPECT_EQ(FixedPointFormat::power_of_two(8, 2, true, false).quantize(-1e9), -128);
  const auto u = FixedPointFormat::power_of_two(8, 2, false);
  EXPECT_EQ(u.quantize(-3.0), 0);
  EXPECT_EQ(u.quantize(100.0), 127);
  // Inside the range the error is at most half a step.
  CounterRng rng(9, stream_id({1}));
  for (const auto& g : sample_formats()) {
    for (int i = 0; i < 2000; ++i) {
      const double v = g.min_value() + (g.max_value() - g.min_value()) * rng.uniform();
      ASSERT_LE(std::abs(g.dequantize(g.quantize(v)) - v), 0.5 * g.step() * (1 + 1e-12)) << g.to_string() << " " << v;
    }
  }
}

TEST(FixedPoint, CoveringFormatIsTheFinestPowerOfTwoThatHoldsTheRange) {
  const auto w = FixedPointFormat::covering(0.1, 8, true);
  EXPECT_EQ(w.frac_bits, 10);                                        // 127 * 2^-10 = 0.124 >= 0.1 > 127 * 2^-11
  EXPECT_EQ(FixedPointFormat::covering(1.0, 8, true).frac_bits, 6);  // 127/64 >= 1 > 127/128
  EXPECT_EQ(FixedPointFormat::covering(127.0, 8, true).frac_bits, 0);
  EXPECT_EQ(FixedPointFormat::covering(127.5, 8, true).frac_bits, -1);
  EXPECT_EQ(FixedPointFormat::covering(0.0, 8, true).frac_bits, 7);
  CounterRng rng(4, stream_id({2}));
  for (int i = 0; i < 5000; ++i) {
    const double max_abs = std::exp(rng.uniform() * 40 - 20);
    const int bits = 2 + int(rng.below(31));
    const bool is_signed = rng.below(2) == 1;
    const auto f = FixedPointFormat::covering(max_abs, bits, is_signed);
    ASSERT_GE(f.max_value(), max_abs);
    auto finer = f;
    finer.frac_bits += 1;
    ASSERT_LT(finer.max_value(), max_abs) << "a finer step would still cover " << max_abs;
    // Nothing in [-max_abs, max_abs] saturates: the rounding error stays within half a step.
    ASSERT_LE(std::abs(f.dequantize(f.quantize(max_abs)) - max_abs), 0.5 * f.step());
    if (is_signed) {
      ASSERT_LE(std::abs(f.dequantize(f.quantize(-max_abs)) + max_abs), 0.5 * f.step());
    }
  }
  const auto fitted = FixedPointFormat::scaled_to(0.3, 8, true);
  EXPECT_FALSE(fitted.has_power_of_two_step());
  EXPECT_DOUBLE_EQ(fitted.max_value(), 0.3);
  EXPECT_EQ(fitted.quantize(0.3), 127);
}

TEST(FixedPoint, InvalidFormatsAreRejected) {
  EXPECT_THROW(FixedPointFormat::power_of_two(1, 0, true), std::invalid_argument);
  EXPECT_THROW(FixedPointFormat::power_of_two(33, 0, true), std::invalid_argument);
  EXPECT_THROW(FixedPointFormat::power_of_two(8, 10000, true), std::invalid_argument);
  EXPECT_THROW(FixedPointFormat::with_step(8, 0.0, true), std::invalid_argument);
  EXPECT_THROW(FixedPointFormat::with_step(8, -1.0, true), std::invalid_argument);
  EXPECT_THROW(FixedPointFormat::with_step(8, std::nan(""), true), std::invalid_argument);
  EXPECT_THROW(FixedPointFormat::covering(std::nan(""), 8, true), std::invalid_argument);
  EXPECT_THROW(FixedPointFormat::covering(-1.0, 8, true), std::invalid_argument);
  FixedPointFormat bad;
  bad.bits = 40;
  EXPECT_NE(bad.invalid_reason().find("found 40"), std::string::npos);
  EXPECT_TRUE(FixedPointFormat{}.invalid_reason().empty());
}

TEST(FixedPoint, BatchQuantizeMatchesScalarAndCountsSaturation) {
  CounterRng rng(17, stream_id({3}));
  std::vector<float> in(10007);
  for (auto& v : in) v = float(rng.normal() * 2.0);
  in[0] = std::numeric_limits<float>::quiet_NaN();
  in[1] = std::numeric_limits<float>::infinity();
  in[2] = -std::numeric_limits<float>::infinity();
  in[3] = 0.375f;  // tie at step 0.25
  std::size_t saturated = 0;
  const auto check = [&](const FixedPointFormat& f, auto code_type) {
    using T = decltype(code_type);
    std::vector<T> codes(in.size());
    saturated = quantize(f, in, std::span<T>(codes));
    std::size_t expected_saturated = 0;
    for (std::size_t i = 0; i < in.size(); ++i) {
      ASSERT_EQ(std::int32_t(codes[i]), f.quantize(double(in[i]))) << f.to_string() << " " << in[i];
      const double r = std::nearbyint(double(in[i]) * f.inverse_step());
      expected_saturated += (r < f.min_code() || r > f.max_code());
    }
    EXPECT_EQ(saturated, expected_saturated) << f.to_string();
    std::vector<float> back(codes.size());
    dequantize(f, std::span<const T>(codes), back);
    for (std::size_t i = 0; i < codes.size(); ++i) ASSERT_EQ(back[i], float(f.dequantize(codes[i])));
  };
  check(FixedPointFormat::power_of_two(8, 5, true), std::int8_t{});
  EXPECT_GT(saturated, 2u);  // range +-3.97 for N(0, 2^2) data: the tails (and the infinities) saturate
  check(FixedPointFormat::power_of_two(8, 2, false), std::int8_t{});
  check(FixedPointFormat::power_of_two(9, 4, false), std::uint8_t{});
  check(FixedPointFormat::power_of_two(16, 12, true), std::int16_t{});
  check(FixedPointFormat::with_step(12, 0.00731, true), std::int16_t{});
  check(FixedPointFormat::power_of_two(24, 18, true, false), std::int32_t{});

  std::vector<std::int8_t> small(in.size());
  EXPECT_THROW(quantize(FixedPointFormat::power_of_two(9, 0, false), in, std::span<std::int8_t>(small)),
               std::invalid_argument);  // codes up to 255 do not fit int8
  std::vector<std::int8_t> shorter(3);
  EXPECT_THROW(quantize(FixedPointFormat{}, in, std::span<std::int8_t>(shorter)), std::invalid_argument);
}

TEST(FixedPoint, BinaryConnectEncoding) {
  EXPECT_EQ(binarize(0.3), 1);
  EXPECT_EQ(binarize(0.0), 1);
  EXPECT_EQ(binarize(-1e-9), -1);
  EXPECT_EQ(binary_weight_to_bit(1), 1);
  EXPECT_EQ(binary_weight_to_bit(-1), 0);
  EXPECT_EQ(binary_weight_from_bit(1), 1);
  EXPECT_EQ(binary_weight_from_bit(0), -1);
  EXPECT_EQ(kBinaryWeightLayout.stored_bits(), 1);

  CounterRng rng(23, stream_id({4}));
  std::vector<float> w(130);
  for (auto& v : w) v = float(rng.normal());
  std::vector<std::int8_t> b(w.size());
  binarize(w, b);
  for (std::size_t i = 0; i < w.size(); ++i) ASSERT_EQ(b[i], w[i] >= 0 ? 1 : -1);
  std::vector<std::uint64_t> words(packed_binary_words(b.size()));
  ASSERT_EQ(words.size(), 3u);
  pack_binary_weights(b, words);
  for (std::size_t i = 0; i < b.size(); ++i) ASSERT_EQ((words[i / 64] >> (i % 64)) & 1u, b[i] > 0 ? 1u : 0u);
  EXPECT_EQ(words[2] >> 2, 0u);  // unused tail bits are zero
  // A flipped stored bit is BSC(theta) = -theta.
  words[1] ^= std::uint64_t{1} << 5;
  std::vector<std::int8_t> back(b.size());
  unpack_binary_weights(words, back);
  for (std::size_t i = 0; i < b.size(); ++i) ASSERT_EQ(back[i], i == 69 ? -b[i] : b[i]);
  std::vector<std::uint64_t> too_few(1);
  EXPECT_THROW(pack_binary_weights(b, too_few), std::invalid_argument);
}
