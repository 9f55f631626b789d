#include "models/drum.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "core/error.hpp"

// The batch loops are plain C++ written for the auto-vectorizer; on x86-64 without -mavx2 we also build
// an AVX2 clone of each entry point, picked at load time when the CPU has it.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__AVX2__)
#define AXSIM_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define AXSIM_VECTOR_CLONES
#endif

namespace axsim {

namespace {

using drum_detail::drum_magnitude;

void check_k(int k) {
  if (k < 1) throw std::invalid_argument("DRUM transform: k must be >= 1, found " + std::to_string(k));
}

void check_sizes(std::size_t in, std::size_t out) {
  if (in != out)
    throw std::invalid_argument("drum_transform_batch: input has " + std::to_string(in) + " elements but output has " +
                                std::to_string(out));
}

template <class Out>
constexpr int width_bits() {
  return int(sizeof(Out) * 8);
}

// The loops, always inlined into the per-type entry points below so that each gets its AVX2 clone
// (target_clones only applies to the function it is written on, not to out-of-line callees).
// Precondition for both: 1 <= k < width of the computation type.
template <class U>
[[gnu::always_inline]] inline void unsigned_loop(const U* src, U* dst, std::size_t n, int k) {
  for (std::size_t i = 0; i < n; ++i) dst[i] = drum_magnitude(src[i], k);
}

// Sign-magnitude in Out's width: dst[i] = sign(src[i]) * D(|src[i]|, k). Returns whether an input was
// Out's most negative value, whose transform does not fit Out (only possible when In is as wide as Out).
template <class In, class Out>
[[gnu::always_inline]] inline bool signed_loop(const In* src, Out* dst, std::size_t n, int k) {
  using U = std::make_unsigned_t<Out>;
  constexpr U most_negative = U(U(1) << (width_bits<Out>() - 1));
  U seen_most_negative = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const U a = U(Out(src[i]));
    const U sign = U(Out(a) >> (width_bits<Out>() - 1));  // all ones if negative
    const U magnitude = U(U(a ^ sign) - sign);
    seen_most_negative |= U(a == most_negative);
    dst[i] = Out(U(U(drum_magnitude(magnitude, k) ^ sign) - sign));
  }
  return seen_most_negative != 0;
}

AXSIM_VECTOR_CLONES void loop_u8(const std::uint8_t* src, std::uint8_t* dst, std::size_t n, int k) {
  unsigned_loop(src, dst, n, k);
}
AXSIM_VECTOR_CLONES void loop_u16(const std::uint16_t* src, std::uint16_t* dst, std::size_t n, int k) {
  unsigned_loop(src, dst, n, k);
}
AXSIM_VECTOR_CLONES bool loop_s8(const std::int8_t* src, std::int8_t* dst, std::size_t n, int k) {
  return signed_loop(src, dst, n, k);
}
AXSIM_VECTOR_CLONES bool loop_s16(const std::int16_t* src, std::int16_t* dst, std::size_t n, int k) {
  return signed_loop(src, dst, n, k);
}
AXSIM_VECTOR_CLONES bool loop_s32(const std::int32_t* src, std::int32_t* dst, std::size_t n, int k) {
  return signed_loop(src, dst, n, k);
}
AXSIM_VECTOR_CLONES bool loop_s8_to_s16(const std::int8_t* src, std::int16_t* dst, std::size_t n, int k) {
  return signed_loop(src, dst, n, k);
}

// Checks, the exact (k >= width) copy, then the loop.
template <class In, class Out, class Loop>
void transform(std::span<const In> in, std::span<Out> out, int k, Loop loop) {
  check_k(k);
  check_sizes(in.size(), out.size());
  if (k >= width_bits<Out>()) {
    if (static_cast<const void*>(in.data()) != static_cast<const void*>(out.data()))
      std::copy(in.begin(), in.end(), out.begin());
    return;
  }
  if constexpr (std::is_signed_v<Out>) {
    if (loop(in.data(), out.data(), in.size(), k))
      throw std::domain_error("drum_transform_batch: input holds " + std::to_string(std::numeric_limits<Out>::min()) +
                              ", whose DRUM transform at k=" + std::to_string(k) + " does not fit " +
                              std::to_string(width_bits<Out>()) +
                              "-bit words; use symmetric fixed-point codes (or the int8 -> int16 overload)");
  } else {
    loop(in.data(), out.data(), in.size(), k);
  }
}

}  // namespace

