#include "models/analog_vmm.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "core/rng.hpp"
#include "core/units.hpp"

namespace axsim {

namespace {

// Below this many multiply-adds a parallel region costs more than it saves.
constexpr std::size_t kParallelWork = 1 << 15;

}  // namespace

double shot_noise_na(double bandwidth_hz) { return 2.0 * kElectronChargeCoulomb * bandwidth_hz * 1e9; }

void AnalogLayerParams::validate() const {
  auto bad = [](const std::string& what) { throw std::invalid_argument("analog layer params: " + what); };
  if (!(i_max_na > 0.0) || !std::isfinite(i_max_na)) bad("i_max must be > 0 nA, got " + std::to_string(i_max_na));
  if (!(bandwidth_hz > 0.0) || !std::isfinite(bandwidth_hz)) bad("bandwidth must be > 0 Hz");
  if (!(x_max > 0.0) || !std::isfinite(x_max)) bad("x_max must be > 0, got " + std::to_string(x_max));
  if (!(w_max >= 0.0) || !std::isfinite(w_max)) bad("w_max must be >= 0 (0 = from the weights)");
  if (input_bits < 1 || input_bits > 16) bad("input_bits must be in [1, 16], got " + std::to_string(input_bits));
  if (!(i_res_na >= 0.0) || !std::isfinite(i_res_na)) bad("i_res must be >= 0 nA");
  if (!(vdd > 0.0) || !std::isfinite(vdd)) bad("vdd must be > 0 V");
}

AnalogLayerParams load_analog_layer_params(const ConfigNode& node, const AnalogLayerParams& defaults) {
  node.expect_keys({"i_max", "bandwidth", "x_max", "w_max", "input_bits", "first_layer", "i_res", "vdd"});
  AnalogLayerParams p = defaults;
  auto positive = [&](const char* key, double v) {
    if (!(v > 0.0)) node.child(key).fail("a positive value", std::to_string(v));
    return v;
  };
  p.i_max_na = positive("i_max", node.quantity("i_max", Dim::ampere, defaults.i_max_na * 1e-9) * 1e9);
  p.bandwidth_hz = positive("bandwidth", node.quantity("bandwidth", Dim::hertz, defaults.bandwidth_hz));
  p.x_max = positive("x_max", node.num("x_max", defaults.x_max));
  p.w_max = node.num("w_max", defaults.w_max);
  if (!(p.w_max >= 0.0))
    node.child("w_max").fail("w_max >= 0 (0: the largest |W| of the layer)", std::to_string(p.w_max));
  p.input_bits = int(node.integer("input_bits", defaults.input_bits, 1, 16));
  p.first_layer = node.boolean("first_layer", defaults.first_layer);
  p.i_res_na = node.quantity("i_res", Dim::ampere, defaults.i_res_na * 1e-9) * 1e9;
  if (!(p.i_res_na >= 0.0)) node.child("i_res").fail("a current >= 0 like 0.1nA", std::to_string(p.i_res_na) + " nA");
  p.vdd = positive("vdd", node.quantity("vdd", Dim::volt, defaults.vdd));
  return p;
}

double effective_w_max(const AnalogLayerParams& params, const float* weights, std::size_t count) {
  if (params.w_max > 0.0) return params.w_max;
  float m = 0.0f;
  for (std::size_t k = 0; k < count; ++k) m = std::max(m, std::fabs(weights[k]));
  return m;
}

AnalogVmmLayer::AnalogVmmLayer(const AnalogLayerParams& params, const float* weights, std::size_t in, std::size_t out)
    : params_(params), in_(in), out_(out), noise_weights_(in * out), row_abs_sum_(in, 0.0) {
  params_.validate();
  const double two_q_b0 = shot_noise_na(params_.bandwidth_hz);
  for (std::size_t i = 0; i < in; ++i) {
    double row = 0.0;
    for (std::size_t j = 0; j < out; ++j) {
      const float w = std::fabs(weights[i * out + j]);
      noise_weights_[i * out + j] = params_.first_layer ? w : w + w * w;
      row += w;
    }
    row_abs_sum_[i] = row;
  }
  if (params_.first_layer) {
    w_max_ = effective_w_max(params_, weights, in * out);
    variance_scale_ = two_q_b0 * params_.x_max * w_max_ / params_.i_max_na;
    current_scale_na_ = w_max_ > 0.0 ? params_.i_max_na / (params_.x_max * w_max_) : 0.0;
    current_row_offset_ = 0.0;
  } else {
    w_max_ = effective_w_max(params_, weights, in * out);  // informational only for current-mode layers
    variance_scale_ = two_q_b0 * params_.x_max / params_.i_max_na;
    current_scale_na_ = params_.i_max_na / params_.x_max;
    current_row_offset_ = 1.0;
  }
}

void AnalogVmmLayer::sigma(const float* x, std::size_t batch, float* sigma_out) const {
  const std::size_t in = in_, out = out_;
  const float* g = noise_weights_.data();
  const float scale = float(variance_scale_);
  const std::ptrdiff_t rows = std::ptrdiff_t(batch);
  // Row b of sigma^2 is |x_b| (a row vector) times g: accumulate scaled rows of g (i-j order keeps the
  // inner loop contiguous and vectorizable; zero inputs, common after ReLU, are skipped).
#pragma omp parallel for schedule(static) if (batch * in * out >= kParallelWork)
  for (std::ptrdiff_t b = 0; b < rows; ++b) {
    float* s = sigma_out + std::size_t(b) * out;
    std::fill(s, s + out, 0.0f);
    const float* xb = x + std::size_t(b) * in;
    for (std::size_t i = 0; i < in; ++i) {
      const float xi = std::fabs(xb[i]);
      if (xi == 0.0f) continue;
      const float* gi = g + i * out;
      for (std::size_t j = 0; j < out; ++j) s[j] += xi * gi[j];
    }
    for (std::size_t j = 0; j < out; ++j) s[j] = std::sqrt(scale * s[j]);
  }
}

void AnalogVmmLayer::add_noise(const float* x, std::size_t batch, float* y, std::uint64_t seed, std::uint64_t stream,
                               std::uint64_t first_sample) const {
  std::vector<float> sig(batch * out_);
  sigma(x, batch, sig.data());
  add_gaussian_noise(y, sig.data(), batch, out_, seed, stream, first_sample);
}

double AnalogVmmLayer::mean_current_na(const float* x, std::size_t batch) const {
  if (batch == 0) return 0.0;
  double total = 0.0;
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t i = 0; i < in_; ++i)
      total += std::fabs(double(x[b * in_ + i])) * (current_row_offset_ + row_abs_sum_[i]);
  return current_scale_na_ * total / double(batch);
}

