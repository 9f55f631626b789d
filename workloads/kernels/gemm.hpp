// Matrix multiply kernels for the trainer (float) and for quantized inference (uint8 x int8 -> int32).
//
// Float: C = alpha * op(A) * op(B) + beta * C, row-major with leading dimensions, BLAS semantics
// (beta == 0 never reads C; alpha == 0 or k == 0 only scales C). Results are bit-identical across
// runs, across thread counts and between the avx2 and avx512 paths: work is split only over M and
// N, every element is an FMA chain over k in order, and K is cut into blocks that depend on K alone.
//
// Int8: C = A * B exactly (int32), A uint8 activations (M x K), B int8 weights (K x N). Pack the
// weights once (PackedWeightsS8) and multiply many times.
//
// Threads: GemmOptions::threads = 0 uses all OpenMP threads when the product is big enough to
// pay for the fork (small products run on the calling thread); inside an active OpenMP parallel
// region a call runs on the calling thread, so callers may parallelise at a higher level (e.g.
// over images), or share one product among the team with GemmOptions::team.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "workloads/kernels/cpu_features.hpp"

namespace axsim::kernels {

enum class Trans : bool { no = false, yes = true };

struct GemmOptions {
  Isa isa = Isa::automatic;
  int threads = 0;  // 0: automatic; 1: calling thread only; n: at most n OpenMP threads
  // For a caller that keeps one OpenMP parallel region open (no fork/join per product): every
  // thread of the team calls with identical arguments, each computes its share, and the call
  // returns after a team barrier. `threads` is then ignored. Outside a parallel region it is a
  // plain single-threaded call.
  bool team = false;
};

// op(A) is m x k: A is m x k (lda >= k) or, transposed, k x m (lda >= m). op(B) is k x n: B is
// k x n (ldb >= n) or, transposed, n x k (ldb >= k). C is m x n (ldc >= n). Throws
// std::invalid_argument on negative sizes, too-small leading dimensions or an unsupported ISA.
void sgemm(Trans trans_a, Trans trans_b, int m, int n, int k, float alpha, const float* a, std::ptrdiff_t lda,
           const float* b, std::ptrdiff_t ldb, float beta, float* c, std::ptrdiff_t ldc,
           const GemmOptions& options = {});

// Largest K for which int32 accumulation of uint8 x int8 products cannot overflow.
inline constexpr int kMaxInt8GemmK = 65793;  // floor((2^31 - 1) / (255 * 128))

namespace detail {
struct Int8Kernel;
}

// Int8 weights B (k x n) rearranged for the int8 kernel of one ISA. Packing widens or groups k
// so the inner loop is one load per vector; build once per weight update, reuse for every batch.
class PackedWeightsS8 {
 public:
  PackedWeightsS8() = default;
  // B is k x n (ldb >= n), or with Trans::yes n x k (ldb >= k), e.g. a Dense weight [out, in].
  // Isa::avx512 uses AVX-512 VNNI when the CPU has it and the avx2 kernel otherwise.
  PackedWeightsS8(Trans trans_b, int k, int n, const std::int8_t* b, std::ptrdiff_t ldb, Isa isa = Isa::automatic);

  int k() const { return k_; }
  int n() const { return n_; }
  bool empty() const { return kernel_ == nullptr; }
  Isa isa() const;
  // "scalar", "avx2" (int16 pairs + vpmaddwd) or "avx512vnni".
  const char* kernel_name() const;
  const void* data() const { return data_.get(); }
  const detail::Int8Kernel* kernel() const { return kernel_; }

 private:
  int k_ = 0, n_ = 0;
  const detail::Int8Kernel* kernel_ = nullptr;
  std::shared_ptr<const std::byte> data_;  // immutable once packed, so copies may share it
};

// C (m x n, ldc >= n) = A (m x k, lda >= k) * B, exact. options.isa must be automatic or the
// ISA the weights were packed for. Throws std::invalid_argument on bad sizes or k > kMaxInt8GemmK.
void gemm_u8s8s32(int m, const std::uint8_t* a, std::ptrdiff_t lda, const PackedWeightsS8& b, std::int32_t* c,
                  std::ptrdiff_t ldc, const GemmOptions& options = {});

// Convenience: packs B for this call only.
void gemm_u8s8s32(Trans trans_b, int m, int n, int k, const std::uint8_t* a, std::ptrdiff_t lda, const std::int8_t* b,
                  std::ptrdiff_t ldb, std::int32_t* c, std::ptrdiff_t ldc, const GemmOptions& options = {});

}  // namespace axsim::kernels
