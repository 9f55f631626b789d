// How one number is stored in an SRAM word: the contract between number formats (fixed_point.hpp)
// and the memory fault channels, which must only ever touch bits that physically exist.
#pragma once

namespace axsim {

// A word of `bits` two's-complement bits as the datapath sees it. The memory stores the low
// stored_bits() bits of the code:
// - has_sign_bit: all `bits` bits are stored; bit bits-1 is the sign bit.
// - !has_sign_bit (unsigned values, e.g. activations after ReLU): the sign bit is known to be 0, so
//   the memory does not store it and it cannot fault; bits 0..bits-2 hold the whole value.
// A BinaryConnect weight is WordLayout{1, true}: one stored bit (1 = +1, 0 = -1, see fixed_point.hpp).
struct WordLayout {
  int bits = 8;
  bool has_sign_bit = true;

  constexpr int stored_bits() const { return has_sign_bit ? bits : bits - 1; }
  constexpr bool operator==(const WordLayout&) const = default;
};

}  // namespace axsim
