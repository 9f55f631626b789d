// `lanmax`: Layerwise Noise Maximisation (Henwood, Leduc-Primeau, Savaria, AICAS 2020, Algorithm 1).
// Learns one memory fault rate p_l per weight layer jointly with the weights.
//
// Every mini-batch of epochs K <= s (1-based):
//   delta_l ~ U{-h, 0, +h} independently per layer;  p~ = clamp(p + delta, p_min, p_max)
//   forward weights = BSC(sign(w), p~_l) per layer (fresh faults; real-valued nets: the channel on
//   `bits`-bit fixed-point copies);  after backward, with the mini-batch loss A^:
//   L = A^/A* + alpha sqrt(E(p~)) + lambda sum_l p~_l,  E = zeta sum_l eta(p~_l) n_l  (eq. 3, 7)
//   A* = the best mini-batch loss of the earlier mini-batches (then A* = min(A*, A^))
// and the weights take their usual step. At the end of such an epoch:
//   g = slopes of the OLS fit (with intercept) of L on p~ over the epoch's mini-batches
//   g = g / ||g||_2;  v = mu v + g;  p = clamp(p - lr (g + mu v), p_min, p_max)   (Nesterov, PyTorch form)
// with lr = lr_scale * the weights' learning rate of that epoch (the paper: lr_scale = 1). After epoch
// s, p stays fixed and the weights are fine-tuned under BSC(p).
//
//   method:
//     type: lanmax
//     alpha: 0.02            # energy weight (required); larger -> lower energy, lower accuracy
//     lambda: 5.0e-4         # noise decay (the paper's value)
//     h: 0.01                # perturbation step
//     p_init: 0.01           # or a per-layer/block/pattern map
//     p_min: 1.0e-4          # p is kept in [p_min, p_max]
//     p_max: 0.5
//     stop_fraction: 0.8     # s = floor(stop_fraction * epochs) (at least 1); or stop_epoch: N
//     momentum: 0.2          # Nesterov momentum of SGD_O
//     lr_scale: 1.0          # SGD_O learning rate / the weights' learning rate
//     a: 12.8                # eta(p) = -ln(p)/a
//     energy: absolute       # E in the surrogate: `absolute` = eq. 3, zeta sum_l eta n_l in bit-reads
//                            # (zeta = 1 for BinaryConnect, else `bits`), as in the paper, so alpha's scale
//                            # depends on the network's size; `normalized` = E / (zeta sum_l n_l), in [0, 1]
//     channel: flip          # BSC; real-valued nets: any bit channel on `bits`-bit words
//     bits: 8
//
// train.json, per epoch: p (after the epoch's update), memory_energy E(p), sampled_p (mean p~ of the
// epoch), measured_p (faulty bits / stored bits), lanmax {active, stop_epoch, updated, samples, best_loss,
// slopes (OLS, raw), gradient (normalized), objective (mean L), lr}. Checkpointed state: p, velocity, A*.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "core/config.hpp"
#include "models/voltage_curve.hpp"
#include "workloads/train/method.hpp"
#include "workloads/train/methods/layer_rates.hpp"
#include "workloads/train/methods/weight_faults.hpp"

namespace axsim::train {

inline constexpr std::uint64_t kLanmaxFaultStream = 0x0A1F'0003;
inline constexpr std::uint64_t kLanmaxDeltaStream = 0x0A1F'0005;

struct LanmaxOptions {
  double alpha = 0.0;
  double lambda = 5e-4;
  double h = 0.01;
  double p_init = 0.01;  // when no per-layer p_init map is given
  double p_min = 1e-4;
  double p_max = 0.5;
  double stop_fraction = 0.8;
  int stop_epoch = 0;  // > 0: overrides stop_fraction
  double momentum = 0.2;
  double lr_scale = 1.0;
  double a = kDefaultReliabilityExponent;
  std::string channel = "flip";
  int bits = 8;
  bool normalized_energy = false;  // `energy: normalized`
};

// s of Algorithm 1: the last (1-based) epoch in which p is learned.
int lanmax_stop_epoch(const LanmaxOptions& options, int epochs);

// One step of SGD_O: normalizes `gradient` to unit L2 norm, Nesterov momentum (v = mu v + g;
// p -= lr (g + mu v)), clamps p to [p_min, p_max]. p and velocity are floats so that a checkpoint
// restores them exactly. Returns false, changing nothing, if the gradient's norm is 0 or not finite.
bool outer_sgd_step(std::vector<float>& p, std::vector<float>& velocity, std::span<const double> gradient, double lr,
                    double momentum, double p_min, double p_max);

class LanmaxTraining : public TrainingMethod {
 public:
  LanmaxTraining(LanmaxOptions options, std::optional<LayerRateSpec> p_init);

  std::string name() const override { return "lanmax"; }
  void attach(nn::Network& net) override;
  void before_batch(nn::Network& net, const BatchContext& ctx) override;
  void after_backward(nn::Network& net, const BatchContext& ctx, double loss) override;
  void end_epoch(nn::Network& net, const BatchContext& ctx, nlohmann::json& record) override;
  nlohmann::json hardware_assignment(const nn::Network& net) const override;
  std::vector<std::pair<std::string, std::vector<float>*>> state() override;

  const LanmaxOptions& options() const { return opt_; }
  const std::vector<float>& rates() const { return p_; }                   // learned p per weight layer
  const std::vector<double>& perturbed_rates() const { return p_tilde_; }  // p~ of the current batch
  const std::vector<double>& last_gradient() const { return gradient_; }   // normalized, last update
  double best_loss() const { return best_loss_[0]; }                       // A*; < 0 before the first batch
  const WeightFaults& faults() const { return faults_; }

 private:
  bool learning(const BatchContext& ctx) const { return ctx.epoch + 1 <= lanmax_stop_epoch(opt_, ctx.epochs); }
  double objective(double loss, double best_loss) const;
  double surrogate_energy() const;  // E(p~) as the surrogate loss uses it (absolute or normalized)

  LanmaxOptions opt_;
  std::optional<LayerRateSpec> p_init_;
  std::shared_ptr<const FaultChannel> channel_;
  WeightFaults faults_;
  std::vector<float> p_, velocity_;
  std::vector<float> best_loss_{-1.0f};
  std::vector<double> p_tilde_;
  double bits_per_weight_ = 1.0;  // zeta of eq. 3, set by attach()
  std::vector<double> gradient_;
  // The epoch's samples: rows of p~ and the objective L.
  std::vector<double> sample_rates_, sample_objective_;
  std::vector<double> sampled_rate_sum_;
  std::size_t batches_seen_ = 0;
  bool pending_sample_ = false;
};

std::unique_ptr<TrainingMethod> make_lanmax(const ConfigNode& node);

}  // namespace axsim::train
