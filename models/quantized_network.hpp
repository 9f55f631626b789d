// The deployed, integer form of a network: what the accelerator stores and computes. It is the
// contract between `axsim eval` (quantized CPU inference) and the SystemC simulator, which must
// produce bit-identical results at nominal voltage; so the integer semantics live here, once.
//
// Arithmetic of a dense/conv layer (per output element):
//   acc   = bias + sum_i  T(w_i) * T(a_i)           exact in int32/int64 (T = DRUM transform or identity)
//   out   = requantize(acc, shift, output_format, relu)   for hidden layers
//   logits = acc                                     for the last layer (argmax needs no rescaling)
// where w_i are signed weight codes (int8, step 2^-weight_frac), a_i unsigned activation codes (stored
// without a sign bit, step 2^-input_frac), bias is at the accumulator step 2^-(weight_frac+input_frac),
// and shift = weight_frac + input_frac - output_frac. Pooling works on codes (max exact; average with
// round-half-up). BatchNorm is folded into the preceding layer before quantization.
//
// BinaryConnect layers (binary_weights): codes are -1/+1 with step 1 (weight_format s2f0), stored in one
// bit per weight (kBinaryWeightLayout), so a memory fault flips the sign; the arithmetic above is unchanged.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "models/drum.hpp"
#include "models/fixed_point.hpp"

namespace axsim {

enum class QOpKind { dense, conv2d, maxpool, avgpool, flatten };
std::string_view to_string(QOpKind kind);  // "dense", "conv2d", "maxpool", "avgpool", "flatten"

struct QLayer {
  std::string name;  // the training network's layer name (stable across reports)
  QOpKind kind = QOpKind::dense;
  // Geometry: inputs (in_c, in_h, in_w), outputs (out_c, out_h, out_w); dense has h = w = 1.
  int in_c = 0, in_h = 1, in_w = 1;
  int out_c = 0, out_h = 1, out_w = 1;
  int kernel = 1, stride = 1, padding = 0;
  // Dense/conv arithmetic.
  FixedPointFormat weight_format;    // signed, symmetric
  FixedPointFormat input_format;     // unsigned activations (or the network input format)
  FixedPointFormat output_format;    // unsigned after ReLU; unused for the last layer
  std::vector<std::int8_t> weights;  // codes, layout [out_c][in_c][kernel][kernel] (dense: [out][in])
  std::vector<std::int32_t> bias;    // at the accumulator step; empty = no bias
  bool relu = false;                 // ReLU fused on the output (clamp at 0)
  bool is_output = false;            // last layer: outputs int32 accumulators (logits)
  Multiplier multiplier;             // exact or DRUM-k on this layer's products
  bool binary_weights = false;       // BinaryConnect: codes -1/+1, one stored bit each (see weight_layout())

  std::size_t input_size() const { return std::size_t(in_c) * in_h * in_w; }
  std::size_t output_size() const { return std::size_t(out_c) * out_h * out_w; }
  int accumulator_shift() const { return weight_format.frac_bits + input_format.frac_bits - output_format.frac_bits; }
  std::uint64_t macs() const;  // multiply-accumulates per inference
  bool has_weights() const { return kind == QOpKind::dense || kind == QOpKind::conv2d; }
  // How one weight code is stored in SRAM (what a fault channel may touch).
  WordLayout weight_layout() const { return binary_weights ? kBinaryWeightLayout : weight_format.layout(); }
  // How one input activation code is stored: unsigned, the sign bit is not stored.
  WordLayout input_layout() const { return input_format.layout(); }
};

struct QuantizedNetwork {
  std::string name;
  FixedPointFormat input_format;  // how dataset features in [0, 1] become codes
  int classes = 0;
  std::vector<QLayer> layers;
};

// Checks what every consumer relies on: shapes chain from the network input to `classes` logits, weight
// and bias sizes match the geometry, weight formats are signed and symmetric, activation formats unsigned
// with power-of-two steps, accumulator shifts in [-31, 62], exactly the last layer is_output and it is a
// dense/conv layer, binary layers hold only -1/+1. Throws InputError(origin, "layer <name>", ...).
void validate(const QuantizedNetwork& net, const std::string& origin = "<quantized network>");

// acc * 2^-shift rounded half up, ReLU if asked, saturated to the output format's code range.
inline std::int32_t requantize(std::int64_t acc, int shift, const FixedPointFormat& out, bool relu) {
  std::int64_t v;
  if (shift > 0)
    v = (acc + (std::int64_t{1} << (shift - 1))) >> shift;  // arithmetic shift: floor, so +half = round half up
  else
    v = acc << (-shift);
  if (relu && v < 0) v = 0;
  const std::int64_t lo = out.min_code(), hi = out.max_code();
  return std::int32_t(v < lo ? lo : (v > hi ? hi : v));
}

// Batch form for int32 accumulators (bias already added): codes[i] = requantize(acc[i], shift, out, relu),
// bit-identical to the scalar function, vectorized (for 1 <= shift <= 31 it rounds as
// (a >> shift) + ((a >> (shift - 1)) & 1), which equals floor((a + 2^(shift-1)) / 2^shift) without the
// overflow of the addition). out's codes must fit uint8 (unsigned, at most 9 bits); sizes must match
// (std::invalid_argument otherwise).
void requantize_batch(std::span<const std::int32_t> acc, int shift, const FixedPointFormat& out, bool relu,
                      std::span<std::uint8_t> codes);

// Average of `count` codes, rounded half up (what an integer pooling unit with a divider does).
inline std::int32_t average_codes(std::int64_t sum, int count) {
  return std::int32_t((2 * sum + count) / (2 * std::int64_t(count)));
}

}  // namespace axsim
