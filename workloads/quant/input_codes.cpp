#include "workloads/quant/input_codes.hpp"

#include <immintrin.h>

#include <cmath>
#include <span>

#include "workloads/kernels/cpu_features.hpp"

namespace axsim::quant {
namespace {

// Eight floats -> eight int32 codes: round half to even, clamp, NaN -> 0 (max/min return their second
// operand, the bound, for NaN; the ordered mask then zeroes the lane as the reference does).
AXSIM_AVX2 inline __m256i codes8(const float* p, __m256 scale, __m256 lo, __m256 hi) {
  const __m256 scaled = _mm256_mul_ps(_mm256_loadu_ps(p), scale);
  const __m256 rounded = _mm256_round_ps(scaled, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 clamped = _mm256_min_ps(_mm256_max_ps(rounded, lo), hi);
  const __m256 ordered = _mm256_cmp_ps(scaled, scaled, _CMP_ORD_Q);
  return _mm256_cvtps_epi32(_mm256_and_ps(clamped, ordered));
}

AXSIM_AVX2 void quantize_avx2(const float* x, std::size_t count, std::uint8_t* codes, float scale_value, float lo_value,
                              float hi_value) {
  const __m256 scale = _mm256_set1_ps(scale_value), lo = _mm256_set1_ps(lo_value), hi = _mm256_set1_ps(hi_value);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  std::size_t i = 0;
  for (; i + 32 <= count; i += 32) {
    const __m256i c0 = codes8(x + i, scale, lo, hi), c1 = codes8(x + i + 8, scale, lo, hi);
    const __m256i c2 = codes8(x + i + 16, scale, lo, hi), c3 = codes8(x + i + 24, scale, lo, hi);
    // Codes are in 0..255: int32 -> int16 -> uint8 without saturation, then undo the lane interleave.
    const __m256i bytes = _mm256_packus_epi16(_mm256_packs_epi32(c0, c1), _mm256_packs_epi32(c2, c3));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes + i), _mm256_permutevar8x32_epi32(bytes, order));
  }
  for (; i + 8 <= count; i += 8) {
    const __m256i c = codes8(x + i, scale, lo, hi);
    const __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(codes + i), _mm_packus_epi16(words, words));
  }
  if (i < count) {  // tail through a padded buffer: never reads or writes past the arrays
    alignas(32) float tail[8] = {};
    for (std::size_t j = i; j < count; ++j) tail[j - i] = x[j];
    const __m256i c = codes8(tail, scale, lo, hi);
    alignas(32) std::int32_t values[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(values), c);
    for (std::size_t j = i; j < count; ++j) codes[j] = std::uint8_t(values[j - i]);
  }
}

AXSIM_AVX2 ByteSpan nonzero_span_avx2(const std::uint8_t* codes, std::size_t count) {
  const __m256i zero = _mm256_setzero_si256();
  auto nonzero_mask = [&](std::size_t i) AXSIM_AVX2_LAMBDA {  // bit j: codes[i + j] != 0
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + i));
    return ~std::uint32_t(_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, zero)));
  };
  std::size_t begin = 0;
  for (;;) {
    if (begin + 32 > count) {
      while (begin < count && codes[begin] == 0) ++begin;
      break;
    }
    if (const std::uint32_t mask = nonzero_mask(begin); mask != 0) {
      begin += std::size_t(__builtin_ctz(mask));
      break;
    }
    begin += 32;
  }
  if (begin == count) return {0, 0};
  std::size_t end = count;  // codes[begin] != 0, so this stops at or after begin + 1
  for (;;) {
    if (end < begin + 32) {
      while (codes[end - 1] == 0) --end;
      break;
    }
    if (const std::uint32_t mask = nonzero_mask(end - 32); mask != 0) {
      end -= std::size_t(__builtin_clz(mask));
      break;
    }
    end -= 32;
  }
  return {begin, end};
}

}  // namespace

ByteSpan nonzero_span(const std::uint8_t* codes, std::size_t count) {
  if (kernels::cpu_features().avx2) return nonzero_span_avx2(codes, count);
  std::size_t begin = 0, end = count;
  while (begin < count && codes[begin] == 0) ++begin;
  if (begin == count) return {0, 0};
  while (codes[end - 1] == 0) --end;
  return {begin, end};
}

void quantize_input_codes(const FixedPointFormat& format, const float* features, std::size_t count, std::uint8_t* codes,
                          bool force_scalar) {
  // The float path needs 2^frac_bits to be a normal float, and codes within 0..255.
  const bool float_exact = format.has_power_of_two_step() && format.frac_bits >= -100 && format.frac_bits <= 100 &&
                           format.min_code() >= 0 && format.max_code() <= 255;
  if (force_scalar || !float_exact || !kernels::cpu_features().avx2) {
    quantize(format, std::span<const float>(features, count), std::span<std::uint8_t>(codes, count));
    return;
  }
  quantize_avx2(features, count, codes, std::ldexp(1.0f, format.frac_bits), float(format.min_code()),
                float(format.max_code()));
}

}  // namespace axsim::quant
