// The zero-group skipping of the byte-wise int8 kernel, the four-at-a-time Monte Carlo corrections and
// the transposing requantization give the same bits as their definitions, on inputs built to hit the
// edge cases: all-zero rows, zero groups in some rows of a 4-row tile only, k tails, row and panel
// remainders, extreme values (127 x -128) and int32 wrap-around.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <vector>

#include "core/rng.hpp"
#include "models/fixed_point.hpp"
#include "models/quantized_network.hpp"
#include "workloads/kernels/gemm_u8s8s32.hpp"

namespace axsim::kernels {
namespace {

// m x k activations <= 127 where each 4-byte group of each row is zero with probability zero_percent,
// plus every third row entirely zero (and row 0 nonzero only in its last, partial group when k % 4 != 0).
std::vector<std::uint8_t> sparse_codes(int m, int k, int zero_percent, std::uint64_t seed) {
  CounterRng rng(seed, 3);
  std::vector<std::uint8_t> a(std::size_t(m) * k, 0);
  for (int i = 0; i < m; ++i) {
    if (i % 3 == 2) continue;
    for (int q = 0; q * 4 < k; ++q) {
      if (int(rng.below(100)) < zero_percent) continue;
      for (int j = q * 4; j < std::min(k, q * 4 + 4); ++j) a[std::size_t(i) * k + j] = std::uint8_t(rng.below(128));
    }
  }
  if (m > 0 && k % 4 != 0) {
    std::fill_n(a.begin(), k, 0);
    a[std::size_t(k) - 1] = 127;
  }
  return a;
}

std::vector<std::int8_t> random_weights(std::size_t n, std::uint64_t seed) {
  CounterRng rng(seed, 5);
  std::vector<std::int8_t> w(n);
  for (auto& v : w) v = std::int8_t(int(rng.below(256)) - 128);
  return w;
}

TEST(FusedQuadKernelSparse, SkippingZeroGroupsKeepsEveryResult) {
  for (const auto [m, n, k] : std::vector<std::array<int, 3>>{
           {1, 16, 8}, {3, 10, 13}, {4, 16, 4}, {7, 37, 131}, {13, 128, 784}, {40, 128, 128}, {6, 5, 1}}) {
    for (const int zero_percent : {0, 50, 90, 100}) {
      const auto a = sparse_codes(m, k, zero_percent, std::uint64_t(m * 7919 + k + zero_percent));
      const auto w = random_weights(std::size_t(n) * k, std::uint64_t(n * 31 + k));
      std::vector<std::int32_t> bias(static_cast<std::size_t>(n));
      for (int o = 0; o < n; ++o) bias[std::size_t(o)] = (o * 7919) % 20001 - 10000;
      const PackedQuadWeights packed(k, n, w.data(), k);
      std::vector<std::int32_t> expected(std::size_t(m) * n);
      for (int i = 0; i < m; ++i)
        for (int o = 0; o < n; ++o) {
          std::int64_t acc = bias[std::size_t(o)];
          for (int j = 0; j < k; ++j) acc += std::int64_t(a[std::size_t(i) * k + j]) * w[std::size_t(o) * k + j];
          expected[std::size_t(i) * n + o] = std::int32_t(acc);
        }
      const FixedPointFormat out = FixedPointFormat::power_of_two(8, 0, false);
      std::vector<std::uint8_t> expected_codes(expected.size());
      for (std::size_t i = 0; i < expected.size(); ++i)
        expected_codes[i] = std::uint8_t(requantize(expected[i], 6, out, true));
      for (bool scalar : {false, true}) {
        std::vector<std::int32_t> c(expected.size(), -1);
        QuadEpilogue logits;
        logits.bias = bias.data();
        logits.c = c.data();
        logits.ldc = n;
        gemm_u7s8_fused(m, a.data(), k, packed, logits, scalar);
        EXPECT_EQ(c, expected) << m << "x" << n << "x" << k << " zeros " << zero_percent << "% scalar " << scalar;
        std::vector<std::uint8_t> codes(expected.size(), 255);
        QuadEpilogue requant;
        requant.bias = bias.data();
        requant.codes = codes.data();
        requant.ldcodes = n;
        requant.shift = 6;
        requant.lo = 0;
        requant.hi = 127;
        gemm_u7s8_fused(m, a.data(), k, packed, requant, scalar);
        EXPECT_EQ(codes, expected_codes) << m << "x" << n << "x" << k << " zeros " << zero_percent << "%";
      }
    }
  }
}

TEST(AddScaledRowQuads, EqualsTheDefinitionForEveryTailAndExtremeDeltas) {
  const int features = 9;
  const std::ptrdiff_t ldx = 80;
  std::vector<std::uint8_t> x(std::size_t(features) * ldx);
  CounterRng rng(4, 4);
  for (auto& v : x) v = std::uint8_t(rng.below(128));
  for (std::size_t b = 0; b < std::size_t(ldx); ++b) x[std::size_t(2) * ldx + b] = 127;  // extreme row
  // Three quads: int8 extremes, repeated rows, a zero-delta padding slot.
  const std::vector<std::uint32_t> rows{2, 2, 0, 8, 5, 2, 7, 1, 3, 3, 3, 3};
  const std::vector<std::int8_t> deltas{-128, -128, 127, 1, 64, -1, -128, 0, 127, 127, -2, 0};
  for (int m = 0; m <= 70; ++m) {
    std::vector<std::int32_t> init(std::size_t(m) + 1);
    for (int b = 0; b < m; ++b) init[std::size_t(b)] = b % 2 ? INT32_MAX - b : INT32_MIN + b;  // wraps
    std::vector<std::int32_t> expected(static_cast<std::size_t>(m));
    for (int b = 0; b < m; ++b) {
      std::uint32_t v = std::uint32_t(init[std::size_t(b)]);
      for (std::size_t e = 0; e < rows.size(); ++e)
        v += std::uint32_t(std::int32_t(deltas[e])) * x[rows[e] * ldx + std::size_t(b)];
      expected[std::size_t(b)] = std::int32_t(v);
    }
    for (bool scalar : {false, true}) {
      std::vector<std::int32_t> y(static_cast<std::size_t>(m), 0);
      add_scaled_row_quads(m, 3, deltas.data(), rows.data(), x.data(), ldx, init.data(), y.data(), scalar);
      EXPECT_EQ(y, expected) << "m " << m << " scalar " << scalar;
      std::vector<std::int32_t> in_place(init.begin(), init.begin() + m);  // init == y
      add_scaled_row_quads(m, 3, deltas.data(), rows.data(), x.data(), ldx, in_place.data(), in_place.data(), scalar);
      EXPECT_EQ(in_place, expected) << "m " << m;
    }
  }
}

TEST(RequantizeColumns, EqualsTheScalarRuleForEveryTail) {
  CounterRng rng(9, 9);
  for (const auto [m, n] : std::vector<std::array<int, 2>>{{1, 1}, {8, 8}, {13, 8}, {16, 21}, {33, 128}, {7, 3}}) {
    std::vector<std::vector<std::int32_t>> columns(static_cast<std::size_t>(n));
    std::vector<const std::int32_t*> pointers;
    for (auto& c : columns) {
      c.resize(static_cast<std::size_t>(m));
      for (auto& v : c) v = std::int32_t(rng.next_u64());  // full int32 range: wraps with the bias
      c[0] = INT32_MAX;
      pointers.push_back(c.data());
    }
    std::vector<std::int32_t> bias(static_cast<std::size_t>(n));
    for (auto& b : bias) b = std::int32_t(rng.below(1 << 20)) - (1 << 19);
    for (const int shift : {1, 7, 31}) {
      for (const bool with_bias : {true, false}) {
        const FixedPointFormat out = FixedPointFormat::power_of_two(9, 0, false);  // codes 0..255
        const std::ptrdiff_t ld = n + 3;
        std::vector<std::uint8_t> expected(std::size_t(m) * ld, 7);
        for (int b = 0; b < m; ++b)
          for (int o = 0; o < n; ++o) {
            const std::int32_t sum = std::int32_t(std::uint32_t(columns[std::size_t(o)][std::size_t(b)]) +
                                                  std::uint32_t(with_bias ? bias[std::size_t(o)] : 0));
            expected[std::size_t(b) * ld + o] = std::uint8_t(requantize(sum, shift, out, true));
          }
        for (bool scalar : {false, true}) {
          std::vector<std::uint8_t> codes(expected.size(), 7);  // the gaps between rows stay untouched
          QuadEpilogue e;
          e.bias = with_bias ? bias.data() : nullptr;
          e.codes = codes.data();
          e.ldcodes = ld;
          e.shift = shift;
          e.lo = 0;
          e.hi = 255;
          requantize_columns(m, n, pointers.data(), e, scalar);
          EXPECT_EQ(codes, expected) << m << "x" << n << " shift " << shift << " scalar " << scalar;
        }
      }
    }
  }
  QuadEpilogue bad;
  EXPECT_THROW(requantize_columns(1, 1, nullptr, bad), std::invalid_argument);
}

}  // namespace
}  // namespace axsim::kernels
