// Hook layers for training and evaluating networks whose Dense/Conv2d layers run on analog
// floating-gate crossbars (Klachko, Mahmoodi, Strukov 2019; DESIGN sections 3 and 6). The hardware
// behaviour (noise variance, programming noise, power, input DAC) is models/analog_vmm: these layers
// only move tensors in and out of it.
//
//   ... -> ActivationClip -> AnalogInputTap -> Dense/Conv2d -> AnalogNoise -> BatchNorm -> ...
//
// AnalogInputTap sits in front of a weight layer and remembers that layer's input X (and, for the first
// layer, turns X into the 4-bit DAC codes). AnalogNoise sits behind the weight layer and adds the
// pre-activation shot noise N(0, sigma^2(X, W)), before any batch norm. ActivationClip is the learned
// per-layer clipping threshold (min(y, thr)); its threshold is the X_max of the following crossbar.
// All three are hook layers (Network::insert_before): not part of the network spec.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "models/analog_vmm.hpp"
#include "workloads/nn/layer.hpp"

namespace axsim::nn {

// y = min(x, thr) with a learned threshold thr (Parameter "<name>.threshold", shape [1], no decay).
// Gradient: dC/dthr = sum of dC/dy_i over the clipped elements (x_i > thr); dx_i = dy_i elsewhere.
// The threshold starts at the `init_percentile` percentile of the first batch it sees (a threshold
// of 0 would clip everything and pass no gradient to the layers below), unless set beforehand.
class ActivationClip : public Layer {
 public:
  ActivationClip(std::string name, double init_percentile = 99.0);
  std::string kind() const override { return "activation_clip"; }
  Shape output_shape(const Shape& in) const override { return in; }
  void forward(const Tensor& x, Tensor& y, const ForwardContext& ctx) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  std::vector<Parameter*> parameters() override { return {&threshold_}; }

  bool initialized() const { return threshold_.value[0] > 0.0f; }
  float threshold() const { return threshold_.value[0]; }
  void set_threshold(float t) { threshold_.value[0] = t; }
  Parameter& threshold_parameter() { return threshold_; }
  double init_percentile() const { return init_percentile_; }

 private:
  double init_percentile_;
  Parameter threshold_;
};

// The q-th percentile (0..100, nearest rank on the sorted values) of `count` values.
float percentile(const float* values, std::size_t count, double q);

// Identity in front of an analog weight layer that remembers its output (= the weight layer's input X
// of the current forward pass). With `dac` set it is the first layer's input DAC: y = the 4-bit codes of
// x (models' quantize_first_layer_inputs); the backward pass is straight-through.
class AnalogInputTap : public Layer {
 public:
  AnalogInputTap(std::string name, std::optional<AnalogLayerParams> dac);
  std::string kind() const override { return "analog_input"; }
  Shape output_shape(const Shape& in) const override { return in; }
  void forward(const Tensor& x, Tensor& y, const ForwardContext& ctx) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  const Tensor* last_input() const { return last_; }
  float last_input_max() const { return last_max_; }

 private:
  std::optional<AnalogLayerParams> dac_;
  const Tensor* last_ = nullptr;  // the tap's own output tensor (owned by the network, alive during forward)
  float last_max_ = 0.0f;
};

// When the noise layer draws noise.
enum class NoiseMode { off, training_only, always };

// Adds the analog VMM's pre-activation noise to the output of `weight_layer` (Dense or Conv2d; the layer
// in front of this hook). sigma^2 comes from models' AnalogVmmLayer built on the layer's effective
// weights (so programming noise in forward_value is seen) and its input X remembered by `tap`. A
// convolution is a crossbar applied at every output pixel: X is unfolded into one row per (sample,
// pixel). Noise streams: training: stream_id({kAnalogNoiseStream, layer_id, step}); evaluation (see
// set_eval_position): stream_id({kAnalogNoiseStream, layer_id, trial | 1<<63}) with the sample index as
// the draw position, so a sample's noise does not depend on how the data is batched. The backward pass
// is the identity (noise is not differentiated, as in the paper's software model).
class AnalogNoise : public Layer {
 public:
  AnalogNoise(std::string name, Layer* weight_layer, const AnalogInputTap* tap, AnalogLayerParams params,
              std::uint64_t layer_id);
  std::string kind() const override { return "analog_noise"; }
  Shape output_shape(const Shape& in) const override { return in; }
  void forward(const Tensor& x, Tensor& y, const ForwardContext& ctx) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;

