// Fused int8 layer kernel for quantized inference: C = A * B^T + bias, exact in int32, with the
// requantization (rounding shift, ReLU, saturation to the output code range) done in registers and the
// uint8 codes of the next layer written directly, or int32 outputs (logits) for the last layer.
//
// Why a second int8 kernel next to gemm_u8s8s32 in gemm.hpp: that one is exact for the full uint8 range
// by widening both operands to int16 (vpmaddwd). When every activation is at most 127 (the default
// activation formats store 8-bit codes without the sign bit: 0..127) the byte-wise vpmaddubsw is exact
// too: a pair sum a0*w0 + a1*w1 lies in [-2*127*128, 2*127*127] = [-32512, 32258], inside int16, so its
// saturation never triggers. Then A is read as bytes straight from the activation buffer (no widening,
// no packing of A, half the memory traffic) and each instruction does 4 multiply-adds per int32 lane.
// The caller guarantees a_max <= 127 (kMaxQuadActivation); larger activations must use gemm.hpp.
//
// Zero groups are skipped: for every tile of 4 rows the kernel lists the groups of 4 consecutive k where
// some row has a nonzero byte and multiplies only those (an all-zero group adds exactly nothing). MNIST
// digits leave about half of the first layer's groups zero across 4 images, so that layer does about
// half the multiply-adds; dense inputs take a plain sequential pass.
//
// Threads: none inside; callers parallelise over rows (the executor runs chunks of inputs per thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace axsim::kernels {

inline constexpr int kMaxQuadActivation = 127;

// Weights W (n x k, row o = the k weights of output o, e.g. a Dense weight [out, in]) packed once:
// panels of 16 outputs, for each group of 4 consecutive k the 16 x 4 bytes (zero beyond k and n).
class PackedQuadWeights {
 public:
  PackedQuadWeights() = default;
  // Throws std::invalid_argument on negative sizes, ldw < k or a null W with k, n > 0.
  PackedQuadWeights(int k, int n, const std::int8_t* w, std::ptrdiff_t ldw);
  int k() const { return k_; }
  int n() const { return n_; }
  bool empty() const { return data_ == nullptr; }
  const std::int8_t* data() const { return data_.get(); }

 private:
  int k_ = 0, n_ = 0;
  std::shared_ptr<const std::int8_t> data_;  // immutable once packed, copies share it
};

// What happens to the m x n accumulators (bias already added) in registers.
struct QuadEpilogue {
  const std::int32_t* bias = nullptr;  // n values, or null for none
  // Int32 output (logits): C[i][o] = acc + bias. Used when `c` is set.
  std::int32_t* c = nullptr;
  std::ptrdiff_t ldc = 0;
  // Otherwise uint8 codes: codes[i][o] = clamp(round_half_up((acc + bias) / 2^shift), lo, hi), which is
  // models/quantized_network.hpp's requantize() (ReLU included when lo = 0) for 1 <= shift <= 31,
  // 0 <= lo <= hi <= 255.
  std::uint8_t* codes = nullptr;
  std::ptrdiff_t ldcodes = 0;
  int shift = 1;
  int lo = 0, hi = 255;
};

// Rows [0, m) of A (m x k uint8, lda >= k, every value <= 127) times the packed weights, then the
// epilogue. Uses AVX2 when the CPU has it (or force_scalar is false), a portable loop otherwise; both give
// identical results. Throws std::invalid_argument on bad sizes or epilogue parameters.
void gemm_u7s8_fused(int m, const std::uint8_t* a, std::ptrdiff_t lda, const PackedQuadWeights& w,
                     const QuadEpilogue& epilogue, bool force_scalar = false);

// Sparse corrections of many inputs at once (Monte Carlo over a fixed input set):
//   y[b] = init[b] + sum over listed weight words e of deltas[e] * x[rows[e] * ldx + b],  b in [0, m),
// where x holds one input feature per row (feature-major, uint8) and init/y one output's accumulators over
// the same m inputs (init may be y). int32 arithmetic wraps, so the result is exact whenever the final
// sums fit int32 (the executor checks that bound).
void add_scaled_rows(int m, int count, const std::int32_t* deltas, const std::uint32_t* rows, const std::uint8_t* x,
                     std::ptrdiff_t ldx, const std::int32_t* init, std::int32_t* y, bool force_scalar = false);

// The same sum with the listed words in fours, for x values <= 127 (kMaxQuadActivation) and int8 deltas:
//   y[b] = init[b] + sum over quads q, i < 4 of deltas[4q + i] * x[rows[4q + i] * ldx + b],  b in [0, m).
// Four feature rows are interleaved byte-wise so that one vpmaddubsw + vpmaddwd adds four corrections to
// eight inputs (a pair sum is at most 2 * 127 * 128 in magnitude: no int16 saturation), instead of one
// widening load and one 32-bit multiply per correction and eight inputs. A delta outside int8 is split
// by the caller into several entries of the same row; unused slots of a quad have delta 0. Reads
// x[row * ldx + b] only for b < m. Wraps like add_scaled_rows (same results).
void add_scaled_row_quads(int m, int quads, const std::int8_t* deltas, const std::uint32_t* rows, const std::uint8_t* x,
                          std::ptrdiff_t ldx, const std::int32_t* init, std::int32_t* y, bool force_scalar = false);

// Output-major sums to input-major codes: codes[b * ldcodes + o] = requantize(columns[o][b] + bias[o])
// for b < m, o < n, with the epilogue's bias (may be null), codes, ldcodes, shift, lo and hi (the codes
// branch of QuadEpilogue: the same rounding, clamping and wrap-around of the bias add). Transposes 8 x 8
// blocks in registers (Monte Carlo keeps first-layer sums per output, the next layer reads per input).
// Throws std::invalid_argument on bad epilogue parameters.
void requantize_columns(int m, int n, const std::int32_t* const* columns, const QuadEpilogue& epilogue,
                        bool force_scalar = false);

}  // namespace axsim::kernels
