// Float evaluation of a trained nn::Network (no quantization), optionally with weight faults that have
// a float meaning: BSC sign flips on BinaryConnect weights (the LaNMax/Hacene setting) and erasures.
// Faults go through the models/ helpers (flip_signs, erase); streams are listed in fault_injection.hpp.
//
// Weights are presented to the network through Parameter::forward_value (the trainer's hardware seam):
// binary_weights uses binarize(value) = +-1, otherwise value; faults are applied to that copy. The
// network's own forward_value / use_forward_value are restored after every call.
//   per_trial:     weights faulted once per trial, then batched inference;
//   per_inference: every input gets fresh faults, so each input runs alone with its own faulty copy
//                  (O(weights) per input; fine for the small BinaryConnect MLPs this mode is meant for).
#pragma once

#include <cstdint>
#include <vector>

#include "workloads/nn/network.hpp"
#include "workloads/quant/fault_injection.hpp"

namespace axsim::quant {

struct FloatEvalOptions {
  bool binary_weights = false;  // BinaryConnect: weights are sign(w) = +-1
  int batch = 256;              // inputs per forward pass (per_trial); results do not depend on it
};

class FloatEvaluator {
 public:
  explicit FloatEvaluator(nn::Network& net, FloatEvalOptions options = {});

  // channel: flip (needs binary_weights) or erasure; rates in range; layer names of dense/conv layers.
  // InputError otherwise.
  void set_faults(const FloatFaultInjection& faults);
  const FloatFaultInjection& faults() const { return faults_; }
  bool has_fault_source() const;

  // Predictions (argmax, lowest index on ties) for n inputs with set indices first, first + 1, ... of
  // chip instance `trial`.
  void predict(const float* features, std::size_t n, std::uint64_t first, std::uint64_t trial,
               std::int32_t* predictions);
  EvalResult evaluate(const float* features, const std::int32_t* labels, std::size_t n, std::uint64_t trial);

 private:
  struct WeightSlot {
    nn::Parameter* weight;
    std::string layer;
    double rate = 0.0;
  };
  // Fills every weight's forward_value for (trial, inference); inference < 0: per_trial draw.
  FaultStats load_weights(std::uint64_t trial, std::int64_t inference);
  void forward(const float* features, std::size_t n, std::int32_t* predictions);
  FaultStats run(const float* features, std::size_t n, std::uint64_t first, std::uint64_t trial,
                 std::int32_t* predictions);

  nn::Network& net_;
  FloatEvalOptions options_;
  FloatFaultInjection faults_;
  std::vector<WeightSlot> slots_;
  nn::Tensor input_;
  std::vector<int> argmax_;
};

}  // namespace axsim::quant
