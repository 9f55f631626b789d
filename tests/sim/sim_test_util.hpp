// Shared helpers of the simulator tests: small random QuantizedNetworks built in code, datasets, and hardware
// configurations written as YAML text (so the tests exercise the same strict loader users do).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "models/quantized_network.hpp"
#include "sim/hw_config.hpp"
#include "sim/schedule.hpp"
#include "sim/simulate.hpp"
#include "workloads/data/dataset.hpp"

namespace axsim::sim::testing {

inline std::string source_path(const std::string& relative) { return std::string(AXSIM_SOURCE_DIR) + "/" + relative; }
inline std::string technology_path() { return source_path("configs/tech/default-65nm.yaml"); }

inline std::vector<std::int8_t> random_weights(std::size_t n, std::uint64_t seed, int max_abs = 127) {
  CounterRng rng(seed, 11);
  std::vector<std::int8_t> w(n);
  for (auto& x : w) x = std::int8_t(std::int64_t(rng.below(std::uint64_t(2 * max_abs + 1))) - max_abs);
  return w;
}

inline std::vector<std::int32_t> random_bias(std::size_t n, std::uint64_t seed, int max_abs) {
  CounterRng rng(seed, 12);
  std::vector<std::int32_t> b(n);
  for (auto& x : b) x = std::int32_t(std::int64_t(rng.below(std::uint64_t(2 * max_abs + 1))) - max_abs);
  return b;
}

// Activation codes u8f5 (0..127); weights s8f7; the accumulator shift 7 brings sums of ~N products of
// ~64 x 64 back into range with enough spread to keep ReLU outputs varied.
inline FixedPointFormat act_format(int frac = 5) { return FixedPointFormat::power_of_two(8, frac, false); }
inline FixedPointFormat weight_format() { return FixedPointFormat::power_of_two(8, 7, true); }

inline QLayer dense_layer(const std::string& name, int in, int out, bool is_output, std::uint64_t seed,
                          const FixedPointFormat& input_format, Multiplier multiplier = Multiplier::exact(8)) {
  QLayer l;
  l.name = name;
  l.kind = QOpKind::dense;
  l.in_c = in;
  l.out_c = out;
  l.weight_format = weight_format();
  l.input_format = input_format;
  // Output step chosen so that a typical accumulator (sqrt(in) * 40 * 64 codes) maps to tens of codes.
  l.output_format = act_format(input_format.frac_bits + 7 - 9);
  l.weights = random_weights(std::size_t(in) * out, seed, 40);
  l.bias = random_bias(std::size_t(out), seed, 2000);
  l.relu = !is_output;
  l.is_output = is_output;
  l.multiplier = multiplier;
  return l;
}

// An MLP sizes[0] -> sizes[1] -> ... with ReLU on hidden layers; input format u8f7 (features in [0,1]).
inline QuantizedNetwork random_mlp(const std::vector<int>& sizes, std::uint64_t seed,
                                   Multiplier multiplier = Multiplier::exact(8)) {
  QuantizedNetwork net;
  net.name = "test-mlp";
  net.input_format = FixedPointFormat::power_of_two(8, 7, false);
  net.classes = sizes.back();
  FixedPointFormat in = net.input_format;
  for (std::size_t i = 0; i + 1 < sizes.size(); ++i) {
    const bool last = i + 2 == sizes.size();
    net.layers.push_back(
        dense_layer("fc" + std::to_string(i + 1), sizes[i], sizes[i + 1], last, seed + i, in, multiplier));
    in = net.layers.back().output_format;
  }
  return net;
}

// conv(1 -> 4, 3x3, pad 1) on 1x8x8 -> ReLU -> pool 2x2 -> conv(4 -> 6, 3x3, stride 1, pad 0) -> flatten -> dense 10.
inline QuantizedNetwork small_cnn(std::uint64_t seed, QOpKind pool = QOpKind::maxpool,
                                  Multiplier multiplier = Multiplier::exact(8)) {
  QuantizedNetwork net;
  net.name = "test-cnn";
  net.input_format = FixedPointFormat::power_of_two(8, 7, false);
  net.classes = 10;
  QLayer c1;
  c1.name = "conv1";
  c1.kind = QOpKind::conv2d;
  c1.in_c = 1, c1.in_h = 8, c1.in_w = 8, c1.out_c = 4, c1.out_h = 8, c1.out_w = 8, c1.kernel = 3, c1.padding = 1;
  c1.weight_format = weight_format();
  c1.input_format = net.input_format;
  c1.output_format = act_format(6);
  c1.weights = random_weights(4 * 9, seed, 60);
  c1.bias = random_bias(4, seed, 500);
  c1.relu = true;
  c1.multiplier = multiplier;
  QLayer p;
  p.name = "pool1";
  p.kind = pool;
  p.in_c = 4, p.in_h = 8, p.in_w = 8, p.out_c = 4, p.out_h = 4, p.out_w = 4, p.kernel = 2, p.stride = 2;
  p.input_format = p.output_format = c1.output_format;
  QLayer c2;
  c2.name = "conv2";
  c2.kind = QOpKind::conv2d;
  c2.in_c = 4, c2.in_h = 4, c2.in_w = 4, c2.out_c = 6, c2.out_h = 2, c2.out_w = 2, c2.kernel = 3;
  c2.weight_format = weight_format();
  c2.input_format = c1.output_format;
  c2.output_format = act_format(4);
  c2.weights = random_weights(6 * 4 * 9, seed + 1, 60);
  c2.bias = random_bias(6, seed + 1, 500);
  c2.relu = true;
  c2.multiplier = multiplier;
  QLayer f;
  f.name = "flatten";
  f.kind = QOpKind::flatten;
  f.in_c = 6, f.in_h = 2, f.in_w = 2, f.out_c = 24;
  f.input_format = f.output_format = c2.output_format;
  QLayer d = dense_layer("fc", 24, 10, true, seed + 2, c2.output_format, multiplier);
  net.layers = {c1, p, c2, f, d};
  return net;
}

// conv(2 -> 5, 3x3, stride 2, pad 1) on 2x9x9 -> 5x5x5 -> conv(5 -> 3, 1x1, stride 2) -> 3x3x3 -> flatten -> dense 4.
// The 1x1 stride-2 conv has windows that do not overlap (kernel < stride).
inline QuantizedNetwork strided_cnn(std::uint64_t seed) {
  QuantizedNetwork net;
  net.name = "test-strided";
  net.input_format = FixedPointFormat::power_of_two(8, 7, false);
  net.classes = 4;
  QLayer c1;
  c1.name = "conv1";
  c1.kind = QOpKind::conv2d;
  c1.in_c = 2, c1.in_h = 9, c1.in_w = 9, c1.out_c = 5, c1.out_h = 5, c1.out_w = 5, c1.kernel = 3, c1.stride = 2;
  c1.padding = 1;
  c1.weight_format = weight_format();
  c1.input_format = net.input_format;
  c1.output_format = act_format(6);
  c1.weights = random_weights(5 * 2 * 9, seed, 60);
  c1.bias = random_bias(5, seed, 500);
  c1.relu = true;
  QLayer c2 = c1;
  c2.name = "conv2";
  c2.in_c = 5, c2.in_h = 5, c2.in_w = 5, c2.out_c = 3, c2.out_h = 3, c2.out_w = 3, c2.kernel = 1, c2.stride = 2;
  c2.padding = 0;
  c2.input_format = c1.output_format;
  c2.output_format = act_format(5);
  c2.weights = random_weights(3 * 5, seed + 1, 60);
  c2.bias = random_bias(3, seed + 1, 500);
  QLayer f;
  f.name = "flatten";
  f.kind = QOpKind::flatten;
  f.in_c = 3, f.in_h = 3, f.in_w = 3, f.out_c = 27;
  f.input_format = f.output_format = c2.output_format;
  net.layers = {c1, c2, f, dense_layer("fc", 27, 4, true, seed + 2, c2.output_format)};
  return net;
}

// n samples of `features` values uniform in [0, 1] (on the u8f7 grid, so quantization is exact), labels 0.
inline Dataset random_dataset(std::size_t n, std::size_t features, int classes, std::uint64_t seed,
                              std::vector<std::size_t> shape = {}) {
  Dataset d;
  d.name = "random";
  d.source = "<random test data>";
  d.sample_shape = shape.empty() ? std::vector<std::size_t>{features} : shape;
  d.size = n;
  d.num_classes = classes;
  d.features.resize(n * features);
  CounterRng rng(seed, 21);
  for (auto& x : d.features) x = float(rng.below(128)) / 128.0f;
  d.labels.assign(n, 0);
  for (int c = 0; c < classes; ++c) d.class_names.push_back(std::to_string(c));
  return d;
}

// A hardware config from YAML text; `body` holds every key but version and technology.
inline HardwareConfig hw_from(const std::string& body) {
  return parse_hardware_config("version: 1\ntechnology: " + technology_path() + "\n" + body, "test-hw.yaml");
}

// The 4x4 test array, with knobs for the tests.
inline std::string small_hw_yaml(const std::string& timing = "fast", const std::string& weight_fault = "",
                                 const std::string& neuron_fault = "", const std::string& extra = "", int rows = 4,
                                 int cols = 4) {
  std::string y = "name: small\nclock: 250MHz\ntiming: " + timing + "\npe_array: {rows: " + std::to_string(rows) +
                  ", cols: " + std::to_string(cols) +
                  ", multiplier_stages: 1, writeback_cycles: 1, local_store_words: 16}\n"
                  "weight_buffer: {size: 8KiB, banks: 2, word_bits: 8, read_ports: 2, domain: weight_sram";
  if (!weight_fault.empty()) y += ", fault: " + weight_fault;
  y += "}\nneuron_buffer: {size: 4KiB, banks: 2, word_bits: 8, read_ports: 2, domain: neuron_sram";
  if (!neuron_fault.empty()) y += ", fault: " + neuron_fault;
  y += "}\n" + extra;
  return y;
}

// EXPECT that `text` contains `part` (printing the text when it does not).
#define EXPECT_CONTAINS(text, part)                                      \
  do {                                                                   \
    const std::string axsim_text_ = (text);                              \
    EXPECT_NE(axsim_text_.find(part), std::string::npos) << axsim_text_; \
  } while (0)

inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

// Binomial bounds: the number of successes k of n trials at rate p lies in [lo, hi] with probability >= 99.9 %
// (normal approximation with continuity correction; the tests use n*p in the hundreds or more).
inline std::pair<double, double> binomial_999(double n, double p) {
  const double z = 3.2905;  // two-sided 99.9 %
  const double sd = std::sqrt(n * p * (1 - p));
  return {n * p - z * sd - 0.5, n * p + z * sd + 0.5};
}

}  // namespace axsim::sim::testing

