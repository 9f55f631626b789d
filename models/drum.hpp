// DRUM approximate multiplier (Hashemi, Bahar, Reda: "DRUM: A Dynamic Range Unbiased Multiplier for
// Approximate Applications", ICCAD 2015), exactly as DESIGN.md section 3 defines it.
//
// Each unsigned operand is reduced to k bits starting at its leading one, and the lowest kept bit is
// forced to 1 (this centres the truncation error, so the multiplier is nearly unbiased):
//   D(x, k) = x                            if x < 2^k  (small operands stay exact)
//           = ((x >> t) | 1) << t,  t = L - (k-1), L = index of the leading one of x
//   drum(a, b, k) = D(|a|, k) * D(|b|, k), sign = sign(a) XOR sign(b)   (sign-magnitude, exact k x k core)
//
// The product is separable: drum(a, b) = Ds(a) * Ds(b) with Ds(a) = sign(a) * D(|a|). So a DRUM matrix
// product is: transform each operand once (drum_transform_batch, O(n)), then an exact integer matrix
// product. Never emulate it with a per-element product lookup table.
//
// D(x) keeps x's bit length: D(x) < 2^(L+1). Hence |x| <= 127 gives |D(x)| <= 127 (int8 weights stay
// int8), x <= 255 gives D(x) <= 255 (uint8 stays uint8), and in general a signed word keeps its type
// unless it holds the most negative code (|-128| = 128 can grow to 128 + 2^t, which needs 9 bits; this is
// why weight formats are symmetric, see fixed_point.hpp). For k >= the operand width D is the identity,
// so the exact multiplier is the k = bits case. Worst-case relative error of a product:
// (1 + 2^-(k-1))^2 - 1, reached when both operands are powers of two >= 2^k.
#pragma once

#include <cassert>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace axsim {

namespace drum_detail {
// Sets every bit below the leading one: 0b0010'1000 -> 0b0011'1111.
template <class U>
[[gnu::always_inline]] constexpr U fill_below_leading_one(U x) {
  x |= U(x >> 1);
  x |= U(x >> 2);
  x |= U(x >> 4);
  if constexpr (sizeof(U) > 1) x |= U(x >> 8);
  if constexpr (sizeof(U) > 2) x |= U(x >> 16);
  return x;
}

// D(x, k) for 1 <= k < width of U with shifts and masks only, no branch and no leading-zero count: one
// code path for the scalar functions and the SIMD batch loops (AVX2 has no per-lane lzcnt), ~5x faster
// than the branchy form on random operands. The tests check it against a bit-by-bit reference.
//   below  = bits under the kept k-bit window = 2^t - 1, or 0 when x < 2^k (x is then returned as is)
//   forced = 2^t when x >= 2^k (t >= 1 then), else 0: the kept LSB that DRUM sets to 1
template <class U>
[[gnu::always_inline]] constexpr U drum_magnitude(U x, int k) {
  const U below = fill_below_leading_one(U(x >> k));
  const U forced = U(U(below + 1) & U(below << 1));
  return U(U(x & U(~below)) | forced);
}
}  // namespace drum_detail

// D(x, k) for k >= 1; k >= 32 is exact (identity).
constexpr std::uint32_t drum_transform(std::uint32_t x, int k) {
  assert(k >= 1);
  return k >= 32 ? x : drum_detail::drum_magnitude(x, k);
}

// Ds(a, k) = sign(a) * D(|a|, k). Precondition: a != INT32_MIN unless k >= 32 (its magnitude has no
// int32 result; no axsim format produces it).
constexpr std::int32_t drum_transform_signed(std::int32_t a, int k) {
  const std::uint32_t sign = std::uint32_t(a >> 31);  // all ones if negative
  const std::uint32_t magnitude = (std::uint32_t(a) ^ sign) - sign;
  return std::int32_t((drum_transform(magnitude, k) ^ sign) - sign);
}

