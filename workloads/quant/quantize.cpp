#include "workloads/quant/quantize.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "core/error.hpp"
#include "workloads/quant/executor.hpp"

namespace axsim::quant {

namespace {

constexpr const char* kOptions = "<quantize options>";

void check_options(const FoldedNetwork& folded, int calib_n, const QuantizeOptions& o) {
  if (o.weight_bits < 1 || o.weight_bits > 8)
    throw_input_error(kOptions, "weight_bits", "1 (BinaryConnect) or 2..8", std::to_string(o.weight_bits));
  if (o.activation_bits < 2 || o.activation_bits > 9)
    throw_input_error(kOptions, "activation_bits", "2..9 (unsigned; 9 stores codes 0..255)",
                      std::to_string(o.activation_bits));
  if (!(o.activation_quantile > 0.0 && o.activation_quantile <= 1.0))
    throw_input_error(kOptions, "activation_quantile", "a quantile in (0, 1]", std::to_string(o.activation_quantile));
  const FixedPointFormat& in = o.input_format;
  if (!in.invalid_reason().empty() || in.is_signed || !in.has_power_of_two_step() || !in.codes_fit<std::uint8_t>())
    throw_input_error(kOptions, "input_format", "an unsigned power-of-two format of at most 9 bits (e.g. u8f7)",
                      in.invalid_reason().empty() ? in.to_string() : in.invalid_reason());
  if (calib_n < 1)
    throw_input_error(kOptions, "calibration", "at least one calibration sample", std::to_string(calib_n));
  std::vector<std::string> names;
  for (const FoldedLayer& l : folded.layers)
    if (l.has_weights()) names.push_back(l.name);
  for (const auto& [name, m] : o.layer_multipliers)
    if (std::find(names.begin(), names.end(), name) == names.end())
      throw_input_error(kOptions, "layer_multipliers." + name, "the name of a dense/conv2d layer of " + folded.name,
                        "'" + name + "'", closest_match(name, names));
}

// Calibration range of every hidden dense/conv layer's output (after ReLU): the maximum, or the
// requested quantile of all its output values.
std::vector<double> calibrate(const FoldedNetwork& folded, const float* x, int n, double quantile) {
  const std::size_t count = folded.layers.size();
  std::vector<double> range(count, 0.0);
  std::vector<std::vector<float>> values(quantile < 1.0 ? count : 0);
  const std::size_t in = folded.layers.front().input_size();
  constexpr int kChunk = 256;
  std::vector<float> logits;
  for (int done = 0; done < n; done += kChunk) {
    const int m = std::min(kChunk, n - done);
    forward_folded(folded, x + std::size_t(done) * in, std::size_t(m), logits,
                   [&](std::size_t i, const std::vector<float>& out) {
                     const FoldedLayer& l = folded.layers[i];
                     if (!l.has_weights() || l.is_output) return;
                     if (quantile < 1.0) {
                       values[i].insert(values[i].end(), out.begin(), out.end());
                     } else {
                       for (float v : out) range[i] = std::max(range[i], double(v));
                     }
                   });
  }
  if (quantile < 1.0)
    for (std::size_t i = 0; i < count; ++i) {
      auto& v = values[i];
      if (v.empty()) continue;
      const std::size_t rank = std::min(v.size() - 1, std::size_t(std::ceil(quantile * double(v.size()))) - 1);
      std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(rank), v.end());
      range[i] = std::max(0.0, double(v[rank]));
    }
  return range;
}

}  // namespace

QuantizedNetwork quantize_folded(const FoldedNetwork& folded, const float* calib_x, int calib_n,
                                 const QuantizeOptions& o) {
  check_options(folded, calib_n, o);
  const std::vector<double> range = calibrate(folded, calib_x, calib_n, o.activation_quantile);

  QuantizedNetwork q;
  q.name = folded.name;
  q.input_format = o.input_format;
  q.classes = folded.classes;
  FixedPointFormat current = o.input_format;
  for (std::size_t i = 0; i < folded.layers.size(); ++i) {
    const FoldedLayer& f = folded.layers[i];
    QLayer l;
    l.name = f.name;
    l.kind = f.kind;
    l.in_c = f.in_c, l.in_h = f.in_h, l.in_w = f.in_w;
    l.out_c = f.out_c, l.out_h = f.out_h, l.out_w = f.out_w;
    l.kernel = f.kernel, l.stride = f.stride, l.padding = f.padding;
    l.input_format = current;
    l.output_format = current;
    if (f.has_weights()) {
      l.relu = f.relu;
      l.is_output = f.is_output;
      const auto m = o.layer_multipliers.find(f.name);
      l.multiplier = m == o.layer_multipliers.end() ? o.multiplier : m->second;
      if (o.weight_bits == 1) {
        if (!f.binary_weights)
          throw_input_error(kOptions, "weight_bits", "a network folded with binarize_weights for weight_bits = 1",
                            "real-valued weights in layer " + f.name);
        l.binary_weights = true;
        l.weight_format = FixedPointFormat::power_of_two(2, 0, true);
        l.weights.assign(f.weights.begin(), f.weights.end());  // exactly -1/+1
        for (auto& w : l.weights) w = w > 0 ? 1 : -1;
      } else {
        double max_abs = 0.0;
        for (float w : f.weights) max_abs = std::max(max_abs, double(std::fabs(w)));
        l.weight_format = FixedPointFormat::covering(max_abs, o.weight_bits, true, true);
        l.weights.resize(f.weights.size());
        quantize(l.weight_format, std::span<const float>(f.weights), std::span<std::int8_t>(l.weights));
      }
      const int accumulator_frac = l.weight_format.frac_bits + l.input_format.frac_bits;
      if (!f.is_output) {
        FixedPointFormat out = FixedPointFormat::covering(range[i], o.activation_bits, false);
        // Keep the accumulator shift in [-31, 62] (validate()); only a degenerate range reaches the limits.
        out.frac_bits = std::clamp(out.frac_bits, accumulator_frac - 62, accumulator_frac + 31);
        l.output_format = out;
        current = out;
      }
      if (!f.bias.empty()) {
        // Bias at the accumulator step, clamped so that bias + products always fits int32.
        const double limit = double(std::numeric_limits<std::int32_t>::max() - accumulator_bound(l));
        if (limit < 0)
          throw_input_error("network", "layer " + f.name, "a layer whose products fit int32 accumulators",
                            std::to_string(accumulator_bound(l)) + " as the largest sum of products");
        l.bias.resize(f.bias.size());
        for (std::size_t j = 0; j < f.bias.size(); ++j) {
          const double code = std::nearbyint(std::ldexp(double(f.bias[j]), accumulator_frac));
          l.bias[j] = std::int32_t(std::clamp(code == code ? code : 0.0, -limit, limit));
        }
      }
    }
    q.layers.push_back(std::move(l));
  }
  validate(q, "quantized network " + q.name);
  return q;
}

QuantizedNetwork quantize_network(nn::Network& net, const float* calib_x, int calib_n, const QuantizeOptions& o) {
  FoldOptions fold;
  fold.binarize_weights = o.weight_bits == 1;
  return quantize_folded(fold_network(net, fold), calib_x, calib_n, o);
}

}  // namespace axsim::quant
