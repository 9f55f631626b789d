#include "models/fixed_point.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

// Batch loops are plain C++ that GCC/Clang vectorize. The default x86-64 target (SSE2) has no vector
// rounding instruction, so also build an AVX2 clone, picked at load time when the CPU has it.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__AVX2__)
#define AXSIM_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define AXSIM_VECTOR_CLONES
#endif

namespace axsim {

namespace {

void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument(what);
}

// Checks run once per batch call; messages are only built on failure.
void require_same_size(std::size_t in, std::size_t out, const char* function) {
  if (in != out)
    throw std::invalid_argument(std::string(function) + ": input has " + std::to_string(in) +
                                " elements but output has " + std::to_string(out));
}

template <class T>
void require_codes_fit(const FixedPointFormat& format, const char* type_name, const char* function) {
  format.validate();
  if (!format.codes_fit<T>())
    throw std::invalid_argument(std::string(function) + ": codes of format " + format.to_string() + " [" +
                                std::to_string(format.min_code()) + ", " + std::to_string(format.max_code()) +
                                "] do not fit " + type_name);
}

// The loops: always inlined into the per-type entry points below, so that each gets its AVX2 clone
// (target_clones only applies to the function it is written on, not to out-of-line callees).
template <class T>
[[gnu::always_inline]] inline std::size_t quantize_loop(const float* src, T* dst, std::size_t n, double inverse_step,
                                                        double lo, double hi) {
  std::size_t saturated = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double rounded = std::nearbyint(double(src[i]) * inverse_step);
    saturated += std::size_t((rounded < lo) | (rounded > hi));
    dst[i] = T(std::int32_t(fixed_point_detail::clamp_rounded(rounded, lo, hi)));
  }
  return saturated;
}

template <class T>
[[gnu::always_inline]] inline void dequantize_loop(const T* src, float* dst, std::size_t n, double step) {
  for (std::size_t i = 0; i < n; ++i) dst[i] = float(double(src[i]) * step);
}

#define AXSIM_DEFINE_LOOPS(T, suffix)                                                                             \
  AXSIM_VECTOR_CLONES std::size_t quantize_##suffix(const float* src, T* dst, std::size_t n, double inverse_step, \
                                                    double lo, double hi) {                                       \
    return quantize_loop(src, dst, n, inverse_step, lo, hi);                                                      \
  }                                                                                                               \
  AXSIM_VECTOR_CLONES void dequantize_##suffix(const T* src, float* dst, std::size_t n, double step) {            \
    dequantize_loop(src, dst, n, step);                                                                           \
  }
AXSIM_DEFINE_LOOPS(std::int8_t, s8)
AXSIM_DEFINE_LOOPS(std::uint8_t, u8)
AXSIM_DEFINE_LOOPS(std::int16_t, s16)
AXSIM_DEFINE_LOOPS(std::int32_t, s32)
#undef AXSIM_DEFINE_LOOPS

}  // namespace

FixedPointFormat FixedPointFormat::power_of_two(int bits, int frac_bits, bool is_signed, bool symmetric) {
  FixedPointFormat f{bits, frac_bits, is_signed, symmetric, 0.0};
  f.validate();
  return f;
}

FixedPointFormat FixedPointFormat::with_step(int bits, double step, bool is_signed, bool symmetric) {
  require(step > 0.0, "FixedPointFormat::with_step: step must be > 0, found " + std::to_string(step));
  FixedPointFormat f{bits, 0, is_signed, symmetric, step};
  f.validate();
  return f;
}

FixedPointFormat FixedPointFormat::covering(double max_abs, int bits, bool is_signed, bool symmetric) {
  FixedPointFormat f{bits, 0, is_signed, symmetric, 0.0};
  require(bits >= kMinBits && bits <= kMaxBits, f.invalid_reason());
  require(std::isfinite(max_abs) && max_abs >= 0.0,
          "FixedPointFormat::covering: max_abs must be finite and >= 0, found " + std::to_string(max_abs));
  if (max_abs == 0.0) {
    f.frac_bits = bits - 1;
  } else {
    // Start from the floating-point estimate, then settle the rounding of log2 with exact ldexp tests.
    const double max_code = f.max_code();
    const double estimate = std::floor(std::log2(max_code / max_abs));
    require(std::abs(estimate) <= kMaxAbsFracBits + 2,
            "FixedPointFormat::covering: max_abs " + std::to_string(max_abs) + " needs frac_bits outside [-" +
                std::to_string(kMaxAbsFracBits) + ", " + std::to_string(kMaxAbsFracBits) + "]");
    int frac = int(estimate);
    while (std::ldexp(max_code, -frac) < max_abs) --frac;
    while (std::ldexp(max_code, -(frac + 1)) >= max_abs) ++frac;
    f.frac_bits = frac;
  }
  f.validate();
  return f;
}

