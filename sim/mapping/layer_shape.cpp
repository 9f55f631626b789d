#include "sim/mapping/layer_shape.hpp"

#include <algorithm>
#include <string>

#include "core/error.hpp"

namespace axsim::mapping {

namespace {
// Each dimension is capped so that products of a few of them (input extents, per-tile counts) stay far
// inside int64; real networks are orders of magnitude below it.
constexpr int kMaxDimension = 1 << 24;
}  // namespace

void validate_layer_shape(const LayerShape& layer, const std::string& source) {
  const std::string where = "layer '" + layer.name + "'";
  auto check = [&](int value, const char* what) {
    if (value < 1 || value > kMaxDimension) {
      throw_input_error(source, where, std::string(what) + " between 1 and " + std::to_string(kMaxDimension),
                        std::to_string(value));
    }
  };
  check(layer.M, "output feature maps M");
  check(layer.N, "input feature maps N");
  check(layer.R, "output rows R");
  check(layer.C, "output columns C");
  check(layer.K, "kernel size K");
  check(layer.stride, "stride");
  // Counts (MACs, reads, cycles) are int64; refuse layers whose MAC count alone would not fit with headroom.
  const long double macs = static_cast<long double>(layer.M) * layer.N * layer.R * layer.C * layer.K * layer.K;
  if (macs > 1e17L) {
    throw_input_error(source, where, "a layer with at most 1e17 multiply-accumulates",
                      "M*N*R*C*K*K = " + std::to_string(static_cast<double>(macs)));
  }
  const long double input_extent = static_cast<long double>(std::max(layer.R, layer.C) - 1) * layer.stride + layer.K;
  if (input_extent > kMaxDimension) {
    throw_input_error(source, where, "an input extent (R-1)*stride+K of at most " + std::to_string(kMaxDimension),
                      std::to_string(static_cast<double>(input_extent)));
  }
}

}  // namespace axsim::mapping
