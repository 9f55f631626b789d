// Per-layer dynamic fixed point (AxTrain section 3.2): every layer has its own format for weights and
// one for activations, because weights (~1e-3..1e-1) and activations (~100x larger) need different
// ranges, and a narrow range also bounds the damage a flipped high-order bit can do.
//
// A format is a `bits`-wide two's-complement word and a step: value = code * step, where the step is
// 2^-frac_bits (power-of-two scale, a shift in hardware) or an explicit positive number.
// Unsigned formats (activations after ReLU) are the non-negative half of the same word: codes
// 0 .. 2^(bits-1)-1, the sign bit is not stored (see word_layout.hpp). So an 8-bit unsigned
// activation holds 0..127 in 7 stored bits; use bits = 9 for 0..255 (e.g. raw pixels) in 8 stored bits.
//
// Quantization rule, shared by the scalar and batch paths so that the trainer and the simulator get the
// same codes bit for bit: code = clamp(round_half_even(value * inverse_step), min_code, max_code), with
// NaN -> 0. (round_half_even is the IEEE default rounding mode, which axsim never changes.)
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>

#include "models/word_layout.hpp"

namespace axsim {

struct FixedPointFormat {
  int bits = 8;                // datapath word width including the sign position, 2..32
  int frac_bits = 0;           // step = 2^-frac_bits (may be negative or > bits); unused if explicit_step > 0
  bool is_signed = true;       // false: codes >= 0, sign bit not stored
  bool symmetric = true;       // signed only: exclude the most negative code -2^(bits-1); see min_code()
  double explicit_step = 0.0;  // > 0: non power-of-two step; 0: step = 2^-frac_bits

  static constexpr int kMinBits = 2, kMaxBits = 32;
  static constexpr int kMaxAbsFracBits = 512;  // |frac_bits| bound: keeps step and range finite doubles

  // Factories validate their result (std::invalid_argument naming the problem).
  static FixedPointFormat power_of_two(int bits, int frac_bits, bool is_signed, bool symmetric = true);
  static FixedPointFormat with_step(int bits, double step, bool is_signed, bool symmetric = true);
  // Dynamic fixed point: the finest power-of-two step whose range still holds max_abs without
  // saturation, i.e. the largest frac_bits with max_code() * 2^-frac_bits >= max_abs. max_abs == 0
  // (e.g. an all-zero tensor) gives the range [-1, 1): frac_bits = bits - 1.
  static FixedPointFormat covering(double max_abs, int bits, bool is_signed, bool symmetric = true);
  // Explicit step fitted exactly: max_code() * step == max_abs (max_abs > 0).
  static FixedPointFormat scaled_to(double max_abs, int bits, bool is_signed, bool symmetric = true);

  // Empty when valid, otherwise what is wrong ("bits must be in [2, 32], found 40"); lets a config
  // reader turn it into an InputError with file and line.
  std::string invalid_reason() const;
  void validate() const;  // throws std::invalid_argument(invalid_reason())

  bool has_power_of_two_step() const { return explicit_step == 0.0; }
  double step() const { return has_power_of_two_step() ? std::ldexp(1.0, -frac_bits) : explicit_step; }
  double inverse_step() const { return has_power_of_two_step() ? std::ldexp(1.0, frac_bits) : 1.0 / explicit_step; }

  // Signed: -(2^(bits-1) - 1) when symmetric (default), else -2^(bits-1). Symmetric weight codes keep
  // |code| <= 2^(bits-1) - 1, which (a) makes the range symmetric so quantization is unbiased for
  // zero-mean weights, and (b) keeps DRUM-transformed codes in the same word: D(x) never leaves x's bit
  // length, so |code| <= 127 stays <= 127 (int8) while D(128) would need 9 bits. Unsigned: 0.
  std::int32_t min_code() const;
  std::int32_t max_code() const { return std::int32_t((std::int64_t{1} << (bits - 1)) - 1); }
  double min_value() const { return dequantize(min_code()); }
  double max_value() const { return dequantize(max_code()); }

  WordLayout layout() const { return WordLayout{bits, is_signed}; }

  std::int32_t quantize(double value) const;
  double dequantize(std::int32_t code) const { return double(code) * step(); }

