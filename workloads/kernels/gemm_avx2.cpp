// AVX2 + FMA kernels. Float: 6 x 16 tile (12 ymm accumulators, 2 loads + 6 broadcasts per k), and
// 12 x 8 for narrow products.
// Int8: exact for the full uint8 x int8 range by widening both operands to int16 (A at pack time
// per call, B once in PackedWeightsS8) and using vpmaddwd, whose pairwise int32 sums cannot
// overflow (|255 * -128 * 2| < 2^31); vpmaddubsw would saturate at int16.
#include <immintrin.h>

#include <cstring>

#include "workloads/kernels/gemm_isa.hpp"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

#include "workloads/kernels/gemm_tiles_impl.hpp"

namespace axsim::kernels::detail {
namespace {

// Lane masks for n = 0..8 leading lanes: the 8 ints starting at kLaneMask + 8 - n.
alignas(64) const int kLaneMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
inline __m256i first_lanes(int n) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kLaneMask + 8 - n)); }

struct F32Avx2 {
  using Reg = __m256;
  static constexpr int kWidth = 8;
  static Reg zero() { return _mm256_setzero_ps(); }
  static Reg load(const float* p) { return _mm256_load_ps(p); }
  static Reg loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void storeu(float* p, Reg x) { _mm256_storeu_ps(p, x); }
  static Reg loadu_partial(const float* p, int n) { return _mm256_maskload_ps(p, first_lanes(n)); }
  static void storeu_partial(float* p, Reg x, int n) { _mm256_maskstore_ps(p, first_lanes(n), x); }
  static Reg broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static Reg set1(float x) { return _mm256_set1_ps(x); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  static Reg mul(Reg a, Reg b) { return _mm256_mul_ps(a, b); }
  // dst row k (k < 8) = element k of the 8 src rows: an 8 x 8 transpose in registers.
  static void transpose8x8(const float* src, std::ptrdiff_t src_stride, float* dst, std::ptrdiff_t dst_stride) {
    __m256 r[8], t[8], u[8];
    for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * src_stride);
    for (int i = 0; i < 8; i += 2) {
      t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);  // i0 i+1_0 i1 i+1_1 | i4 i+1_4 i5 i+1_5
      t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
      u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);          // columns 0 | 4 of rows i..i+3
      u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);      // 1 | 5
      u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);  // 2 | 6
      u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);  // 3 | 7
    }
    for (int i = 0; i < 4; ++i) {
      _mm256_storeu_ps(dst + i * dst_stride, _mm256_permute2f128_ps(u[i], u[i + 4], 0x20));
      _mm256_storeu_ps(dst + (i + 4) * dst_stride, _mm256_permute2f128_ps(u[i], u[i + 4], 0x31));
    }
  }
};

struct S8PairsAvx2 {
  using Reg = __m256i;
  using AElem = std::int16_t;
  using BElem = std::int16_t;
  static constexpr int kWidth = 8;
  static constexpr int kGroup = 2;
  static Reg zero() { return _mm256_setzero_si256(); }
  static Reg load(const BElem* p) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(p)); }
  static Reg broadcast(const AElem* p) {
    std::int32_t pair;
    std::memcpy(&pair, p, sizeof(pair));
    return _mm256_set1_epi32(pair);
  }
  static Reg dot(Reg acc, Reg a, Reg b) { return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b)); }
  static void storeu(std::int32_t* p, Reg x) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), x); }
  static void storeu_partial(std::int32_t* p, Reg x, int n) { _mm256_maskstore_epi32(p, first_lanes(n), x); }
};

constexpr int kF32Mr = 6, kF32Nv = 2;               // 6 x 16: 12 accumulators
constexpr int kF32NarrowMr = 12, kF32NarrowNv = 1;  // 12 x 8 for n <= 8
constexpr int kS8Mr = 6, kS8Nv = 2;

}  // namespace

const SgemmKernel kSgemmAvx2 = {
    Isa::avx2,
    {kF32Mr, kF32Nv* F32Avx2::kWidth, &sgemm_range<F32Avx2, kF32Mr, kF32Nv>},
    {kF32NarrowMr, kF32NarrowNv* F32Avx2::kWidth, &sgemm_range<F32Avx2, kF32NarrowMr, kF32NarrowNv>}};

const Int8Kernel kInt8Avx2 = {Isa::avx2,
                              "avx2",
                              kS8Mr,
                              kS8Nv* S8PairsAvx2::kWidth,
                              &int8_packed_b_bytes<S8PairsAvx2, kS8Nv>,
                              &int8_pack_b<S8PairsAvx2, kS8Nv>,
                              &int8_workspace_bytes<S8PairsAvx2, kS8Mr, kS8Nv>,
                              &int8_range<S8PairsAvx2, kS8Mr, kS8Nv>};

}  // namespace axsim::kernels::detail

#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif
