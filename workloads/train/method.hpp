// Hardware-aware training methods are plug-ins of the training loop. Each sees the network at fixed
// points of every mini-batch and may (a) replace the weights used in the forward pass through
// Parameter::forward_value (faults, quantization, DRUM), (b) add gradient terms after backward
// (regularizers), (c) update its own state at the end of an epoch (LaNMax's per-layer p), and
// (d) contribute the per-layer hardware assignment written into the deploy artifact.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "workloads/nn/network.hpp"

namespace axsim::train {

struct BatchContext {
  std::uint64_t seed = 0;
  int epoch = 0;            // 0-based
  int epochs = 0;
  std::uint64_t step = 0;   // global mini-batch index
  int batch_in_epoch = 0;
  int batches_per_epoch = 0;
  float lr = 0.0f;
  // The mini-batch of this step (set by the trainer before before_batch; null outside the training
  // loop). AxTrain-act reruns it through the R-operator engine.
  const nn::Tensor* inputs = nullptr;
  const std::int32_t* labels = nullptr;
};

class TrainingMethod {
 public:
  virtual ~TrainingMethod() = default;
  virtual std::string name() const = 0;
  // Once, after the network is built and initialised (or restored), before the first batch.
  virtual void attach(nn::Network& net) {}
  // Before the forward pass of a training batch. forward_value already holds the BinaryConnect
  // weights when binary_connect is on (use_forward_value set); a method transforms them further.
  virtual void before_batch(nn::Network& net, const BatchContext& ctx) {}
  // After backward, before the optimizer step; `loss` is the mini-batch loss.
  virtual void after_backward(nn::Network& net, const BatchContext& ctx, double loss) {}
  // End of an epoch: update method state, add fields to the epoch's train.json record.
  virtual void end_epoch(nn::Network& net, const BatchContext& ctx, nlohmann::json& record) {}
  // Per-layer hardware assignment (layer name -> {p, voltage, multiplier, ...}) for the artifact.
  virtual nlohmann::json hardware_assignment(const nn::Network& net) const { return nlohmann::json::object(); }
  // Method state saved in checkpoints (resumable training).
  virtual std::vector<std::pair<std::string, std::vector<float>*>> state() { return {}; }
};

// Builds the method named by the config's `method:` node ({type: none} when absent).
// Registry of names: see method.cpp (each method file adds itself to the list there).
std::unique_ptr<TrainingMethod> make_method(const ConfigNode* node);
std::vector<std::string> method_names();

}  // namespace axsim::train
