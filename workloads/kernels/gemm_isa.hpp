// Internal contract between gemm.cpp (checks, threading, dispatch) and the per-ISA kernel files
// gemm_scalar.cpp / gemm_avx2.cpp / gemm_avx512.cpp. Not part of the public API.
#pragma once

#include <cstddef>
#include <cstdint>

#include "workloads/kernels/cpu_features.hpp"

namespace axsim::kernels::detail {

struct SgemmArgs {
  bool trans_a, trans_b;
  int m, n, k;
  float alpha;
  const float* a;
  std::ptrdiff_t lda;
  const float* b;
  std::ptrdiff_t ldb;
  float beta;
  float* c;
  std::ptrdiff_t ldc;
};

// Cache blocking shared by every float kernel. Only the K blocking changes the arithmetic, and it
// depends on K alone, so results do not depend on the ISA's tile shape or on the thread split.
inline constexpr int kSgemmKcMax = 256;  // packed B micro-panel (kc x nr) stays in L1
inline constexpr int kSgemmMc = 120;     // rows of A per block (L2); a multiple of every mr
inline constexpr int kSgemmNc = 256;     // packed B block columns; a multiple of every nr
inline int sgemm_k_blocks(int k) { return (k + kSgemmKcMax - 1) / kSgemmKcMax; }
inline int sgemm_k_block_begin(int k, int blocks, int index) { return int(static_cast<long long>(k) * index / blocks); }

inline constexpr int kSgemmMrMax = 12, kSgemmNrMax = 32;

// Computes C[m0:m1, n0:n1] (m0 a multiple of mr, n0 of nr) using `workspace`, which holds at
// least sgemm_workspace_floats() floats aligned to 64 bytes.
struct SgemmTile {
  int mr, nr;
  void (*run)(const SgemmArgs& args, int m0, int m1, int n0, int n1, float* workspace);
};
// Each ISA has a wide tile and a narrow one for products with few columns (the 10 classes of an
// output layer, the 6 channels of a convolution), chosen per call; both give identical bits.
struct SgemmKernel {
  Isa isa;
  SgemmTile wide, narrow;
};
inline constexpr std::size_t sgemm_workspace_floats() {
  return std::size_t(kSgemmKcMax) * kSgemmNc + std::size_t(kSgemmMrMax) * kSgemmKcMax + 64;
}

extern const SgemmKernel kSgemmScalar;
extern const SgemmKernel kSgemmAvx2;
extern const SgemmKernel kSgemmAvx512;

struct Int8Args {
  int m, n, k;
  const std::uint8_t* a;
  std::ptrdiff_t lda;
  const void* packed_b;
  std::int32_t* c;
  std::ptrdiff_t ldc;
};

struct Int8Kernel {
  Isa isa;
  const char* name;
  int mr, nr;
  std::size_t (*packed_b_bytes)(int k, int n);
  void (*pack_b)(bool trans_b, int k, int n, const std::int8_t* b, std::ptrdiff_t ldb, void* out);
  std::size_t (*workspace_bytes)(int k);
  // Computes C[m0:m1, n0:n1] (m0 a multiple of mr, n0 of nr); workspace aligned to 64 bytes.
  void (*run)(const Int8Args& args, int m0, int m1, int n0, int n1, void* workspace);
};

extern const Int8Kernel kInt8Scalar;
extern const Int8Kernel kInt8Avx2;
extern const Int8Kernel kInt8Avx512Vnni;

}  // namespace axsim::kernels::detail