// Ds(a, k) for |a| < 2^Width (Width <= 16), k >= 1 (k >= 32: exact): the same value as drum_transform_signed, with only
// the log2(Width) shift-or steps that a Width-bit magnitude needs to smear its leading one (8-bit codes:
// 3 instead of 5), for elementwise loops over narrow fixed-point codes (AxTrain-pas operands).
template <int Width>
[[gnu::always_inline]] constexpr std::int32_t drum_transform_signed_narrow(std::int32_t a, int k) {
  static_assert(Width >= 1 && Width <= 16);
  if (k >= 32) return a;  // exact (a loop-invariant test: compilers hoist it out of element loops)
  const std::uint32_t sign = std::uint32_t(a >> 31);
  const std::uint32_t magnitude = (std::uint32_t(a) ^ sign) - sign;
  std::uint32_t below = magnitude >> k;
  // Unrolled by hand (a loop here keeps GCC from vectorizing the callers' element loops).
  if constexpr (Width > 1) below |= below >> 1;
  if constexpr (Width > 2) below |= below >> 2;
  if constexpr (Width > 4) below |= below >> 4;
  if constexpr (Width > 8) below |= below >> 8;
  const std::uint32_t forced = (below + 1) & (below << 1);
  return std::int32_t((((magnitude & ~below) | forced) ^ sign) - sign);
}

// drum(a, b, k) = Ds(a, k) * Ds(b, k), exact 64-bit product of the transformed operands.
constexpr std::int64_t drum_multiply(std::int32_t a, std::int32_t b, int k) {
  return std::int64_t(drum_transform_signed(a, k)) * std::int64_t(drum_transform_signed(b, k));
}

// Batch transforms: out[i] = Ds(in[i], k) (or D for unsigned types); in and out may be the same
// memory (or use the in-place overloads). Vectorized (AVX2 clone chosen at run time when available).
// Throw std::invalid_argument if k < 1 or the sizes differ, and std::domain_error if a signed input
// holds the type's most negative value while k < width (its transform does not fit; use symmetric codes
// or the widening int8 -> int16 overload). k >= the type's width copies the input unchanged (exact).
void drum_transform_batch(std::span<const std::int8_t> in, std::span<std::int8_t> out, int k);
void drum_transform_batch(std::span<const std::uint8_t> in, std::span<std::uint8_t> out, int k);
void drum_transform_batch(std::span<const std::int16_t> in, std::span<std::int16_t> out, int k);
void drum_transform_batch(std::span<const std::uint16_t> in, std::span<std::uint16_t> out, int k);
void drum_transform_batch(std::span<const std::int32_t> in, std::span<std::int32_t> out, int k);
// Widening: accepts every int8 value, including -128.
void drum_transform_batch(std::span<const std::int8_t> in, std::span<std::int16_t> out, int k);

void drum_transform_batch(std::span<std::int8_t> values, int k);
void drum_transform_batch(std::span<std::uint8_t> values, int k);
void drum_transform_batch(std::span<std::int16_t> values, int k);
void drum_transform_batch(std::span<std::uint16_t> values, int k);
void drum_transform_batch(std::span<std::int32_t> values, int k);

// Which multiplier a PE uses. Text form (configs, artifacts, reports) is name(): "exact" or
// "drum<k>" (e.g. "drum4": DRUM with k = 4); parse_multiplier reads exactly that form.
struct Multiplier {
  enum class Kind { exact, drum };
  Kind kind = Kind::exact;
  int k = 0;     // DRUM operand width (1..bits); 0 for exact
  int bits = 8;  // operand word width (two's complement, including the sign), 2..32

  static Multiplier exact(int bits = 8);
  static Multiplier drum(int k, int bits = 8);  // throws std::invalid_argument unless 1 <= k <= bits

  // True when products are exact: the exact multiplier, or DRUM with k >= bits (D is then the identity).
  bool is_exact() const { return kind == Kind::exact || k >= bits; }
  // The k to pass to drum_transform*: k for DRUM, 32 (identity) for exact.
  int transform_k() const { return kind == Kind::exact ? 32 : k; }
  std::int32_t transform(std::int32_t a) const { return drum_transform_signed(a, transform_k()); }
  std::int64_t multiply(std::int32_t a, std::int32_t b) const { return drum_multiply(a, b, transform_k()); }

  std::string name() const;  // "exact" | "drum<k>"
  bool operator==(const Multiplier&) const = default;
};

// Parses name() text for operands of `bits`. Bad text throws InputError naming file and location, e.g.
// "hw.yaml:key pe.multiplier: expected 'exact' or 'drum<k>' with k in 1..8 (e.g. 'drum4'), found 'drum:4'
// (did you mean 'drum4'?)".
Multiplier parse_multiplier(std::string_view text, int bits = 8, const std::string& file = "<string>",
                            const std::string& location = "multiplier");

}  // namespace axsim
