#include "workloads/quant/fold.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "models/fixed_point.hpp"
#include "workloads/kernels/gemm.hpp"

namespace axsim::quant {

namespace {

[[noreturn]] void unsupported(const nn::Layer& l, const std::string& expected, const std::string& found) {
  throw_input_error("network", "layer " + l.name(), expected, found);
}

// Index of the first layer at or after i that is not a Dropout (identity at inference).
std::size_t skip_dropout(const std::vector<nn::LayerPtr>& layers, std::size_t i) {
  while (i < layers.size() && layers[i]->kind() == "dropout") ++i;
  return i;
}

void set_geometry(FoldedLayer& f, const nn::Shape& in, const nn::Shape& out) {
  auto dims = [](const nn::Shape& s, int& c, int& h, int& w) {
    c = s.empty() ? 1 : s[0];
    h = s.size() > 1 ? s[1] : 1;
    w = s.size() > 2 ? s[2] : 1;
  };
  dims(in, f.in_c, f.in_h, f.in_w);
  dims(out, f.out_c, f.out_h, f.out_w);
}

FoldedLayer weight_layer(nn::Layer& layer, const nn::Shape& in, bool binarize_weights) {
  FoldedLayer f;
  f.name = layer.name();
  f.binary_weights = binarize_weights;
  nn::Parameter* weight = nullptr;
  nn::Parameter* bias = nullptr;
  if (auto* d = dynamic_cast<nn::Dense*>(&layer)) {
    f.kind = QOpKind::dense;
    weight = &d->weight();
    bias = d->bias();
  } else if (auto* c = dynamic_cast<nn::Conv2d*>(&layer)) {
    f.kind = QOpKind::conv2d;
    f.kernel = c->kernel();
    f.stride = c->stride();
    f.padding = c->padding();
    weight = &c->weight();
    bias = c->bias();
  }
  set_geometry(f, in, layer.output_shape(in));
  f.weights = weight->value.vec();
  if (binarize_weights)
    for (float& w : f.weights) w = float(binarize(w));
  if (bias) f.bias = bias->value.vec();
  return f;
}

// BN(y) = gamma * (y - mean) / sqrt(var + eps) + beta with y = W x + b  ==  (s W) x + (s (b - mean) + beta),
// s = gamma / sqrt(var + eps) per output channel. Computed in double, rounded once to float.
void fold_batchnorm(FoldedLayer& f, nn::BatchNorm& bn) {
  f.batchnorm = bn.name();
  const std::size_t per_channel = f.weights.size() / std::size_t(f.out_c);
  if (f.bias.empty()) f.bias.assign(std::size_t(f.out_c), 0.0f);
  for (int o = 0; o < f.out_c; ++o) {
    const double scale = double(bn.gamma().value[o]) / std::sqrt(double(bn.running_var()[o]) + double(bn.eps()));
    for (std::size_t j = 0; j < per_channel; ++j) {
      float& w = f.weights[std::size_t(o) * per_channel + j];
      w = float(double(w) * scale);
    }
    f.bias[o] = float((double(f.bias[o]) - double(bn.running_mean()[o])) * scale + double(bn.beta().value[o]));
  }
}

}  // namespace

FoldedNetwork fold_network(nn::Network& net, const FoldOptions& options) {
  FoldedNetwork folded;
  folded.name = net.spec().name;
  folded.input = net.spec().input;
  folded.classes = net.spec().classes;
  const auto& layers = net.layers();
  nn::Shape shape = folded.input;
  bool nonnegative = false;  // are the current values known to be >= 0 (so a ReLU is a no-op)?
  std::vector<bool> consumed(layers.size(), false);
  for (std::size_t i = 0; i < layers.size(); ++i) {
    nn::Layer& layer = *layers[i];
    const std::string kind = layer.kind();
    if (consumed[i] || kind == "dropout") continue;
    const nn::Shape out = layer.output_shape(shape);
    if (kind == "dense" || kind == "conv2d") {
      FoldedLayer f = weight_layer(layer, shape, options.binarize_weights);
      std::size_t next = skip_dropout(layers, i + 1);
      if (next < layers.size() && layers[next]->kind() == "batchnorm") {
        if (options.binarize_weights)
          unsupported(layer,
                      "a BinaryConnect layer without a following batchnorm (folding '" + layers[next]->name() +
                          "' would make the weights non-binary; evaluate it in float instead)",
                      "batchnorm '" + layers[next]->name() + "'");
        fold_batchnorm(f, dynamic_cast<nn::BatchNorm&>(*layers[next]));
        consumed[next] = true;
        next = skip_dropout(layers, next + 1);
      }
      if (next < layers.size() && layers[next]->kind() == "relu") {
        f.relu = true;
        consumed[next] = true;
      } else if (next < layers.size() && layers[next]->kind() == "maxpool") {
        // relu(maxpool(y)) == maxpool(relu(y)): a ReLU right after the max pooling is fused here.
        const std::size_t after = skip_dropout(layers, next + 1);
        if (after < layers.size() && layers[after]->kind() == "relu") {
          f.relu = true;
          consumed[after] = true;
        }
      }
      nonnegative = f.relu;
      folded.layers.push_back(std::move(f));
    } else if (kind == "relu") {
      if (!nonnegative)
        unsupported(layer, "a relu fused to a dense/conv2d layer (directly after it or after its batchnorm)",
                    "a relu on values that may be negative");
    } else if (kind == "maxpool" || kind == "avgpool" || kind == "flatten") {
      FoldedLayer f;
      f.name = layer.name();
      f.kind = kind == "maxpool" ? QOpKind::maxpool : (kind == "avgpool" ? QOpKind::avgpool : QOpKind::flatten);
      if (auto* p = dynamic_cast<nn::Pool2d*>(&layer)) {
        f.kernel = p->kernel();
        f.stride = p->stride();
      }
      set_geometry(f, shape, out);
      folded.layers.push_back(std::move(f));
    } else if (kind == "batchnorm") {
      unsupported(layer, "a batchnorm directly after a dense/conv2d layer (so it can be folded into it)",
                  "a batchnorm after a " + (i > 0 ? layers[i - 1]->kind() : std::string("network input")));
    } else {
      unsupported(layer,
                  "a layer the quantized path supports (dense, conv2d, batchnorm, relu, dropout, maxpool, avgpool, "
                  "flatten)",
                  "a " + kind + " layer");
    }
    shape = out;
  }
  if (folded.layers.empty() || !folded.layers.back().has_weights())
    throw_input_error("network", folded.layers.empty() ? "layers" : "layer " + folded.layers.back().name,
                      "a dense or conv2d last layer (its accumulators are the logits)",
                      folded.layers.empty() ? "no layers" : "a pooling/flatten layer");
  for (std::size_t i = 0; i < folded.layers.size(); ++i) {
    FoldedLayer& f = folded.layers[i];
    if (!f.has_weights()) continue;
    const bool last = i + 1 == folded.layers.size();
    if (last && f.relu)
      throw_input_error("network", "layer " + f.name, "no relu on the last layer (its outputs are the logits)",
                        "a relu");
    if (!last && !f.relu)
      throw_input_error("network", "layer " + f.name,
                        "a relu after every hidden dense/conv2d layer (activations are stored unsigned)",
                        "no relu (or a relu the quantized path cannot fuse)");
    f.is_output = last;
  }
  return folded;
}

namespace {

void add_bias_relu(float* y, std::size_t count, float bias, bool relu) {
  for (std::size_t j = 0; j < count; ++j) {
    const float v = y[j] + bias;
    y[j] = relu && v < 0.0f ? 0.0f : v;
  }
}

void forward_layer(const FoldedLayer& l, const float* x, std::size_t n, std::vector<float>& y) {
  y.assign(n * l.output_size(), 0.0f);
  const int in_size = int(l.input_size());
  switch (l.kind) {
    case QOpKind::dense: {
      kernels::sgemm(kernels::Trans::no, kernels::Trans::yes, int(n), l.out_c, in_size, 1.0f, x, in_size,
                     l.weights.data(), in_size, 0.0f, y.data(), l.out_c);
      for (std::size_t s = 0; s < n; ++s)
        for (int o = 0; o < l.out_c; ++o)
          add_bias_relu(&y[s * l.out_c + o], 1, l.bias.empty() ? 0.0f : l.bias[o], l.relu);
      break;
    }
    case QOpKind::conv2d: {
      const int k = l.kernel, fan_in = l.in_c * k * k, positions = l.out_h * l.out_w;
      std::vector<float> col(std::size_t(fan_in) * positions);
      for (std::size_t s = 0; s < n; ++s) {
        const float* image = x + s * l.input_size();
        for (int row = 0; row < fan_in; ++row) {
          const int c = row / (k * k), ki = (row / k) % k, kj = row % k;
          for (int oy = 0; oy < l.out_h; ++oy)
            for (int ox = 0; ox < l.out_w; ++ox) {
              const int iy = oy * l.stride - l.padding + ki, ix = ox * l.stride - l.padding + kj;
              const bool inside = iy >= 0 && iy < l.in_h && ix >= 0 && ix < l.in_w;
              col[std::size_t(row) * positions + oy * l.out_w + ox] =
                  inside ? image[(std::size_t(c) * l.in_h + iy) * l.in_w + ix] : 0.0f;
            }
        }
        float* out = y.data() + s * l.output_size();
        kernels::sgemm(kernels::Trans::no, kernels::Trans::no, l.out_c, positions, fan_in, 1.0f, l.weights.data(),
                       fan_in, col.data(), positions, 0.0f, out, positions);
        for (int o = 0; o < l.out_c; ++o)
          add_bias_relu(out + std::size_t(o) * positions, std::size_t(positions), l.bias.empty() ? 0.0f : l.bias[o],
                        l.relu);
      }
      break;
    }
    case QOpKind::maxpool:
    case QOpKind::avgpool: {
      const bool max = l.kind == QOpKind::maxpool;
      const float inverse_count = 1.0f / float(l.kernel * l.kernel);
      for (std::size_t plane = 0; plane < n * std::size_t(l.in_c); ++plane) {
        const float* src = x + plane * l.in_h * l.in_w;
        float* dst = y.data() + plane * l.out_h * l.out_w;
        for (int oy = 0; oy < l.out_h; ++oy)
          for (int ox = 0; ox < l.out_w; ++ox) {
            float acc = max ? -std::numeric_limits<float>::infinity() : 0.0f;
            for (int i = 0; i < l.kernel; ++i)
              for (int j = 0; j < l.kernel; ++j) {
                const float v = src[(oy * l.stride + i) * l.in_w + ox * l.stride + j];
                acc = max ? std::max(acc, v) : acc + v;
              }
            dst[oy * l.out_w + ox] = max ? acc : acc * inverse_count;
          }
      }
      break;
    }
    case QOpKind::flatten:
      std::copy(x, x + n * l.input_size(), y.begin());
      break;
  }
}

}  // namespace

void forward_folded(const FoldedNetwork& net, const float* x, std::size_t n, std::vector<float>& logits,
                    const FoldedLayerObserver& on_layer) {
  std::vector<float> a, b;
  const float* current = x;
  for (std::size_t i = 0; i < net.layers.size(); ++i) {
    std::vector<float>& out = (i % 2 == 0) ? a : b;
    forward_layer(net.layers[i], current, n, out);
    if (on_layer) on_layer(i, out);
    current = out.data();
  }
  const std::vector<float>& last = (net.layers.size() % 2 == 1) ? a : b;
  logits.assign(last.begin(), last.end());
}

}  // namespace axsim::quant
