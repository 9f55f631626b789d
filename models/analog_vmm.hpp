// Analog floating-gate vector-by-matrix multiplier (VMM): shot noise, weight programming precision,
// input DAC quantization and power. Klachko, Mahmoodi, Strukov 2019, section IV (+ V.E); DESIGN
// section 3. Used by the trainer (noise injection while training) and by the simulator's crossbar
// tiles, so both see the same hardware.
//
// ---- Units and normalizations (how software values become currents) ----------------------------
// Software computes the pre-activation Y_j = sum_i X_i W_ij (X: batch x in, W: in x out, Y: batch x
// out; row-major floats). All of X, W, Y are dimensionless software values. Currents are in nA.
// 2 q B0 (q = 1.602e-19 C, B0 = 250 MHz noise bandwidth) = 8.01e-11 A = 0.0801 nA.
//
// First layer: digital-input, merged-DAC VMM (paper eq. 1). Inputs are 4-bit codes; in software they
//   are X_i in [0, x_max) on a grid of x_max / 2^bits (the paper: pixel / 256 quantized to 4 bits, so
//   x_max = 1 and X in {0, 1/16, ..., 15/16}; see quantize_first_layer_inputs). The synapse current is
//       I_syn,ij = (X_i / x_max) * (|W_ij| / W_max) * I_s,max
//   where W_max is the largest |W| of the layer (taken from the weights unless params.w_max > 0) and
//   I_s,max = params.i_max is the current of the largest weight at full-scale input. Differential
//   weights: only one device of the pair conducts (the other is programmed fully off), hence |W|.
//   Shot noise of a device: variance 2 q I_syn B0. Referred back to software units by the factor
//   (X_i W_ij / I_syn,ij)^2 = (x_max W_max / I_s,max)^2 and summed over the independent devices:
//       sigma_j^2 = 2qB0 * (x_max * W_max / I_s,max) * sum_i X_i |W_ij|          [eq. 1 for x_max = 1]
// Other layers: analog-input current-mode VMM (paper eqs. 3-4). Inputs X_i in [0, X_max] (after ReLU /
//   clipping; X_max = params.x_max is the layer's input clipping threshold) map linearly to input
//   currents I_i = X_i * I_in,max / X_max (eq. 3), I_in,max = params.i_max. W is the current gain of a
//   synapse (I_syn,ij = I_i |W_ij|), not normalized by W_max. The peripheral (input) floating-gate
//   cell of each row's current mirror adds the quadratic term (paper: "see [8]"):
//       sigma_j^2 = 2qB0 * (X_max / I_in,max) * sum_i X_i (|W_ij| + W_ij^2)      [eq. 4]
// Noise: Y_j <- Y_j + N(0, sigma_j^2), fresh on every pass (eq. 2). Inputs are used by magnitude in
//   sigma and power (a current cannot be negative; the layers above only see X >= 0).
// Programming precision (section V.E): devices are programmed to I_res = 0.1 nA, so each weight gets
//   an additive U(-I_res / I_max, +I_res / I_max) once per chip (I_max = params.i_max; at 3 nA the
//   software resolution is 0.033, the paper's example). We follow the paper's expression for every
//   layer, also the first: it is what reproduces its Table III (the damage grows as the first-layer
//   weights are clipped smaller). Strictly from I_syn above, a first-layer current step I_res would be
//   a weight step I_res * W_max / I_s,max; that variant is not modelled.
// Power (section VI): P = V_dd * (sum of all cell currents), with currents mapped linearly from the
//   software values as above:
//     first layer:  sum_ij I_syn,ij = I_s,max / (x_max W_max) * sum_i X_i sum_j |W_ij|
//     other layers: sum_i I_i (1 + sum_j |W_ij|) = I_in,max / X_max * sum_i X_i (1 + sum_j |W_ij|)
//                   (the "1" is the row's peripheral mirror cell, which carries I_i)
//   so power is exactly proportional to I_max for fixed X and W (the paper: "almost linearly").
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/config.hpp"

namespace axsim {

inline constexpr double kElectronChargeCoulomb = 1.602e-19;  // the paper's value
inline constexpr double kDefaultNoiseBandwidthHz = 250e6;    // B0, "a realistic equivalent noise bandwidth"

// 2 q B0 in nA (0.0801 nA at 250 MHz).
double shot_noise_na(double bandwidth_hz = kDefaultNoiseBandwidthHz);

struct AnalogLayerParams {
  double i_max_na = 10.0;                          // I_s,max (first layer) or I_in,max (other layers), nA
  double bandwidth_hz = kDefaultNoiseBandwidthHz;  // B0
  double x_max = 1.0;                              // full-scale input in software units
  double w_max = 0.0;                              // first layer: |W| that gets I_s,max; 0 = max |W| of the layer
  int input_bits = 4;                              // first layer: DAC resolution
  bool first_layer = false;                        // merged-DAC digital input (eq. 1) vs current-mode (eq. 4)
  double i_res_na = 0.1;                           // weight programming resolution, nA
  double vdd = 1.1;                                // supply voltage for power, V

  // Throws std::invalid_argument naming the bad field (i_max, bandwidth, x_max > 0; w_max, i_res >= 0;
  // input_bits in [1, 16]; vdd > 0).
  void validate() const;
};

// Read params from YAML (strict keys; every key optional, defaults from `defaults`):
//   {i_max: 10nA, bandwidth: 250MHz, x_max: 1, w_max: 0, input_bits: 4, first_layer: false,
//    i_res: 0.1nA, vdd: 1.1V}
AnalogLayerParams load_analog_layer_params(const ConfigNode& node, const AnalogLayerParams& defaults = {});

// One analog layer with its weights prepared for repeated use (the per-synapse noise weights
// g(W) = |W| or |W| + W^2, row sums of |W|, W_max). Build it once per weight update (trainer) or per
// chip instance (simulator); it does not keep a pointer to W.
class AnalogVmmLayer {
 public:
  AnalogVmmLayer(const AnalogLayerParams& params, const float* weights, std::size_t in, std::size_t out);

  // sigma (batch x out) = sqrt(variance_scale() * |X| g(W)): one matrix product, no per-element third loop.
  void sigma(const float* x, std::size_t batch, float* sigma_out) const;

  // Y (batch x out) += sigma .* N(0, 1). The normal of (sample s, output j) is draw index
  // 2 * (s * out + j) of CounterRng(seed, stream), with s = first_sample + row: the same sample gets
  // the same noise whatever the batch split or thread count.
  void add_noise(const float* x, std::size_t batch, float* y, std::uint64_t seed, std::uint64_t stream,
                 std::uint64_t first_sample = 0) const;

  // Mean over the batch of the total cell current (nA) and of the power V_dd * current (W).
  double mean_current_na(const float* x, std::size_t batch) const;
  double mean_power_w(const float* x, std::size_t batch) const;

  double w_max() const { return w_max_; }                    // the W_max used (first layer)
  double variance_scale() const { return variance_scale_; }  // sigma^2 per unit of sum X g(W)
  const AnalogLayerParams& params() const { return params_; }
  std::size_t inputs() const { return in_; }
  std::size_t outputs() const { return out_; }

 private:
  AnalogLayerParams params_;
  std::size_t in_, out_;
  double w_max_ = 0.0;
  double variance_scale_ = 0.0;
  double current_scale_na_ = 0.0;     // nA per unit of sum X (c + row_abs)
  double current_row_offset_ = 0.0;   // c: 1 for the current mirror's peripheral cell, 0 for the first layer
  std::vector<float> noise_weights_;  // g(W), in x out
  std::vector<double> row_abs_sum_;   // sum_j |W_ij|
};

// W_max of a first layer: params.w_max if > 0, else the largest |W| ("obtained from software").
double effective_w_max(const AnalogLayerParams& params, const float* weights, std::size_t count);

// One-shot helpers (build an AnalogVmmLayer internally).
void analog_sigma(const AnalogLayerParams& params, const float* x, const float* weights, std::size_t batch,
                  std::size_t in, std::size_t out, float* sigma_out);

// Y (batch x out) += sigma .* N(0, 1), drawn as described at AnalogVmmLayer::add_noise.
void add_gaussian_noise(float* y, const float* sigma, std::size_t batch, std::size_t out, std::uint64_t seed,
                        std::uint64_t stream, std::uint64_t first_sample = 0);

// Programming precision: half width I_res / I_max of the uniform weight error.
double programming_noise_half_width(const AnalogLayerParams& params);
// W[k] += U(-h, +h), h = programming_noise_half_width, draw index k of CounterRng(seed, stream):
// one (seed, stream) is one programmed chip. Apply at inference only (the paper found it hurts training).
void apply_programming_noise(const AnalogLayerParams& params, float* weights, std::size_t count, std::uint64_t seed,
                             std::uint64_t stream);

// First-layer input DAC: X -> floor(X / x_max * 2^bits) * x_max / 2^bits, limited to codes
// [0, 2^bits - 1] (the paper's pixel / 256 -> 4 bits). Negative inputs become 0.
void quantize_first_layer_inputs(const AnalogLayerParams& params, float* x, std::size_t count);

}  // namespace axsim
