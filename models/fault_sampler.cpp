#include "models/fault_sampler.hpp"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

namespace axsim {

FaultSampler::FaultSampler(double p) : p_(p) {
  if (!(p >= 0.0 && p <= 1.0))  // also rejects NaN
    throw std::invalid_argument("FaultSampler: fault probability must be in [0, 1], got " + std::to_string(p));
  // Below DBL_MIN, 1/log1p(-p) is no longer finite; the expected number of faults in any stream we can
  // index is < 2^64 * DBL_MIN ~ 4e-289, so treating the rate as zero changes nothing measurable.
  never_ = p < DBL_MIN;
  always_ = p == 1.0;
  if (!never_ && !always_) inv_log_q_ = 1.0 / std::log1p(-p);
}

std::vector<std::uint64_t> FaultSampler::fault_positions(std::uint64_t n, CounterRng& rng) const {
  std::vector<std::uint64_t> positions;
  for_each_fault(n, rng, [&](std::uint64_t pos) { positions.push_back(pos); });
  return positions;
}

std::uint64_t FaultSampler::checked_bit_count(std::uint64_t n_words, int stored_bits) {
  if (stored_bits < 0 || stored_bits > 64)
    throw std::invalid_argument("FaultSampler: stored bits per word must be in [0, 64], got " +
                                std::to_string(stored_bits));
  if (stored_bits > 0 && n_words > std::numeric_limits<std::uint64_t>::max() / std::uint64_t(stored_bits))
    throw std::invalid_argument("FaultSampler: block of " + std::to_string(n_words) + " words x " +
                                std::to_string(stored_bits) + " bits exceeds 2^64 bits");
  return n_words * std::uint64_t(stored_bits);
}

}  // namespace axsim

// ---------------------------------------------------------------------------------------------------------
// Batched variates (see the header). The portable and the AVX2 paths perform the same IEEE operations in the
// same order (fused multiply-adds in both), so they return identical bits.