double AnalogVmmLayer::mean_power_w(const float* x, std::size_t batch) const {
  return params_.vdd * mean_current_na(x, batch) * 1e-9;
}

void analog_sigma(const AnalogLayerParams& params, const float* x, const float* weights, std::size_t batch,
                  std::size_t in, std::size_t out, float* sigma_out) {
  AnalogVmmLayer(params, weights, in, out).sigma(x, batch, sigma_out);
}

void add_gaussian_noise(float* y, const float* sigma, std::size_t batch, std::size_t out, std::uint64_t seed,
                        std::uint64_t stream, std::uint64_t first_sample) {
  const std::ptrdiff_t rows = std::ptrdiff_t(batch);
#pragma omp parallel for schedule(static) if (batch * out >= kParallelWork / 16)
  for (std::ptrdiff_t b = 0; b < rows; ++b) {
    const std::uint64_t base = (first_sample + std::uint64_t(b)) * out;
    for (std::size_t j = 0; j < out; ++j) {
      // Two draws per normal (Box-Muller): indices 2f and 2f+1 share one Philox block.
      CounterRng rng(seed, stream, 2 * (base + j));
      const std::size_t k = std::size_t(b) * out + j;
      y[k] += float(double(sigma[k]) * rng.normal());
    }
  }
}

double programming_noise_half_width(const AnalogLayerParams& params) {
  params.validate();
  return params.i_res_na / params.i_max_na;
}

void apply_programming_noise(const AnalogLayerParams& params, float* weights, std::size_t count, std::uint64_t seed,
                             std::uint64_t stream) {
  const double h = programming_noise_half_width(params);
  if (h == 0.0) return;
  CounterRng rng(seed, stream, 0);
  for (std::size_t k = 0; k < count; ++k) weights[k] += float(h * (2.0 * rng.uniform() - 1.0));
}

void quantize_first_layer_inputs(const AnalogLayerParams& params, float* x, std::size_t count) {
  params.validate();
  const double levels = std::ldexp(1.0, params.input_bits);
  const double step = params.x_max / levels;
  for (std::size_t k = 0; k < count; ++k) {
    const double code = std::clamp(std::floor(double(x[k]) / step), 0.0, levels - 1.0);
    x[k] = float(code * step);
  }
}

}  // namespace axsim
