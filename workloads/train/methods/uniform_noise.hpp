// `uniform_noise`: train under a fixed fault rate per layer (LaNMax section III-A, Hacene 2019 blockwise
// rates). Every mini-batch the forward weights are read through a models/ fault channel at p_l, fresh
// faults each time; the gradient of the faulty weights updates the real weights.
//
//   method:
//     type: uniform_noise
//     p: 0.01                 # or per layer / block / pattern: {fc1: 0.02, "block3_*": 0.05, default: 0.001}
//     channel: flip           # flip (BSC) | bit_mask | word_mask | erasure | stuck_at (per read)
//     bits: 8                 # fixed-point word of real-valued nets (BinaryConnect nets store 1 bit)
//     a: 12.8                 # energy-reliability exponent for the reported memory energy
#pragma once

#include <memory>
#include <vector>

#include "core/config.hpp"
#include "workloads/train/method.hpp"
#include "workloads/train/methods/layer_rates.hpp"
#include "workloads/train/methods/weight_faults.hpp"

namespace axsim::train {

inline constexpr std::uint64_t kUniformNoiseStream = 0x0A1F'0001;

class UniformNoiseTraining : public TrainingMethod {
 public:
  UniformNoiseTraining(LayerRateSpec rates, std::shared_ptr<const FaultChannel> channel, int bits, double a);

  std::string name() const override { return "uniform_noise"; }
  void attach(nn::Network& net) override;
  void before_batch(nn::Network& net, const BatchContext& ctx) override;
  void after_backward(nn::Network& net, const BatchContext& ctx, double loss) override;
  void end_epoch(nn::Network& net, const BatchContext& ctx, nlohmann::json& record) override;
  nlohmann::json hardware_assignment(const nn::Network& net) const override;

  const std::vector<double>& rates() const { return p_; }  // per weight layer, after attach()
  const WeightFaults& faults() const { return faults_; }

 private:
  LayerRateSpec spec_;
  WeightFaults faults_;
  int bits_;
  double a_;
  std::vector<double> p_;
};

std::unique_ptr<TrainingMethod> make_uniform_noise(const ConfigNode& node);

// Shared by the fault methods' factories: the `channel` key (InputError with the closest name), `bits`
// and `a`.
std::shared_ptr<const FaultChannel> parse_channel(const ConfigNode& node, const std::string& def = "flip");
int parse_word_bits(const ConfigNode& node);
double parse_reliability_exponent(const ConfigNode& node);

}  // namespace axsim::train
