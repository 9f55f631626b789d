// Shared by the quantized-inference tests: an independent naive scalar reference of the integer
// semantics in models/quantized_network.hpp, random quantized networks, and small trained toy problems.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "core/rng.hpp"
#include "models/drum.hpp"
#include "models/quantized_network.hpp"
#include "workloads/nn/loss.hpp"
#include "workloads/nn/network.hpp"
#include "workloads/nn/optimizer.hpp"

namespace axsim::quant::testing {

// Hooks that let the reference reproduce a faulty run: the weight codes one inference reads, and the
// faults on the input codes of a layer.
struct ReferenceHooks {
  std::function<std::vector<std::int8_t>(std::size_t layer)> weights;                 // empty: layer.weights
  std::function<void(std::size_t layer, std::span<std::uint8_t> codes)> activations;  // empty: none
};

// One inference, written straight from the header's definitions: per output element
// acc = bias + sum drum_multiply(w, a, k) (k = 32 for the exact multiplier), then requantize or logits.
inline std::vector<std::int32_t> reference_logits(const QuantizedNetwork& net, std::vector<std::uint8_t> input,
                                                  const ReferenceHooks& hooks = {}) {
  std::vector<std::int64_t> a(input.begin(), input.end());
  for (std::size_t li = 0; li < net.layers.size(); ++li) {
    const QLayer& l = net.layers[li];
    const int k = l.multiplier.kind == Multiplier::Kind::exact ? 32 : l.multiplier.k;
    std::vector<std::int64_t> out(l.output_size());
    if (l.kind == QOpKind::dense || l.kind == QOpKind::conv2d) {
      if (hooks.activations) {
        std::vector<std::uint8_t> codes(a.begin(), a.end());
        hooks.activations(li, codes);
        a.assign(codes.begin(), codes.end());
      }
      const std::vector<std::int8_t> w = hooks.weights ? hooks.weights(li) : l.weights;
      for (int o = 0; o < l.out_c; ++o)
        for (int oy = 0; oy < l.out_h; ++oy)
          for (int ox = 0; ox < l.out_w; ++ox) {
            std::int64_t acc = l.bias.empty() ? 0 : l.bias[o];
            for (int c = 0; c < l.in_c; ++c)
              for (int ki = 0; ki < l.kernel; ++ki)
                for (int kj = 0; kj < l.kernel; ++kj) {
                  const int iy = oy * l.stride - l.padding + ki, ix = ox * l.stride - l.padding + kj;
                  if (iy < 0 || iy >= l.in_h || ix < 0 || ix >= l.in_w) continue;
                  const std::int32_t weight = w[((std::size_t(o) * l.in_c + c) * l.kernel + ki) * l.kernel + kj];
                  const std::int32_t activation = std::int32_t(a[(std::size_t(c) * l.in_h + iy) * l.in_w + ix]);
                  acc += drum_multiply(weight, activation, k);
                }
            const std::size_t index = (std::size_t(o) * l.out_h + oy) * l.out_w + ox;
            out[index] = l.is_output ? acc : requantize(acc, l.accumulator_shift(), l.output_format, l.relu);
          }
    } else if (l.kind == QOpKind::maxpool || l.kind == QOpKind::avgpool) {
      for (int c = 0; c < l.in_c; ++c)
        for (int oy = 0; oy < l.out_h; ++oy)
          for (int ox = 0; ox < l.out_w; ++ox) {
            std::int64_t best = -1, sum = 0;
            for (int i = 0; i < l.kernel; ++i)
              for (int j = 0; j < l.kernel; ++j) {
                const std::int64_t v = a[(std::size_t(c) * l.in_h + oy * l.stride + i) * l.in_w + ox * l.stride + j];
                best = std::max(best, v);
                sum += v;
              }
            out[(std::size_t(c) * l.out_h + oy) * l.out_w + ox] =
                l.kind == QOpKind::maxpool ? best : average_codes(sum, l.kernel * l.kernel);
          }
    } else {
      out = a;  // flatten
    }
    a = std::move(out);
  }
  return std::vector<std::int32_t>(a.begin(), a.end());
}

// ---- random quantized networks ----

struct LayerPlan {
  QOpKind kind;
  int out = 0;  // dense: features; conv: channels
  int kernel = 1, stride = 1, padding = 0;
};

inline int random_int(CounterRng& rng, int lo, int hi) { return lo + int(rng.below(std::uint64_t(hi - lo + 1))); }

// A valid network with random codes: weight codes uniform in the format's range, bias up to +-2^12,
// and output steps chosen so that requantized codes spread over the range (neither all 0 nor saturated).
inline QuantizedNetwork random_network(std::vector<LayerPlan> plan, int in_c, int in_h, int in_w, Multiplier m,
                                       std::uint64_t seed, int activation_bits = 8, int weight_bits = 8) {
  CounterRng rng(seed, 77);
  QuantizedNetwork net;
  net.name = "random";
  net.input_format = FixedPointFormat::power_of_two(activation_bits, activation_bits - 1, false);
  FixedPointFormat current = net.input_format;
  int c = in_c, h = in_h, w = in_w;
  for (std::size_t i = 0; i < plan.size(); ++i) {
    const LayerPlan& p = plan[i];
    QLayer l;
    l.name = "layer" + std::to_string(i);
    l.kind = p.kind;
    l.in_c = c, l.in_h = h, l.in_w = w;
    l.kernel = p.kind == QOpKind::dense || p.kind == QOpKind::flatten ? 1 : p.kernel;
    l.stride = p.kind == QOpKind::dense || p.kind == QOpKind::flatten ? 1 : p.stride;
    l.padding = p.kind == QOpKind::conv2d ? p.padding : 0;
    l.input_format = l.output_format = current;
    switch (p.kind) {
      case QOpKind::dense:
        l.out_c = p.out, l.out_h = l.out_w = 1;
        break;
      case QOpKind::conv2d:
        l.out_c = p.out;
        l.out_h = (h + 2 * l.padding - l.kernel) / l.stride + 1;
        l.out_w = (w + 2 * l.padding - l.kernel) / l.stride + 1;
        break;
      case QOpKind::maxpool:
      case QOpKind::avgpool:
        l.out_c = c, l.out_h = (h - l.kernel) / l.stride + 1, l.out_w = (w - l.kernel) / l.stride + 1;
        break;
      case QOpKind::flatten:
        l.out_c = c * h * w, l.out_h = l.out_w = 1;
        break;
    }
    if (l.has_weights()) {
      l.multiplier = m;
      l.weight_format = FixedPointFormat::power_of_two(weight_bits, random_int(rng, 4, 9), true);
      const std::size_t fan_in = std::size_t(l.in_c) * l.kernel * l.kernel;
      l.weights.resize(fan_in * l.out_c);
      for (auto& code : l.weights)
        code = std::int8_t(random_int(rng, l.weight_format.min_code(), l.weight_format.max_code()));
      if (rng.below(4) != 0) {
        l.bias.resize(l.out_c);
        for (auto& b : l.bias) b = random_int(rng, -4096, 4096);
      }
      l.is_output = i + 1 == plan.size();
      l.relu = !l.is_output;
      if (!l.is_output) {
        // |acc| ~ sqrt(fan_in) * max_w/2 * max_a/2; choose the shift that maps it to about half the range.
        const double typical = std::sqrt(double(fan_in)) * 0.3 * l.weight_format.max_code() * current.max_code();
        const int shift =
            int(std::lround(std::log2(typical / (0.5 * (1 << (activation_bits - 1)))))) + random_int(rng, -1, 1);
        l.output_format = FixedPointFormat::power_of_two(activation_bits,
                                                         l.weight_format.frac_bits + current.frac_bits - shift, false);
        current = l.output_format;
      }
    }
    c = l.out_c, h = l.out_h, w = l.out_w;
    net.layers.push_back(std::move(l));
  }
  net.classes = c * h * w;
  return net;
}

inline std::vector<std::uint8_t> random_codes(std::size_t n, int max_code, std::uint64_t seed) {
  CounterRng rng(seed, 99);
  std::vector<std::uint8_t> codes(n);
  for (auto& v : codes) v = std::uint8_t(rng.below(std::uint64_t(max_code) + 1));
  return codes;
}

// ---- toy problems for quantization-agreement tests ----

struct ToyData {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  std::size_t n = 0;
  std::size_t features = 0;
};

// Gaussian blobs in [0, 1]^features: class centers uniform in [0.2, 0.8], noise sigma 0.1, clipped.
inline ToyData make_blobs(std::size_t n, int features, int classes, std::uint64_t seed) {
  CounterRng centers_rng(1234, 1);  // the same classes for train and test sets
  std::vector<float> centers(std::size_t(classes) * features);
  for (auto& v : centers) v = float(0.2 + 0.6 * centers_rng.uniform());
  CounterRng rng(seed, 2);
  ToyData d;
  d.n = n;
  d.features = std::size_t(features);
  for (std::size_t i = 0; i < n; ++i) {
    const int label = int(rng.below(std::uint64_t(classes)));
    d.y.push_back(label);
    for (int f = 0; f < features; ++f)
      d.x.push_back(std::clamp(float(centers[std::size_t(label) * features + f] + 0.1 * rng.normal()), 0.0f, 1.0f));
  }
  return d;
}

// 1 x size x size images: class c is a bright bar (horizontal for even c, vertical for odd) at a
// class-specific position, on a noisy background.
inline ToyData make_bars(std::size_t n, int size, int classes, std::uint64_t seed) {
  CounterRng rng(seed, 3);
  ToyData d;
  d.n = n;
  d.features = std::size_t(size) * size;
  for (std::size_t i = 0; i < n; ++i) {
    const int label = int(rng.below(std::uint64_t(classes)));
    d.y.push_back(label);
    const int position = 2 + (label / 2) * ((size - 4) / std::max(1, (classes - 1) / 2));
    for (int r = 0; r < size; ++r)
      for (int c = 0; c < size; ++c) {
        const bool on = (label % 2 == 0) ? (r == position || r == position + 1) : (c == position || c == position + 1);
        d.x.push_back(std::clamp(float((on ? 0.8 : 0.1) + 0.1 * rng.normal()), 0.0f, 1.0f));
      }
  }
  return d;
}

// Mini-batch SGD with momentum (batch 32, samples drawn with replacement).
inline void train(nn::Network& net, const ToyData& d, int steps, float lr, std::uint64_t seed) {
  auto optimizer = nn::make_sgd({0.9f, 0.0f, 0.0f, false});
  auto params = net.parameters();
  optimizer->bind(params);
  constexpr int kBatch = 32;
  nn::Shape shape{kBatch};
  for (int s : net.spec().input) shape.push_back(s);
  nn::Tensor x(shape), dlogits;
  std::vector<std::int32_t> y(kBatch);
  CounterRng rng(seed, 4);
  for (int step = 0; step < steps; ++step) {
    for (int b = 0; b < kBatch; ++b) {
      const std::size_t i = rng.below(d.n);
      std::copy_n(d.x.begin() + std::ptrdiff_t(i * d.features), d.features, x.data() + std::size_t(b) * d.features);
      y[b] = d.y[i];
    }
    nn::ForwardContext ctx;
    ctx.training = true;
    ctx.seed = seed;
    ctx.step = std::uint64_t(step);
    const nn::Tensor& logits = net.forward(x, ctx);
    nn::softmax_cross_entropy(logits, y.data(), dlogits);
    net.backward(dlogits);
    optimizer->step(params, lr);
  }
}

// Float predictions of the network in inference mode.
inline std::vector<int> float_predictions(nn::Network& net, const ToyData& d) {
  nn::Shape shape{int(d.n)};
  for (int s : net.spec().input) shape.push_back(s);
  nn::Tensor x(shape);
  std::copy(d.x.begin(), d.x.end(), x.data());
  nn::ForwardContext ctx;
  const nn::Tensor& logits = net.forward(x, ctx);
  std::vector<int> out;
  nn::argmax_rows(logits, out);
  return out;
}

inline nn::LayerSpec layer(std::string type, std::string name, int out = 0, int kernel = 0, int stride = 0,
                           int padding = 0) {
  nn::LayerSpec s;
  s.type = std::move(type);
  s.name = std::move(name);
  s.out = out;
  s.kernel = kernel;
  s.stride = stride;
  s.padding = padding;
  return s;
}

}  // namespace axsim::quant::testing