namespace axsim {

namespace {

constexpr std::uint32_t kPhiloxM0 = 0xD2511F53u, kPhiloxM1 = 0xCD9E8D57u;
constexpr std::uint32_t kPhiloxW0 = 0x9E3779B9u, kPhiloxW1 = 0xBB67AE85u;
constexpr double kLn2Hi = 0x1.62e42fefa3800p-1;  // ln 2 split so that e * kLn2Hi is exact for |e| < 2^10
constexpr double kLn2Lo = 0x1.ef35793c76730p-45;
constexpr double kSqrt2 = 1.4142135623730951;
constexpr double kTwoPow52 = 0x1.0p52;
// log(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716 for m in [sqrt(1/2), sqrt(2)]: odd series up to
// s^19; the first omitted term is below 1e-17.
constexpr std::array<double, 10> kAtanhSeries{2.0,        2.0 / 3.0,  2.0 / 5.0,  2.0 / 7.0,  2.0 / 9.0,
                                              2.0 / 11.0, 2.0 / 13.0, 2.0 / 15.0, 2.0 / 17.0, 2.0 / 19.0};

double exponential_scalar(std::uint32_t u) {
  const double x = (double(u) + 0.5) * 0x1.0p-32;  // exact: 33 significant bits
  std::uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  // Biased exponent as a double by the 2^52 trick (the AVX2 path has no int64 -> double conversion).
  std::uint64_t ebits = (bits >> 52) | 0x4330000000000000ull;
  double e;
  std::memcpy(&e, &ebits, sizeof e);
  e -= kTwoPow52 + 1023.0;
  const std::uint64_t mbits = (bits & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull;
  double m;
  std::memcpy(&m, &mbits, sizeof m);
  if (m > kSqrt2) {
    m *= 0.5;
    e += 1.0;
  }
  const double s = (m - 1.0) / (m + 1.0);
  const double s2 = s * s;
  double poly = kAtanhSeries[9];
  for (int k = 8; k >= 0; --k) poly = std::fma(poly, s2, kAtanhSeries[std::size_t(k)]);
  const double log_m = s * poly;
  const double log_x = std::fma(e, kLn2Hi, std::fma(e, kLn2Lo, log_m));
  return -log_x;
}

__attribute__((target("avx2,fma"))) void exponentials_avx2(const std::uint32_t* u, double* out, std::size_t n) {
  const __m128i flip = _mm_set1_epi32(int(0x80000000u));
  const __m256d two31 = _mm256_set1_pd(2147483648.0), half = _mm256_set1_pd(0.5), scale = _mm256_set1_pd(0x1.0p-32);
  const __m256i mant_mask = _mm256_set1_epi64x(0x000FFFFFFFFFFFFFll),
                one_bits = _mm256_set1_epi64x(0x3FF0000000000000ll);
  const __m256i magic = _mm256_set1_epi64x(0x4330000000000000ll);
  const __m256d bias = _mm256_set1_pd(kTwoPow52 + 1023.0), sqrt2 = _mm256_set1_pd(kSqrt2), one = _mm256_set1_pd(1.0);
  const __m256d ln2hi = _mm256_set1_pd(kLn2Hi), ln2lo = _mm256_set1_pd(kLn2Lo), zero = _mm256_setzero_pd();
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(u + i));
    // unsigned -> double: (u - 2^31 as signed) + 2^31, exact.
    const __m256d ud = _mm256_add_pd(_mm256_cvtepi32_pd(_mm_xor_si128(raw, flip)), two31);
    const __m256d x = _mm256_mul_pd(_mm256_add_pd(ud, half), scale);
    const __m256i bits = _mm256_castpd_si256(x);
    __m256d e = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(_mm256_srli_epi64(bits, 52), magic)), bias);
    __m256d m = _mm256_castsi256_pd(_mm256_or_si256(_mm256_and_si256(bits, mant_mask), one_bits));
    const __m256d big = _mm256_cmp_pd(m, sqrt2, _CMP_GT_OQ);
    m = _mm256_blendv_pd(m, _mm256_mul_pd(m, half), big);
    e = _mm256_add_pd(e, _mm256_and_pd(big, one));
    const __m256d s = _mm256_div_pd(_mm256_sub_pd(m, one), _mm256_add_pd(m, one));
    const __m256d s2 = _mm256_mul_pd(s, s);
    __m256d poly = _mm256_set1_pd(kAtanhSeries[9]);
    for (int k = 8; k >= 0; --k) poly = _mm256_fmadd_pd(poly, s2, _mm256_set1_pd(kAtanhSeries[std::size_t(k)]));
    const __m256d log_m = _mm256_mul_pd(s, poly);
    const __m256d log_x = _mm256_fmadd_pd(e, ln2hi, _mm256_fmadd_pd(e, ln2lo, log_m));
    _mm256_storeu_pd(out + i, _mm256_sub_pd(zero, log_x));
  }
  for (; i < n; ++i) out[i] = exponential_scalar(u[i]);
}

void philox_blocks_scalar(std::uint64_t seed, std::uint64_t stream, std::uint64_t first, std::size_t n,
                          std::uint32_t* out) {
  const std::array<std::uint32_t, 2> key{std::uint32_t(seed), std::uint32_t(seed >> 32)};
  for (std::size_t j = 0; j < n; ++j) {
    const std::uint64_t b = first + j;
    const auto r =
        philox4x32({std::uint32_t(b), std::uint32_t(b >> 32), std::uint32_t(stream), std::uint32_t(stream >> 32)}, key);
    std::copy(r.begin(), r.end(), out + 4 * j);
  }
}