FixedPointFormat FixedPointFormat::scaled_to(double max_abs, int bits, bool is_signed, bool symmetric) {
  FixedPointFormat f{bits, 0, is_signed, symmetric, 0.0};
  require(bits >= kMinBits && bits <= kMaxBits, f.invalid_reason());
  require(std::isfinite(max_abs) && max_abs > 0.0,
          "FixedPointFormat::scaled_to: max_abs must be finite and > 0, found " + std::to_string(max_abs));
  return with_step(bits, max_abs / f.max_code(), is_signed, symmetric);
}

std::string FixedPointFormat::invalid_reason() const {
  if (bits < kMinBits || bits > kMaxBits)
    return "fixed-point bits must be in [" + std::to_string(kMinBits) + ", " + std::to_string(kMaxBits) + "], found " +
           std::to_string(bits);
  if (has_power_of_two_step()) {
    if (frac_bits < -kMaxAbsFracBits || frac_bits > kMaxAbsFracBits)
      return "fixed-point frac_bits must be in [-" + std::to_string(kMaxAbsFracBits) + ", " +
             std::to_string(kMaxAbsFracBits) + "], found " + std::to_string(frac_bits);
    return {};
  }
  if (!(explicit_step > 0.0) || !std::isnormal(explicit_step) || !std::isfinite(1.0 / explicit_step) ||
      !std::isfinite(explicit_step * max_code()))
    return "fixed-point explicit step must be a positive normal number with a finite range, found " +
           std::to_string(explicit_step);
  if (frac_bits != 0)
    return "fixed-point frac_bits must be 0 when an explicit step is set, found " + std::to_string(frac_bits);
  return {};
}

void FixedPointFormat::validate() const {
  if (std::string why = invalid_reason(); !why.empty()) throw std::invalid_argument(why);
}

std::string FixedPointFormat::to_string() const {
  std::string s = (is_signed ? "s" : "u") + std::to_string(bits);
  if (is_signed && !symmetric) s += "a";
  if (has_power_of_two_step()) return s + "f" + std::to_string(frac_bits);
  char buf[40];
  std::snprintf(buf, sizeof buf, " step=%.9g", explicit_step);
  return s + buf;
}

#define AXSIM_DEFINE_BATCH(T, suffix, type_name)                                                         \
  std::size_t quantize(const FixedPointFormat& format, std::span<const float> in, std::span<T> out) {    \
    require_same_size(in.size(), out.size(), "quantize");                                                \
    require_codes_fit<T>(format, type_name, "quantize");                                                 \
    return quantize_##suffix(in.data(), out.data(), in.size(), format.inverse_step(), format.min_code(), \
                             format.max_code());                                                         \
  }                                                                                                      \
  void dequantize(const FixedPointFormat& format, std::span<const T> in, std::span<float> out) {         \
    require_same_size(in.size(), out.size(), "dequantize");                                              \
    format.validate();                                                                                   \
    dequantize_##suffix(in.data(), out.data(), in.size(), format.step());                                \
  }
AXSIM_DEFINE_BATCH(std::int8_t, s8, "int8")
AXSIM_DEFINE_BATCH(std::uint8_t, u8, "uint8")
AXSIM_DEFINE_BATCH(std::int16_t, s16, "int16")
AXSIM_DEFINE_BATCH(std::int32_t, s32, "int32")
#undef AXSIM_DEFINE_BATCH

void binarize(std::span<const float> in, std::span<std::int8_t> out) {
  require_same_size(in.size(), out.size(), "binarize");
  for (std::size_t i = 0; i < in.size(); ++i) out[i] = binarize(double(in[i]));
}

void pack_binary_weights(std::span<const std::int8_t> weights, std::span<std::uint64_t> words) {
  require(words.size() == packed_binary_words(weights.size()),
          "pack_binary_weights: " + std::to_string(weights.size()) + " weights need " +
              std::to_string(packed_binary_words(weights.size())) + " words, found " + std::to_string(words.size()));
  for (std::size_t w = 0; w < words.size(); ++w) {
    const std::size_t begin = w * 64, end = std::min(begin + 64, weights.size());
    std::uint64_t word = 0;
    for (std::size_t i = begin; i < end; ++i) word |= std::uint64_t(binary_weight_to_bit(weights[i])) << (i - begin);
    words[w] = word;
  }
}

void unpack_binary_weights(std::span<const std::uint64_t> words, std::span<std::int8_t> weights) {
  require(words.size() == packed_binary_words(weights.size()),
          "unpack_binary_weights: " + std::to_string(weights.size()) + " weights need " +
              std::to_string(packed_binary_words(weights.size())) + " words, found " + std::to_string(words.size()));
  for (std::size_t i = 0; i < weights.size(); ++i)
    weights[i] = binary_weight_from_bit(std::uint8_t((words[i / 64] >> (i % 64)) & 1u));
}

}  // namespace axsim
