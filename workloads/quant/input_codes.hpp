// Float features -> uint8 input codes of a quantized network, the same bits as models' batch
// quantize(format, in, out) (round half to even, clamp to [min_code, max_code], NaN -> 0), but in
// single precision with AVX2 when the format's step is a power of two.
//
// Why that is exact: multiplying a float by 2^f is exact in float as long as the product neither
// overflows (then it is +-inf, and the double product is beyond the code range too: both clamp to the
// same end) nor falls below the normal range (then |product| < 2^-126 and both round to 0). Rounding
// the same exact value half-to-even gives the same integer in float and double. So 8 floats go through
// one multiply, round, clamp and pack instead of the double-precision scalar-ish path (4x the lanes and
// no double conversions); it is a third of int8 MNIST inference otherwise.
#pragma once

#include <cstddef>
#include <cstdint>

#include "models/fixed_point.hpp"

namespace axsim::quant {

// codes[i] = format.quantize(features[i]) for i < count. The format's codes must fit uint8 (as the
// executor checks); other steps fall back to models' quantize(). force_scalar skips the AVX2 path.
void quantize_input_codes(const FixedPointFormat& format, const float* features, std::size_t count, std::uint8_t* codes,
                          bool force_scalar = false);

// [begin, end) of the bytes of codes[0, count) from the first nonzero to the last nonzero one ({0, 0} when
// all are zero). DRUM maps 0 to 0, so the executor transforms only this span of each input: MNIST digits
// have ~30 % of their pixels in blank leading and trailing rows.
struct ByteSpan {
  std::size_t begin = 0, end = 0;
};
ByteSpan nonzero_span(const std::uint8_t* codes, std::size_t count);

}  // namespace axsim::quant
