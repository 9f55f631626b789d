// AVX-512 float kernel: 6 x 32 tile (12 zmm accumulators), 12 x 16 for narrow products. Same loops as the AVX2 kernel
// (gemm_tiles_impl.hpp) with 16-wide traits, and the same per-element FMA order, so its results
// equal the AVX2 path's bit for bit. Needs only AVX-512F instructions.
#include <immintrin.h>

#include <cstring>

#include "workloads/kernels/gemm_isa.hpp"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx2,fma")
#endif

#include "workloads/kernels/gemm_tiles_impl.hpp"

namespace axsim::kernels::detail {
namespace {

inline __mmask16 first_lanes(int n) { return __mmask16((1u << n) - 1u); }

struct F32Avx512 {
  using Reg = __m512;
  static constexpr int kWidth = 16;
  static Reg zero() { return _mm512_setzero_ps(); }
  static Reg load(const float* p) { return _mm512_load_ps(p); }
  static Reg loadu(const float* p) { return _mm512_loadu_ps(p); }
  static void storeu(float* p, Reg x) { _mm512_storeu_ps(p, x); }
  static Reg loadu_partial(const float* p, int n) { return _mm512_maskz_loadu_ps(first_lanes(n), p); }
  static void storeu_partial(float* p, Reg x, int n) { _mm512_mask_storeu_ps(p, first_lanes(n), x); }
  static Reg broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static Reg set1(float x) { return _mm512_set1_ps(x); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  static Reg mul(Reg a, Reg b) { return _mm512_mul_ps(a, b); }
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

constexpr int kF32Mr = 6, kF32Nv = 2;               // 6 x 32
constexpr int kF32NarrowMr = 12, kF32NarrowNv = 1;  // 12 x 16 for n <= 16

}  // namespace

const SgemmKernel kSgemmAvx512 = {
    Isa::avx512,
    {kF32Mr, kF32Nv* F32Avx512::kWidth, &sgemm_range<F32Avx512, kF32Mr, kF32Nv>},
    {kF32NarrowMr, kF32NarrowNv* F32Avx512::kWidth, &sgemm_range<F32Avx512, kF32NarrowMr, kF32NarrowNv>}};

}  // namespace axsim::kernels::detail

#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif
