// `erasure`: Hacene et al. 2019's erasure regularizer. Every mini-batch each forward weight is set to 0
// with probability p_e (fresh draw, models/ erase()). It is the training proxy of bit-masking (Minerva)
// memories: on 8-bit weights, erasures at p_e = 2p hurt accuracy about as much as bit_mask faults at
// bit-error rate p (Hacene Fig. 3), so p_e defaults to 2p and the artifact asks for bit_mask at p.
//
//   method:
//     type: erasure
//     p: 0.01                # bit-error rate of the target memory (p_e = 2p); per layer/block/pattern maps too
//     # p_e: 0.02            # or the erasure rate directly (then p = p_e / 2 in the artifact)
//     activations: false     # erasures on the inputs of every dense/conv layer too (activation_erasure.hpp)
//     a: 12.8
//
// Values are erased in float (BinaryConnect signs or real weights), not in a quantized copy: erasing a
// word gives 0 whatever its format, and Hacene applies the regularizer to the float network.
#pragma once

#include <memory>
#include <vector>

#include "core/config.hpp"
#include "workloads/train/method.hpp"
#include "workloads/train/methods/layer_rates.hpp"
#include "workloads/train/methods/weight_faults.hpp"

namespace axsim::train {

inline constexpr std::uint64_t kErasureStream = 0x0A1F'0002;

class ErasureTraining : public TrainingMethod {
 public:
  // erasure_rates: p_e per layer; `bit_error_per_erasure` turns p_e into the bit-error rate p written
  // to the artifact (0.5 for Hacene's p_e = 2p).
  // activations: also erase the inputs of every weight layer but the first (Hacene 2019 erases stored
  // activations too), at that layer's p_e, through ActivationErasure hooks inserted into the network.
  ErasureTraining(LayerRateSpec erasure_rates, double bit_error_per_erasure, double a, bool activations = false);

  std::string name() const override { return "erasure"; }
  void attach(nn::Network& net) override;
  void before_batch(nn::Network& net, const BatchContext& ctx) override;
  void after_backward(nn::Network& net, const BatchContext& ctx, double loss) override;
  void end_epoch(nn::Network& net, const BatchContext& ctx, nlohmann::json& record) override;
  nlohmann::json hardware_assignment(const nn::Network& net) const override;

  const std::vector<double>& erasure_rates() const { return p_e_; }
  const std::vector<double>& bit_error_rates() const { return p_; }
  const WeightFaults& faults() const { return faults_; }

 private:
  LayerRateSpec spec_;
  double bit_error_per_erasure_;
  double a_;
  WeightFaults faults_;
  bool activations_ = false;
  std::vector<double> p_e_, p_;
};

std::unique_ptr<TrainingMethod> make_erasure(const ConfigNode& node);

}  // namespace axsim::train
