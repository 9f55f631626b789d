// AVX-512 VNNI int8 kernel: vpdpbusd multiplies 4 uint8 x int8 pairs per int32 lane into int16
// products (exact: |255 * -128| < 2^15) and adds them to the lane without saturation, so the full
// operand ranges are exact. 6 x 32 tile; B packed as groups of 4 consecutive k per column.
#include <immintrin.h>

#include <cstring>

#include "workloads/kernels/gemm_isa.hpp"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma"))), \
                             apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")
#endif

#include "workloads/kernels/gemm_tiles_impl.hpp"

namespace axsim::kernels::detail {
namespace {

struct S8QuadsVnni {
  using Reg = __m512i;
  using AElem = std::uint8_t;
  using BElem = std::int8_t;
  static constexpr int kWidth = 16;
  static constexpr int kGroup = 4;
  static Reg zero() { return _mm512_setzero_si512(); }
  static Reg load(const BElem* p) { return _mm512_load_si512(p); }
  static Reg broadcast(const AElem* p) {
    std::int32_t quad;
    std::memcpy(&quad, p, sizeof(quad));
    return _mm512_set1_epi32(quad);
  }
  static Reg dot(Reg acc, Reg a, Reg b) { return _mm512_dpbusd_epi32(acc, a, b); }
  static void storeu(std::int32_t* p, Reg x) { _mm512_storeu_si512(p, x); }
  static void storeu_partial(std::int32_t* p, Reg x, int n) {
    _mm512_mask_storeu_epi32(p, __mmask16((1u << n) - 1u), x);
  }
};

constexpr int kS8Mr = 6, kS8Nv = 2;

}  // namespace

const Int8Kernel kInt8Avx512Vnni = {Isa::avx512,
                                    "avx512vnni",
                                    kS8Mr,
                                    kS8Nv* S8QuadsVnni::kWidth,
                                    &int8_packed_b_bytes<S8QuadsVnni, kS8Nv>,
                                    &int8_pack_b<S8QuadsVnni, kS8Nv>,
                                    &int8_workspace_bytes<S8QuadsVnni, kS8Mr, kS8Nv>,
                                    &int8_range<S8QuadsVnni, kS8Mr, kS8Nv>};

}  // namespace axsim::kernels::detail

#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif
