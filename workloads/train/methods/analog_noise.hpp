// `analog`: training for networks whose Dense/Conv2d layers run on analog floating-gate crossbars
// (Klachko, Mahmoodi, Strukov 2019, sections IV-V; DESIGN sections 3 and 6). Everything about the
// hardware (noise variance, programming noise, power, input DAC) is models/analog_vmm.
//
//   method:
//     type: analog
//     i_max: 10nA            # I_s,max / I_in,max; or per layer: {conv1: 1.8nA, fc2: 40nA, default: 10nA}
//     noise: true            # inject the accurate pre-activation noise (eqs. 1, 4) in every training pass
//     clip: true             # learned activation clipping threshold in front of every layer but the first
//     alpha: 0.01            # penalty alpha * sum_l (thr_l / I_max,l)^2 on the thresholds
//     threshold_init_percentile: 99   # thresholds start at this percentile of the first batch
//     first_layer_weight_clip: 0      # > 0: first-layer weights kept in [-t, t] (0: off)
//     vmm: {bandwidth: 250MHz, input_bits: 4, i_res: 0.1nA, vdd: 1.1V}
//     evaluate: {...}        # after the last epoch: accuracy under the accurate noise; see analog_eval.hpp
//
// The network is changed by hook layers (workloads/nn/analog.hpp): the first weight layer gets the 4-bit
// input DAC, every weight layer an AnalogNoise behind it (before its batch norm), and with `clip` every
// other weight layer an ActivationClip in front. X_max of a current-mode layer is its clipping threshold
// with `clip`, else the largest input of the training batch (training) / of the last training epoch
// (evaluation; recorded as x_max in the hardware assignment). "BN outputs" is a network option
// (klachko_cnn's bn_outputs, or a batchnorm after the last layer); a weight layer needs some layer after
// it for its noise hook (Network has insert_before only), so a network without an output batch norm
// ends with an identity such as `{type: flatten}`.
// Programming-precision noise is applied at evaluation only (the paper: it hurts training).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "models/analog_vmm.hpp"
#include "workloads/nn/analog.hpp"
#include "workloads/train/method.hpp"

namespace axsim::train {

struct AnalogEvalPlan;

struct AnalogTrainingOptions {
  double i_max_default_na = 10.0;
  std::vector<std::pair<std::string, double>> i_max_by_layer_na;  // overrides by layer name
  bool noise = true;
  bool clip = false;
  double alpha = 0.0;
  double threshold_init_percentile = 99.0;
  double first_layer_weight_clip = 0.0;
  double min_threshold = 1e-3;  // a learned threshold is kept above this (0 would cut the signal)
  AnalogLayerParams vmm;        // bandwidth, input_bits, i_res, vdd (i_max, x_max, first_layer set per layer)
};

class AnalogNoiseTraining : public TrainingMethod {
 public:
  AnalogNoiseTraining(AnalogTrainingOptions options, std::shared_ptr<const AnalogEvalPlan> evaluate = nullptr);

  std::string name() const override { return "analog"; }
  void attach(nn::Network& net) override;
  void before_batch(nn::Network& net, const BatchContext& ctx) override;
  void after_backward(nn::Network& net, const BatchContext& ctx, double loss) override;
  void end_epoch(nn::Network& net, const BatchContext& ctx, nlohmann::json& record) override;
  nlohmann::json hardware_assignment(const nn::Network& net) const override;
  std::vector<std::pair<std::string, std::vector<float>*>> state() override;

  const AnalogTrainingOptions& options() const { return options_; }
  // Per analog (weight) layer, in forward order, after attach().
  const std::vector<std::string>& layer_names() const { return names_; }
  const std::vector<nn::AnalogNoise*>& noise_layers() const { return noise_; }
  const std::vector<nn::ActivationClip*>& clips() const { return clips_; }  // nullptr: no clip in front
  const std::vector<double>& i_max_na() const { return i_max_; }
  // Sets every layer's I_max (nA); the training values are restored by restore_training_state().
  void set_i_max(const std::vector<double>& i_max_na);
  // Noise on/off per layer for evaluation (NoiseMode::always / off); restore_training_state() undoes it.
  void set_eval_noise(const std::vector<bool>& noisy);
  void restore_training_state();
  // X_max used at evaluation for layers without a clip: the largest input seen in the last training
  // epoch (0 until an epoch ends).
  const std::vector<float>& calibrated_x_max() const { return x_max_; }

  // alpha * sum_l (thr_l / I_max,l)^2 over the clipped layers, and its gradient added to the thresholds.
  double clip_penalty() const;
  void add_penalty_gradient();

 private:
  AnalogTrainingOptions options_;
  std::shared_ptr<const AnalogEvalPlan> evaluate_;
  std::vector<std::string> names_;
  std::vector<double> i_max_;  // training I_max per layer
  std::vector<float> x_max_;   // calibrated X_max per layer (state: saved in checkpoints)
  std::vector<nn::AnalogNoise*> noise_;
  std::vector<nn::ActivationClip*> clips_;
  std::vector<nn::Parameter*> first_weight_;
  nlohmann::json last_eval_;  // the evaluation block's result (also in train.json), for the artifact
};

std::unique_ptr<TrainingMethod> make_analog(const ConfigNode& node);

}  // namespace axsim::train