void drum_transform_batch(std::span<const std::int8_t> in, std::span<std::int8_t> out, int k) {
  transform(in, out, k, loop_s8);
}
void drum_transform_batch(std::span<const std::uint8_t> in, std::span<std::uint8_t> out, int k) {
  transform(in, out, k, loop_u8);
}
void drum_transform_batch(std::span<const std::int16_t> in, std::span<std::int16_t> out, int k) {
  transform(in, out, k, loop_s16);
}
void drum_transform_batch(std::span<const std::uint16_t> in, std::span<std::uint16_t> out, int k) {
  transform(in, out, k, loop_u16);
}
void drum_transform_batch(std::span<const std::int32_t> in, std::span<std::int32_t> out, int k) {
  transform(in, out, k, loop_s32);
}
void drum_transform_batch(std::span<const std::int8_t> in, std::span<std::int16_t> out, int k) {
  transform(in, out, k, loop_s8_to_s16);
}

void drum_transform_batch(std::span<std::int8_t> values, int k) {
  drum_transform_batch(std::span<const std::int8_t>(values), values, k);
}
void drum_transform_batch(std::span<std::uint8_t> values, int k) {
  drum_transform_batch(std::span<const std::uint8_t>(values), values, k);
}
void drum_transform_batch(std::span<std::int16_t> values, int k) {
  drum_transform_batch(std::span<const std::int16_t>(values), values, k);
}
void drum_transform_batch(std::span<std::uint16_t> values, int k) {
  drum_transform_batch(std::span<const std::uint16_t>(values), values, k);
}
void drum_transform_batch(std::span<std::int32_t> values, int k) {
  drum_transform_batch(std::span<const std::int32_t>(values), values, k);
}

namespace {
void check_bits(int bits) {
  if (bits < 2 || bits > 32)
    throw std::invalid_argument("Multiplier: operand bits must be in [2, 32], found " + std::to_string(bits));
}
}  // namespace

Multiplier Multiplier::exact(int bits) {
  check_bits(bits);
  return Multiplier{Kind::exact, 0, bits};
}

Multiplier Multiplier::drum(int k, int bits) {
  check_bits(bits);
  if (k < 1 || k > bits)
    throw std::invalid_argument("Multiplier: DRUM k must be in [1, " + std::to_string(bits) + "], found " +
                                std::to_string(k));
  return Multiplier{Kind::drum, k, bits};
}

std::string Multiplier::name() const { return kind == Kind::exact ? "exact" : "drum" + std::to_string(k); }

Multiplier parse_multiplier(std::string_view text, int bits, const std::string& file, const std::string& location) {
  check_bits(bits);
  if (text == "exact") return Multiplier::exact(bits);
  const std::string expected = "'exact' or 'drum<k>' with k in 1.." + std::to_string(bits) + " (e.g. 'drum" +
                               std::to_string(std::min(4, bits)) + "')";
  const std::string found = "'" + std::string(text) + "'";
  constexpr std::string_view prefix = "drum";
  if (text.starts_with(prefix)) {
    const std::string_view digits = text.substr(prefix.size());
    int k = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), k);
    if (digits.empty()) throw_input_error(file, location, expected, found + " (no k)");
    if (ec == std::errc() && end == digits.data() + digits.size()) {
      if (k >= 1 && k <= bits) return Multiplier::drum(k, bits);
      throw_input_error(file, location, expected, found + " (k = " + std::string(digits) + " is out of range)");
    }
  }
  std::vector<std::string> candidates{"exact"};
  for (int k = 1; k <= bits; ++k) candidates.push_back("drum" + std::to_string(k));
  throw_input_error(file, location, expected, found, closest_match(std::string(text), candidates));
}

}  // namespace axsim
