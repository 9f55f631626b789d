#include "models/geometric_gaps.hpp"

#include <immintrin.h>

#include <algorithm>
#include <stdexcept>

namespace axsim {

namespace {

constexpr std::size_t kSubBatch = 512;  // draws per Philox call (a 4 KiB word buffer on the stack)
constexpr double kHugeGap = 0x1.0p62;   // larger gaps are stored as this: beyond any stream's length

// U of CounterRng::uniform_pos for the 64-bit draw u, and the scalar gap of FaultSampler::next_gap:
// log(U) * (1 / log(1-p)) = -(log(U) * gap_scale()) exactly (negation is exact).
double uniform_pos_of(std::uint64_t u) { return double((u >> 11) + 1) * 0x1.0p-53; }

double scalar_gap(std::uint64_t u, double scale) {
  const double g = -(std::log(uniform_pos_of(u)) * scale);
  return g < kHugeGap ? std::floor(g) : kHugeGap;
}

std::uint64_t draw_of(const std::uint32_t* words, std::size_t k) {
  return (std::uint64_t(words[2 * k + 1]) << 32) | words[2 * k];
}

constexpr double kLn2Hi = 0x1.62e42fefa3800p-1;  // ln 2 split so that e * kLn2Hi is exact for |e| < 2^10
constexpr double kLn2Lo = 0x1.ef35793c76730p-45;
constexpr double kSqrt2 = 1.4142135623730951;
constexpr double kTwoPow52 = 0x1.0p52;

// log(x) for x in [2^-53, 1] and 4 lanes: x = 2^e m, m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s) with
// s = (m - 1)/(m + 1), |s| <= 0.1716: odd series up to s^19 (first omitted term < 1e-17).
__attribute__((target("avx2,fma"))) void gaps_avx2(const std::uint32_t* words, std::size_t n, double scale,
                                                   double tolerance, double* gaps) {
  const __m256i low32 = _mm256_set1_epi64x(0xFFFFFFFFll);
  const __m256i magic = _mm256_set1_epi64x(0x4330000000000000ll);  // 2^52 as bits: OR a < 2^52 integer in
  const __m256d two52 = _mm256_set1_pd(kTwoPow52), two32 = _mm256_set1_pd(0x1.0p32);
  const __m256d two_m53 = _mm256_set1_pd(0x1.0p-53), one = _mm256_set1_pd(1.0), half = _mm256_set1_pd(0.5);
  const __m256i mant_mask = _mm256_set1_epi64x(0x000FFFFFFFFFFFFFll);
  const __m256i one_bits = _mm256_castpd_si256(one);
  const __m256d bias = _mm256_set1_pd(kTwoPow52 + 1023.0), sqrt2 = _mm256_set1_pd(kSqrt2);
  const __m256d ln2hi = _mm256_set1_pd(kLn2Hi), ln2lo = _mm256_set1_pd(kLn2Lo);
  const __m256d neg_scale = _mm256_set1_pd(-scale);
  const __m256d below = _mm256_set1_pd(1.0 - tolerance), above = _mm256_set1_pd(1.0 + tolerance);
  const __m256d huge = _mm256_set1_pd(kHugeGap);
  std::size_t k = 0;
  for (; k + 4 <= n; k += 4) {
    const __m256i u = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(words + 2 * k));
    const __m256i mant = _mm256_srli_epi64(u, 11);  // < 2^53: convert its two halves exactly
    const __m256d hi = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(_mm256_srli_epi64(mant, 32), magic)), two52);
    const __m256d lo = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(_mm256_and_si256(mant, low32), magic)), two52);
    // (mant + 1) <= 2^53 is an exact double, so U is exactly CounterRng::uniform_pos.
    const __m256d x = _mm256_mul_pd(_mm256_add_pd(_mm256_mul_pd(hi, two32), _mm256_add_pd(lo, one)), two_m53);
    const __m256i bits = _mm256_castpd_si256(x);
    __m256d e = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(_mm256_srli_epi64(bits, 52), magic)), bias);
    __m256d m = _mm256_castsi256_pd(_mm256_or_si256(_mm256_and_si256(bits, mant_mask), one_bits));
    const __m256d big = _mm256_cmp_pd(m, sqrt2, _CMP_GT_OQ);
    m = _mm256_blendv_pd(m, _mm256_mul_pd(m, half), big);
    e = _mm256_add_pd(e, _mm256_and_pd(big, one));
    const __m256d s = _mm256_div_pd(_mm256_sub_pd(m, one), _mm256_add_pd(m, one));
    const __m256d s2 = _mm256_mul_pd(s, s);
    __m256d poly = _mm256_set1_pd(2.0 / 19.0);
    for (int j = 8; j >= 0; --j) poly = _mm256_fmadd_pd(poly, s2, _mm256_set1_pd(2.0 / double(2 * j + 1)));
    const __m256d log_x = _mm256_fmadd_pd(e, ln2hi, _mm256_fmadd_pd(e, ln2lo, _mm256_mul_pd(s, poly)));
    const __m256d g = _mm256_mul_pd(log_x, neg_scale);  // >= 0
    const __m256d floor_low = _mm256_floor_pd(_mm256_mul_pd(g, below));
    const __m256d floor_high = _mm256_floor_pd(_mm256_mul_pd(g, above));
    _mm256_storeu_pd(gaps + k, _mm256_min_pd(floor_low, huge));
    const int unsure = _mm256_movemask_pd(_mm256_cmp_pd(floor_low, floor_high, _CMP_NEQ_UQ));
    if (unsure) [[unlikely]] {
      for (int lane = 0; lane < 4; ++lane)
        if (unsure & (1 << lane)) gaps[k + lane] = scalar_gap(draw_of(words, k + lane), scale);
    }
  }
  for (; k < n; ++k) gaps[k] = scalar_gap(draw_of(words, k), scale);
}

bool detect_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

const bool kUseAvx2 = detect_avx2();

}  // namespace

void geometric_gaps(const FaultSampler& sampler, std::uint64_t seed, std::uint64_t stream, std::uint64_t first_draw,
                    std::size_t n, double* gaps, double tolerance) {
  if (sampler.never() || sampler.always())
    throw std::invalid_argument("geometric_gaps: needs 0 < p < 1 (callers handle never/always without draws)");
  if (first_draw % 2 != 0 || n % 2 != 0)
    throw std::invalid_argument("geometric_gaps: first_draw and n must be even (whole Philox blocks)");
  const double scale = sampler.gap_scale();
  std::array<std::uint32_t, 2 * kSubBatch> words;
  for (std::size_t done = 0; done < n;) {
    const std::size_t m = std::min(kSubBatch, n - done);
    philox_u32_blocks(seed, stream, (first_draw + done) / 2, m / 2, words.data());
    if (kUseAvx2) {
      gaps_avx2(words.data(), m, scale, tolerance, gaps + done);
    } else {
      for (std::size_t k = 0; k < m; ++k) gaps[done + k] = scalar_gap(draw_of(words.data(), k), scale);
    }
    done += m;
  }
}

GeometricGapStream::GeometricGapStream(const FaultSampler& sampler, std::uint64_t seed, std::uint64_t stream,
                                       double expected_draws)
    : sampler_(sampler), seed_(seed), stream_(stream) {
  // Enough for the expected draws plus ~4 standard deviations, so that one refill usually suffices
  // without computing many draws a short stream never uses.
  const double want = expected_draws + 4.0 * std::sqrt(std::max(expected_draws, 0.0)) + 8.0;
  first_batch_ = want >= double(kBatch) ? kBatch : (std::size_t(want) + 7) / 8 * 8;
}

void GeometricGapStream::refill() {
  const std::size_t n = next_draw_ == 0 ? first_batch_ : kBatch;
  geometric_gaps(sampler_, seed_, stream_, next_draw_, n, gaps_.data());
  next_draw_ += n;
  filled_ = n;
  cursor_ = 0;
}

}  // namespace axsim
