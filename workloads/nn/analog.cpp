#include "workloads/nn/analog.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "workloads/nn/layers.hpp"

namespace axsim::nn {

namespace {

const Parameter& effective_weight(Layer* layer) {
  for (Parameter* p : layer->parameters())
    if (p->is_weight) return *p;
  throw std::logic_error("analog layer " + layer->name() + " has no weight");
}

}  // namespace

float percentile(const float* values, std::size_t count, double q) {
  if (count == 0) return 0.0f;
  std::vector<float> v(values, values + count);
  const double pos = std::clamp(q, 0.0, 100.0) / 100.0 * double(count - 1);
  const auto k = std::size_t(std::llround(pos));
  std::nth_element(v.begin(), v.begin() + long(k), v.end());
  return v[k];
}

// ---------------------------------------------------------------- ActivationClip

ActivationClip::ActivationClip(std::string name, double init_percentile)
    : Layer(std::move(name)), init_percentile_(init_percentile) {
  if (!(init_percentile > 0.0 && init_percentile <= 100.0))
    throw_input_error("method", "threshold_init_percentile", "a percentile in (0, 100]",
                      std::to_string(init_percentile));
  threshold_.name = this->name() + ".threshold";
  threshold_.value = Tensor({1}, 0.0f);
  threshold_.grad = Tensor({1}, 0.0f);
  threshold_.is_weight = false;
  threshold_.decay = false;
}

void ActivationClip::forward(const Tensor& x, Tensor& y, const ForwardContext&) {
  if (!initialized()) {
    // Start where little is clipped: the paper initialises "higher than desired" and lets the penalty
    // pull the thresholds down. Fall back to the maximum, then to 1, if the batch is (nearly) all zero.
    float t = percentile(x.data(), x.size(), init_percentile_);
    if (!(t > 0.0f)) t = x.size() ? *std::max_element(x.vec().begin(), x.vec().end()) : 0.0f;
    if (!(t > 0.0f)) t = 1.0f;
    set_threshold(t);
  }
  const float t = threshold();
  y.resize(x.shape());
  const std::size_t n = x.size();
  const float* xs = x.data();
  float* ys = y.data();
  for (std::size_t i = 0; i < n; ++i) ys[i] = xs[i] > t ? t : xs[i];
}

void ActivationClip::backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) {
  const float t = threshold();
  const std::size_t n = x.size();
  const float* xs = x.data();
  const float* g = dy.data();
  double dt = 0.0;
  if (dx) dx->resize(x.shape());
  float* d = dx ? dx->data() : nullptr;
  for (std::size_t i = 0; i < n; ++i) {
    const bool clipped = xs[i] > t;
    if (clipped) dt += g[i];
    if (d) d[i] = clipped ? 0.0f : g[i];
  }
  threshold_.grad.resize({1});
  threshold_.grad[0] = float(dt);
}

// ---------------------------------------------------------------- AnalogInputTap

AnalogInputTap::AnalogInputTap(std::string name, std::optional<AnalogLayerParams> dac)
    : Layer(std::move(name)), dac_(std::move(dac)) {}

void AnalogInputTap::forward(const Tensor& x, Tensor& y, const ForwardContext&) {
  y.resize(x.shape());
  std::copy(x.vec().begin(), x.vec().end(), y.vec().begin());
  if (dac_) quantize_first_layer_inputs(*dac_, y.data(), y.size());
  last_ = &y;
  last_max_ = y.size() ? *std::max_element(y.vec().begin(), y.vec().end()) : 0.0f;
}

void AnalogInputTap::backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) {
  if (!dx) return;
  dx->resize(x.shape());
  std::copy(dy.vec().begin(), dy.vec().end(), dx->vec().begin());
}

// ---------------------------------------------------------------- AnalogNoise

AnalogNoise::AnalogNoise(std::string name, Layer* weight_layer, const AnalogInputTap* tap, AnalogLayerParams params,
                         std::uint64_t layer_id)
    : Layer(std::move(name)), weight_layer_(weight_layer), tap_(tap), params_(params), layer_id_(layer_id) {
  if (!dynamic_cast<Dense*>(weight_layer) && !dynamic_cast<Conv2d*>(weight_layer))
    throw_input_error("method", "analog layer " + weight_layer->name(), "a dense or conv2d layer",
                      "a " + weight_layer->kind() + " layer");
}

double AnalogNoise::resolved_x_max() const { return last_x_max_; }

AnalogNoise::Operands AnalogNoise::crossbar_operands(const Tensor& x) {
  const Tensor& w = effective_weight(weight_layer_).effective();
  Operands op;
  const int n = x.batch();
  if (auto* conv = dynamic_cast<Conv2d*>(weight_layer_)) {
    const int c_in = x.dim(1), h = x.dim(2), wd = x.dim(3), k = conv->kernel(), s = conv->stride(),
              pad = conv->padding();
    const int oh = (h + 2 * pad - k) / s + 1, ow = (wd + 2 * pad - k) / s + 1;
    op.in = std::size_t(c_in) * std::size_t(k * k);
    op.out = std::size_t(conv->out_channels());
    op.pixels = std::size_t(oh) * std::size_t(ow);
    op.n_rows = std::size_t(n) * op.pixels;
    rows_.resize(op.n_rows * op.in);
    const float* xs = x.data();
#pragma omp parallel for schedule(static)
    for (int b = 0; b < n; ++b)
      for (int r = 0; r < oh; ++r)
        for (int c = 0; c < ow; ++c) {
          float* row = rows_.data() +
                       ((std::size_t(b) * std::size_t(oh) + std::size_t(r)) * std::size_t(ow) + std::size_t(c)) * op.in;
          for (int ci = 0; ci < c_in; ++ci)
            for (int ki = 0; ki < k; ++ki) {
              const int ih = r * s - pad + ki;
              for (int kj = 0; kj < k; ++kj) {
                const int iw = c * s - pad + kj;
                const bool inside = ih >= 0 && ih < h && iw >= 0 && iw < wd;
                *row++ = inside ? xs[((std::size_t(b) * std::size_t(c_in) + std::size_t(ci)) * std::size_t(h) +
                                      std::size_t(ih)) *
                                         std::size_t(wd) +
                                     std::size_t(iw)]
                                : 0.0f;
              }
            }
        }
    op.rows = rows_.data();
  } else {
    op.in = x.sample_size();
    op.out = std::size_t(dynamic_cast<Dense*>(weight_layer_)->out_features());
    op.n_rows = std::size_t(n);
    op.rows = x.data();
  }
  // PyTorch layouts ([out, in] and [out, in_c, k, k]) -> the model's in x out.
  w_.resize(op.in * op.out);
  for (std::size_t o = 0; o < op.out; ++o)
    for (std::size_t i = 0; i < op.in; ++i) w_[i * op.out + o] = w[o * op.in + i];
  return op;
}

AnalogVmmLayer AnalogNoise::vmm() const {
  AnalogLayerParams p = params_;
  p.x_max = last_x_max_;
  return AnalogVmmLayer(p, w_.data(), w_.size() / std::max<std::size_t>(1, last_out_), last_out_);
}

void AnalogNoise::forward(const Tensor& x, Tensor& y, const ForwardContext& ctx) {
  y.resize(x.shape());
  std::copy(x.vec().begin(), x.vec().end(), y.vec().begin());
  if (ctx.training) observed_x_max_ = std::max(observed_x_max_, tap_->last_input_max());
  const bool noisy = mode_ == NoiseMode::always || (mode_ == NoiseMode::training_only && ctx.training);
  if (!noisy && !metering_) return;
  const Tensor* input = tap_->last_input();
  if (!input || input->batch() != x.batch())
    throw std::logic_error("analog noise " + name() + ": its input tap did not run in this forward pass");
  double x_max = params_.x_max;
  if (!params_.first_layer) {
    if (clip_)
      x_max = clip_->threshold();
    else if (x_max_from_batch_ || !(x_max > 0.0))
      x_max = tap_->last_input_max();
  }
  if (!(x_max > 0.0)) x_max = 1.0;  // an all-zero input: no current, no noise; any scale will do
  last_x_max_ = x_max;
  const Operands op = crossbar_operands(*input);
  last_out_ = op.out;
  const AnalogVmmLayer layer = vmm();
  if (metering_) {
    current_sum_na_ += layer.mean_current_na(op.rows, op.n_rows) * double(op.n_rows);
    metered_samples_ += std::uint64_t(x.batch());
  }
  if (!noisy) return;
  noise_.assign(op.n_rows * op.out, 0.0f);
  std::uint64_t stream, first = 0;
  if (ctx.training) {
    stream = stream_id({kAnalogNoiseStream, layer_id_, ctx.step});
  } else {
    stream = stream_id({kAnalogNoiseStream, layer_id_, eval_trial_ | (1ull << 63)});
    first = eval_first_sample_ * op.pixels;
  }
  layer.add_noise(op.rows, op.n_rows, noise_.data(), ctx.seed, stream, first);
  double sq = 0.0;
  for (float v : noise_) sq += double(v) * v;
  last_mean_variance_ = noise_.empty() ? 0.0 : sq / double(noise_.size());
  float* ys = y.data();
  if (op.pixels == 1) {
    for (std::size_t k = 0; k < noise_.size(); ++k) ys[k] += noise_[k];
  } else {
    // noise is (sample, pixel) x channel; y is NCHW.
    const std::size_t n = std::size_t(x.batch()), P = op.pixels, C = op.out;
    for (std::size_t b = 0; b < n; ++b)
      for (std::size_t c = 0; c < C; ++c) {
        float* yc = ys + (b * C + c) * P;
        const float* z = noise_.data() + b * P * C + c;
        for (std::size_t p = 0; p < P; ++p) yc[p] += z[p * C];
      }
  }
}

void AnalogNoise::backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) {
  if (!dx) return;
  dx->resize(x.shape());
  std::copy(dy.vec().begin(), dy.vec().end(), dx->vec().begin());
}

}  // namespace axsim::nn
