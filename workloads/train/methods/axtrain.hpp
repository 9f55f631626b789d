// AxTrain (He et al., ISLPED 2018): hardware-oriented training for approximate inference.
//
//  axtrain_act  loss E + gamma * S(w), S = sum_k sum_w |w| |dO_k/dw| per sample (averaged over the
//               batch), gradient sign(w)|dO_k/dw| + H_k v (v = |w| sign(dO_k/dw)) from the R-operator
//               engine of workloads/nn/rop.hpp; gamma adapted every epoch (PreferenceFactor).
//  axtrain_pas  the forward pass computes through the hardware models: weights and activations become
//               fixed-point codes (models/fixed_point), stored weight codes go through NTV bit flips at
//               the voltage's p (models/voltage_curve + models/fault_channel), both operands of every
//               product are DRUM-k transformed (models/drum: DRUM is separable, so the products of the
//               transformed operands are the DRUM products). Backward is straight-through with
//               grad_in = grad_out * 1(|grad_out| < 1) (eq. 12), on activations and on weights.
//  axtrain      act until the epoch's error and sensitivity stop changing (relative change below
//               `converge_tolerance`) or after `max_epochs` act epochs, then pas for the remaining epochs.
//
//   method:
//     type: axtrain                      # axtrain_act | axtrain_pas | axtrain
//     act:
//       gamma: 1e-4                      # initial preference factor
//       delta_gamma: 1e-4                # per-epoch step of gamma (section 3.1.3)
//       gamma_max: 1                     # clamp (gamma is also kept >= 0)
//       error_bound: 0.05                # training loss below which gamma always goes up
//       outputs_per_sample: 1            # outputs k per sample in the S sum: a number (random subset, scaled
//                                        # by K/m so the estimate is unbiased) or `all` (the paper's exact sum)
//       samples_per_batch: 0             # 0 = every sample of the mini-batch, else a random subset
//       hvp: true                        # false drops the H v term (first-order only)
//       max_epochs: 10                   # axtrain only: act epochs at most
//       converge_tolerance: 0.02         # axtrain only
//     pas:
//       weight_bits: 8                   # fixed-point weight word
//       act_bits: 8                      # fixed-point activation word
//       multiplier: drum2                # exact | drum<k>
//       voltage: 0.66V                   # weight SRAM voltage (p from the technology's curve), or
//       p: 0.01                          #   the bit-flip rate directly; neither = no faults
//       technology: configs/tech/default-65nm.yaml
//       channel: flip                    # a models/ fault channel
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "models/drum.hpp"
#include "models/fault_channel.hpp"
#include "models/fault_sampler.hpp"
#include "models/fixed_point.hpp"
#include "workloads/nn/rop.hpp"
#include "workloads/train/method.hpp"

namespace axsim::train {

inline constexpr std::uint64_t kAxTrainPickStream = 0x0A1F'0101;
inline constexpr std::uint64_t kAxTrainFaultStream = 0x0A1F'0102;

// The adaptive preference factor of section 3.1.3 (after Weigend's weight elimination): at the end of
// each epoch t >= 2, gamma += delta if E_t < sum_{j>=1} 0.5^j E_{t-j} (0.5, 0.25, 0.125... of the
// previous epochs' errors, most recent first) or E_t < error_bound; otherwise gamma -= delta. Clamped
// to [0, max]. The first epoch only starts the history.
class PreferenceFactor {
 public:
  PreferenceFactor(double initial, double delta, double max, double error_bound);
  double value() const { return gamma_; }
  // Applies the rule for this epoch's error; returns +1 (up), -1 (down) or 0 (first epoch).
  int update(double epoch_error);
  double weighted_history() const { return history_; }  // sum 0.5^j E_{t-j} before the next update
  int epochs() const { return epochs_; }
  void restore(double gamma, double history, int epochs);

 private:
  double gamma_, delta_, max_, bound_;
  double history_ = 0.0;
  int epochs_ = 0;
};

struct AxTrainActOptions {
  double gamma = 1e-4, delta_gamma = 1e-4, gamma_max = 1.0, error_bound = 0.05;
  int outputs_per_sample = 1;  // 0 = all outputs
  int samples_per_batch = 0;   // 0 = all samples
  bool hvp = true;
  int max_epochs = 10;
  double converge_tolerance = 0.02;
};

struct AxTrainPasOptions {
  int weight_bits = 8, act_bits = 8;
  Multiplier multiplier = Multiplier::exact(8);
  double p = 0.0;                 // bit-flip rate of stored weight bits
  std::optional<double> voltage;  // where p came from (for reports)
  std::shared_ptr<const FaultChannel> channel;
};

// AxTrain-pas's operands: y = dequantize(D_k(quantize(x))) elementwise in one fused pass (and, when
// `codes` is not empty, the stored codes quantize(x)), bit-identical to the models' batch quantize,
// drum_transform_batch and dequantize applied in turn. Formats up to 16 bits (std::invalid_argument
// otherwise, or if the sizes differ).
void quantize_transform_dequantize(const FixedPointFormat& format, const Multiplier& multiplier,
                                   std::span<const float> x, std::span<float> y, std::span<std::int16_t> codes = {});

class OperandHook;  // the activation-side hardware model inserted before each weight layer (axtrain.cpp)

class AxTrainMethod : public TrainingMethod {
 public:
  enum class Phase { act, pas };
  // act_then_pas: the combined recipe; otherwise the method stays in `start`.
  AxTrainMethod(std::string name, Phase start, bool act_then_pas, AxTrainActOptions act, AxTrainPasOptions pas);
  ~AxTrainMethod() override;

  std::string name() const override { return name_; }
  void attach(nn::Network& net) override;
  void before_batch(nn::Network& net, const BatchContext& ctx) override;
  void after_backward(nn::Network& net, const BatchContext& ctx, double loss) override;
  void end_epoch(nn::Network& net, const BatchContext& ctx, nlohmann::json& record) override;
  nlohmann::json hardware_assignment(const nn::Network& net) const override;
  std::vector<std::pair<std::string, std::vector<float>*>> state() override;

  Phase phase() const { return phase_; }
  double gamma() const { return gamma_.value(); }

 private:
  void enter_pas(nn::Network& net);
  void add_sensitivity_gradient(nn::Network& net, const BatchContext& ctx);
  void hardware_weights(const BatchContext& ctx);
  void release_weights();
  void sync_state_out();

  std::string name_;
  Phase phase_;
  bool act_then_pas_;
  AxTrainActOptions act_;
  AxTrainPasOptions pas_;
  PreferenceFactor gamma_;
  std::unique_ptr<nn::SensitivityEngine> engine_;
  nn::SensitivityGradient sgrad_;
  std::vector<nn::OutputPick> picks_;
  std::vector<nn::Parameter*> params_;
  std::vector<nn::Parameter*> weights_;  // weight parameter per weight layer
  std::vector<std::string> weight_layer_names_;
  std::vector<OperandHook*> hooks_;  // owned by the network once inserted
  std::vector<std::int16_t> codes_;
  std::vector<ExponentialStream> fault_streams_;  // one per weight layer, re-keyed every batch
  std::vector<WordChange> changes_;               // the faulty words of one layer's read
  bool hooks_inserted_ = false;
  // Epoch accumulators.
  double loss_sum_ = 0, sens_sum_ = 0;
  std::size_t samples_ = 0, sens_samples_ = 0;
  double act_seconds_ = 0;
  int act_epochs_done_ = 0;
  double last_error_ = -1, last_sens_ = -1;
  std::vector<float> saved_;  // checkpoint state: gamma, history, epochs, phase, act epochs, last E, last S
};

std::unique_ptr<TrainingMethod> make_axtrain_act(const ConfigNode& node);
std::unique_ptr<TrainingMethod> make_axtrain_pas(const ConfigNode& node);
std::unique_ptr<TrainingMethod> make_axtrain(const ConfigNode& node);

}  // namespace axsim::train