namespace axsim::sim::testing {

// Naive reference of the QuantizedNetwork semantics (models/quantized_network.hpp), written independently of
// the simulator and of workloads/quant: direct loops, zero padding, max pool / average pool on codes.
inline std::vector<std::int64_t> naive_logits(const QuantizedNetwork& net, std::span<const float> features) {
  std::vector<std::int64_t> x(features.size());
  for (std::size_t i = 0; i < features.size(); ++i) x[i] = net.input_format.quantize(features[i]);
  for (const QLayer& l : net.layers) {
    std::vector<std::int64_t> y(l.output_size());
    const int k = l.kernel, s = l.stride, p = l.padding;
    auto in_at = [&](int c, int yy, int xx) -> std::int64_t {
      if (yy < 0 || yy >= l.in_h || xx < 0 || xx >= l.in_w) return 0;
      return x[(std::size_t(c) * l.in_h + std::size_t(yy)) * l.in_w + std::size_t(xx)];
    };
    switch (l.kind) {
      case QOpKind::dense:
      case QOpKind::conv2d:
        for (int m = 0; m < l.out_c; ++m)
          for (int oy = 0; oy < l.out_h; ++oy)
            for (int ox = 0; ox < l.out_w; ++ox) {
              std::int64_t acc = l.bias.empty() ? 0 : l.bias[std::size_t(m)];
              for (int n = 0; n < l.in_c; ++n)
                for (int i = 0; i < k; ++i)
                  for (int j = 0; j < k; ++j) {
                    const std::int64_t w = l.weights[((std::size_t(m) * l.in_c + std::size_t(n)) * k + i) * k + j];
                    acc +=
                        l.multiplier.multiply(std::int32_t(w), std::int32_t(in_at(n, oy * s - p + i, ox * s - p + j)));
                  }
              y[(std::size_t(m) * l.out_h + std::size_t(oy)) * l.out_w + std::size_t(ox)] =
                  l.is_output ? acc : requantize(acc, l.accumulator_shift(), l.output_format, l.relu);
            }
        break;
      case QOpKind::maxpool:
      case QOpKind::avgpool:
        for (int c = 0; c < l.out_c; ++c)
          for (int oy = 0; oy < l.out_h; ++oy)
            for (int ox = 0; ox < l.out_w; ++ox) {
              std::int64_t best = INT64_MIN, sum = 0;
              for (int i = 0; i < k; ++i)
                for (int j = 0; j < k; ++j) {
                  const std::int64_t v = in_at(c, oy * s + i, ox * s + j);
                  best = std::max(best, v);
                  sum += v;
                }
              y[(std::size_t(c) * l.out_h + std::size_t(oy)) * l.out_w + std::size_t(ox)] =
                  l.kind == QOpKind::maxpool ? best : average_codes(sum, k * k);
            }
        break;
      case QOpKind::flatten:
        y = x;
        break;
    }
    x = std::move(y);
  }
  return x;
}

}  // namespace axsim::sim::testing
