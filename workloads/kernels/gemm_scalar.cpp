// Portable kernels (no intrinsics): the fallback for CPUs without AVX2+FMA, and a reference path
// the tests compare with the SIMD ones.
#include <cstring>

#include "workloads/kernels/gemm_isa.hpp"
#include "workloads/kernels/gemm_tiles_impl.hpp"

namespace axsim::kernels::detail {
namespace {

struct F32Scalar {
  using Reg = float;
  static constexpr int kWidth = 1;
  static Reg zero() { return 0.0f; }
  static Reg load(const float* p) { return *p; }
  static Reg loadu(const float* p) { return *p; }
  static void storeu(float* p, Reg x) { *p = x; }
  static Reg loadu_partial(const float* p, int) { return *p; }  // n is always 1 at width 1
  static void storeu_partial(float* p, Reg x, int) { *p = x; }
  static Reg broadcast(const float* p) { return *p; }
  static Reg set1(float x) { return x; }
  // Unfused on the portable baseline; scalar results are only required to be accurate, not to
  // match the SIMD paths bit for bit.
  static Reg fma(Reg a, Reg b, Reg c) { return a * b + c; }
  static Reg mul(Reg a, Reg b) { return a * b; }
};

struct S8Scalar {
  using Reg = std::int32_t;
  using AElem = std::int16_t;
  using BElem = std::int16_t;
  static constexpr int kWidth = 1;
  static constexpr int kGroup = 1;
  static Reg zero() { return 0; }
  static Reg load(const BElem* p) { return *p; }
  static Reg broadcast(const AElem* p) { return *p; }
  static Reg dot(Reg acc, Reg a, Reg b) { return acc + a * b; }
  static void storeu(std::int32_t* p, Reg x) { *p = x; }
  static void storeu_partial(std::int32_t* p, Reg x, int) { *p = x; }
};

constexpr int kF32Mr = 4, kF32Nv = 8;
constexpr int kS8Mr = 4, kS8Nv = 8;

}  // namespace

const SgemmKernel kSgemmScalar = {Isa::scalar,
                                  {kF32Mr, kF32Nv* F32Scalar::kWidth, &sgemm_range<F32Scalar, kF32Mr, kF32Nv>},
                                  {kF32Mr, kF32Nv* F32Scalar::kWidth, &sgemm_range<F32Scalar, kF32Mr, kF32Nv>}};

const Int8Kernel kInt8Scalar = {Isa::scalar,
                                "scalar",
                                kS8Mr,
                                kS8Nv* S8Scalar::kWidth,
                                &int8_packed_b_bytes<S8Scalar, kS8Nv>,
                                &int8_pack_b<S8Scalar, kS8Nv>,
                                &int8_workspace_bytes<S8Scalar, kS8Mr, kS8Nv>,
                                &int8_range<S8Scalar, kS8Mr, kS8Nv>};

}  // namespace axsim::kernels::detail