// 8 blocks per iteration, one block per 32-bit lane.
__attribute__((target("avx2"))) void philox_blocks_avx2(std::uint64_t seed, std::uint64_t stream, std::uint64_t first,
                                                        std::size_t n, std::uint32_t* out) {
  const __m256i m0 = _mm256_set1_epi64x(kPhiloxM0), m1 = _mm256_set1_epi64x(kPhiloxM1);
  std::size_t j = 0;
  alignas(32) std::uint32_t lo[8], hi[8], r[4][8];
  for (; j + 8 <= n; j += 8) {
    for (int l = 0; l < 8; ++l) {
      const std::uint64_t b = first + j + std::size_t(l);
      lo[l] = std::uint32_t(b);
      hi[l] = std::uint32_t(b >> 32);
    }
    __m256i c0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(lo));
    __m256i c1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(hi));
    __m256i c2 = _mm256_set1_epi32(int(std::uint32_t(stream)));
    __m256i c3 = _mm256_set1_epi32(int(std::uint32_t(stream >> 32)));
    std::uint32_t k0 = std::uint32_t(seed), k1 = std::uint32_t(seed >> 32);
    for (int round = 0; round < 10; ++round) {
      const __m256i p0e = _mm256_mul_epu32(c0, m0), p0o = _mm256_mul_epu32(_mm256_srli_epi64(c0, 32), m0);
      const __m256i p1e = _mm256_mul_epu32(c2, m1), p1o = _mm256_mul_epu32(_mm256_srli_epi64(c2, 32), m1);
      const __m256i p0lo = _mm256_blend_epi32(p0e, _mm256_slli_epi64(p0o, 32), 0xAA);
      const __m256i p0hi = _mm256_blend_epi32(_mm256_srli_epi64(p0e, 32), p0o, 0xAA);
      const __m256i p1lo = _mm256_blend_epi32(p1e, _mm256_slli_epi64(p1o, 32), 0xAA);
      const __m256i p1hi = _mm256_blend_epi32(_mm256_srli_epi64(p1e, 32), p1o, 0xAA);
      const __m256i n0 = _mm256_xor_si256(_mm256_xor_si256(p1hi, c1), _mm256_set1_epi32(int(k0)));
      const __m256i n2 = _mm256_xor_si256(_mm256_xor_si256(p0hi, c3), _mm256_set1_epi32(int(k1)));
      c0 = n0;
      c1 = p1lo;
      c2 = n2;
      c3 = p0lo;
      k0 += kPhiloxW0;
      k1 += kPhiloxW1;
    }
    _mm256_store_si256(reinterpret_cast<__m256i*>(r[0]), c0);
    _mm256_store_si256(reinterpret_cast<__m256i*>(r[1]), c1);
    _mm256_store_si256(reinterpret_cast<__m256i*>(r[2]), c2);
    _mm256_store_si256(reinterpret_cast<__m256i*>(r[3]), c3);
    std::uint32_t* o = out + 4 * j;
    for (int l = 0; l < 8; ++l)
      for (int w = 0; w < 4; ++w) o[4 * l + w] = r[w][l];
  }
  if (j < n) philox_blocks_scalar(seed, stream, first + j, n - j, out + 4 * j);
}

bool detect_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

const bool kUseAvx2 = detect_avx2();

}  // namespace

bool batched_sampler_uses_avx2() { return kUseAvx2; }

double exponential_from_u32_reference(std::uint32_t u) { return exponential_scalar(u); }

void exponentials_from_u32(const std::uint32_t* u, double* e, std::size_t n) {
  if (kUseAvx2) {
    exponentials_avx2(u, e, n);
  } else {
    for (std::size_t i = 0; i < n; ++i) e[i] = exponential_scalar(u[i]);
  }
}

void philox_u32_blocks(std::uint64_t seed, std::uint64_t stream, std::uint64_t first_block, std::size_t n_blocks,
                       std::uint32_t* out) {
  if (kUseAvx2)
    philox_blocks_avx2(seed, stream, first_block, n_blocks, out);
  else
    philox_blocks_scalar(seed, stream, first_block, n_blocks, out);
}

ExponentialStream::ExponentialStream(std::uint64_t seed, std::uint64_t stream, std::size_t batch)
    : seed_(seed), stream_(stream), batch_(std::max<std::size_t>(32, (batch + 31) / 32 * 32)) {}

void ExponentialStream::reset(std::uint64_t seed, std::uint64_t stream) {
  seed_ = seed;
  stream_ = stream;
  base_ = 0;
  cursor_ = filled_ = 0;
}

void ExponentialStream::refill() {
  base_ += filled_;
  // Start small (a stream may see a handful of reads) and grow to the batch size.
  const std::size_t n = filled_ == 0 && base_ == 0 ? std::min<std::size_t>(batch_, 64)
                                                   : std::min(batch_, std::max<std::size_t>(64, 2 * filled_));
  words_.resize(n);
  values_.resize(n);
  philox_u32_blocks(seed_, stream_, base_ / 4, n / 4, words_.data());
  exponentials_from_u32(words_.data(), values_.data(), n);
  filled_ = n;
  cursor_ = 0;
}

}  // namespace axsim