  AnalogLayerParams& params() { return params_; }
  const AnalogLayerParams& params() const { return params_; }
  void set_mode(NoiseMode m) { mode_ = m; }
  NoiseMode mode() const { return mode_; }
  // Evaluation draws: chip/trial id and the dataset index of the batch's first sample.
  void set_eval_position(std::uint64_t trial, std::uint64_t first_sample) {
    eval_trial_ = trial;
    eval_first_sample_ = first_sample;
  }
  // Power metering: every forward adds the batch's summed cell current (nA, all output pixels).
  void set_metering(bool on) { metering_ = on; }
  void reset_meter() { current_sum_na_ = 0.0, metered_samples_ = 0; }
  // Mean over metered samples of the layer's total cell current per inference (nA) / power (W).
  double metered_current_na() const { return metered_samples_ ? current_sum_na_ / double(metered_samples_) : 0.0; }
  double metered_power_w() const { return params_.vdd * metered_current_na() * 1e-9; }
  // Mean of sigma^2 over the last noisy forward (diagnostics and tests).
  double last_mean_variance() const { return last_mean_variance_; }

  // Where X_max (the input full scale of a current-mode crossbar) comes from, checked in this order:
  // the first layer uses params().x_max (the DAC's full scale); else the threshold of `clip` when set;
  // else the largest input of the current batch when from_batch is set or params().x_max <= 0; else
  // params().x_max (a calibrated value). The largest training-batch input is tracked (observed_x_max).
  void set_x_max_source(const ActivationClip* clip, bool from_batch) {
    clip_ = clip;
    x_max_from_batch_ = from_batch;
  }
  double resolved_x_max() const;  // for the last forward's batch
  float observed_x_max() const { return observed_x_max_; }
  void reset_observed_x_max() { observed_x_max_ = 0.0f; }

  Layer* weight_layer() const { return weight_layer_; }
  std::uint64_t layer_id() const { return layer_id_; }
  // The crossbar's operands for input x (batch-first): rows = one row of `in` inputs per (sample, output
  // pixel) (a Dense input is used as it is), w = the effective weights as an in x out matrix.
  struct Operands {
    const float* rows = nullptr;
    std::size_t n_rows = 0, in = 0, out = 0, pixels = 1;
  };
  Operands crossbar_operands(const Tensor& x);
  // The AnalogVmmLayer for the current weights and the resolved X_max (after crossbar_operands).
  AnalogVmmLayer vmm() const;

 private:
  Layer* weight_layer_;
  const AnalogInputTap* tap_;
  AnalogLayerParams params_;
  std::uint64_t layer_id_;
  NoiseMode mode_ = NoiseMode::training_only;
  const ActivationClip* clip_ = nullptr;
  bool x_max_from_batch_ = false;
  float observed_x_max_ = 0.0f;
  double last_x_max_ = 1.0;
  std::size_t last_out_ = 0;
  std::uint64_t eval_trial_ = 0, eval_first_sample_ = 0;
  bool metering_ = false;
  double current_sum_na_ = 0.0;
  std::uint64_t metered_samples_ = 0;
  double last_mean_variance_ = 0.0;
  std::vector<float> rows_, w_;
  std::vector<float> noise_;
};

inline constexpr std::uint64_t kAnalogNoiseStream = 0xA4A1'0601;
inline constexpr std::uint64_t kAnalogProgrammingStream = 0xA4A1'0602;

}  // namespace axsim::nn