  // True when every code of this format fits the integer type T.
  template <class T>
  bool codes_fit() const;

  // "s8f7" (signed 8 bits, step 2^-7), "u9f0", "s8a" (a = asymmetric), "s8 step=0.0125".
  std::string to_string() const;

  bool operator==(const FixedPointFormat&) const = default;
};

// Batch quantization: out[i] = format.quantize(in[i]) exactly (same rule as the scalar path), written
// to vectorize. Returns how many inputs saturated (rounded code outside [min_code, max_code]), which a
// trainer can watch to see whether a layer's range is too small. Throws std::invalid_argument if the
// spans differ in size or the format's codes do not fit the output type.
std::size_t quantize(const FixedPointFormat& format, std::span<const float> in, std::span<std::int8_t> out);
std::size_t quantize(const FixedPointFormat& format, std::span<const float> in, std::span<std::uint8_t> out);
std::size_t quantize(const FixedPointFormat& format, std::span<const float> in, std::span<std::int16_t> out);
std::size_t quantize(const FixedPointFormat& format, std::span<const float> in, std::span<std::int32_t> out);

// Batch dequantization: out[i] = float(format.dequantize(in[i])).
void dequantize(const FixedPointFormat& format, std::span<const std::int8_t> in, std::span<float> out);
void dequantize(const FixedPointFormat& format, std::span<const std::uint8_t> in, std::span<float> out);
void dequantize(const FixedPointFormat& format, std::span<const std::int16_t> in, std::span<float> out);
void dequantize(const FixedPointFormat& format, std::span<const std::int32_t> in, std::span<float> out);

// ---- BinaryConnect (zeta = 1): weights are +1 or -1, stored in one bit (1 for +1, 0 for -1) ----
constexpr WordLayout kBinaryWeightLayout{1, true};

// binarize(w) = +1 if w >= 0 else -1 (deterministic BinaryConnect; NaN -> -1).
constexpr std::int8_t binarize(double w) { return w >= 0.0 ? 1 : -1; }
constexpr std::uint8_t binary_weight_to_bit(std::int8_t weight) { return weight > 0 ? 1 : 0; }
constexpr std::int8_t binary_weight_from_bit(std::uint8_t bit) { return (bit & 1u) ? 1 : -1; }

void binarize(std::span<const float> in, std::span<std::int8_t> out);
// Packs weights (+1/-1) into bits, LSB first: bit i of word i/64 is weight i; the tail of the last word is 0.
void pack_binary_weights(std::span<const std::int8_t> weights, std::span<std::uint64_t> words);
void unpack_binary_weights(std::span<const std::uint64_t> words, std::span<std::int8_t> weights);
constexpr std::size_t packed_binary_words(std::size_t n_weights) { return (n_weights + 63) / 64; }

// ---- implementation details shared by the scalar and the batch paths ----
namespace fixed_point_detail {
// Clamp an already rounded value into [lo, hi], NaN -> 0. Branch-free so that batch loops vectorize.
inline double clamp_rounded(double rounded, double lo, double hi) {
  double r = rounded < lo ? lo : rounded;
  r = r > hi ? hi : r;
  return r == r ? r : 0.0;
}
// Round half to even (IEEE default mode), then clamp.
inline double round_and_clamp(double scaled, double lo, double hi) {
  return clamp_rounded(std::nearbyint(scaled), lo, hi);
}
}  // namespace fixed_point_detail

inline std::int32_t FixedPointFormat::min_code() const {
  if (!is_signed) return 0;
  const std::int64_t most_negative = -(std::int64_t{1} << (bits - 1));
  return std::int32_t(symmetric ? most_negative + 1 : most_negative);
}

inline std::int32_t FixedPointFormat::quantize(double value) const {
  return std::int32_t(fixed_point_detail::round_and_clamp(value * inverse_step(), min_code(), max_code()));
}

template <class T>
bool FixedPointFormat::codes_fit() const {
  return std::int64_t(min_code()) >= std::int64_t(std::numeric_limits<T>::min()) &&
         std::int64_t(max_code()) <= std::int64_t(std::numeric_limits<T>::max());
}

}  // namespace axsim
