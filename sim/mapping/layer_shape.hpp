// The shape of one layer as the PE array sees it: a convolution with M output maps, N input maps,
// R x C output neurons per map and a K x K kernel applied with a stride. A fully connected layer is the
// special case R = C = K = 1 (M outputs, N inputs), so the mapper has a single code path for both.
//
// Padding is deliberately not part of the shape: the mapper counts every operand a PE consumes as a
// buffer read, and zero padding is consumed like any other neuron (the neuron buffer holds the padded map).
#pragma once

#include <cstdint>
#include <string>

namespace axsim::mapping {

struct LayerShape {
  std::string name;
  int M = 1;       // output feature maps
  int N = 1;       // input feature maps
  int R = 1;       // output rows per map
  int C = 1;       // output columns per map
  int K = 1;       // kernel rows = kernel columns
  int stride = 1;  // same stride along rows and columns

  static LayerShape conv(std::string name, int output_maps, int input_maps, int out_rows, int out_cols, int kernel,
                         int stride = 1) {
    return LayerShape{std::move(name), output_maps, input_maps, out_rows, out_cols, kernel, stride};
  }
  static LayerShape fully_connected(std::string name, int outputs, int inputs) {
    return LayerShape{std::move(name), outputs, inputs, 1, 1, 1, 1};
  }

  // Input map extent needed to produce R x C outputs (padding included, see above).
  int input_rows() const { return (R - 1) * stride + K; }
  int input_cols() const { return (C - 1) * stride + K; }

  std::int64_t macs() const { return std::int64_t{M} * N * R * C * K * K; }
  std::int64_t weight_count() const { return std::int64_t{M} * N * K * K; }
  std::int64_t output_count() const { return std::int64_t{M} * R * C; }
  std::int64_t input_count() const { return std::int64_t{N} * input_rows() * input_cols(); }
};

// Throws axsim::InputError naming `source` and the layer when a dimension is not a positive integer or
// the layer is too large to count in 64 bits.
void validate_layer_shape(const LayerShape& layer, const std::string& source);

}  // namespace axsim::mapping
