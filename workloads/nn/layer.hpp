// The trainer's layer interface. A network is a sequence of layers; each layer owns its parameters
// and the buffers it needs between forward and backward.
//
// Hardware-aware training works through two seams, so that no layer knows about hardware:
//  - Parameter::forward_value: before a training forward pass, a method (BinaryConnect, fault
//    injection, quantization, DRUM...) may fill it from `value`; layers compute with effective(),
//    gradients land in `grad` and are applied to the real `value` (straight-through).
//  - Hook layers inserted between layers by a method (erasure on activations, analog noise on
//    pre-activations, clipping) are ordinary layers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "workloads/nn/tensor.hpp"

namespace axsim::nn {

struct Parameter {
  std::string name;        // "<layer>.weight", "<layer>.bias", "<layer>.gamma", ...
  Tensor value;            // the real (trained) values
  Tensor grad;             // dLoss/d(effective value), accumulated by backward
  Tensor forward_value;    // optional hardware-transformed copy used in the forward pass
  bool use_forward_value = false;
  bool is_weight = false;  // multiplicative weight (faults, quantization, decay apply); biases/BN are not
  bool decay = true;       // subject to weight decay

  const Tensor& effective() const { return use_forward_value ? forward_value : value; }
};

struct ForwardContext {
  bool training = false;
  std::uint64_t seed = 0;  // run seed
  std::uint64_t step = 0;  // global mini-batch index (streams for dropout/noise are derived from it)
  int layer_index = 0;     // set by the network before calling the layer
};

class Layer {
 public:
  explicit Layer(std::string name) : name_(std::move(name)) {}
  virtual ~Layer() = default;
  const std::string& name() const { return name_; }
  virtual std::string kind() const = 0;

  // Per-sample shapes (without the batch dimension). Throws InputError if `in` does not fit.
  virtual Shape output_shape(const Shape& in) const = 0;

  // y is resized by the layer. Layers may keep state from forward for backward.
  virtual void forward(const Tensor& x, Tensor& y, const ForwardContext& ctx) = 0;
  // Writes (overwrites) the gradients of this layer's parameters, and dx only if dx != nullptr (the
  // first layer skips it). Methods that add gradient terms (regularizers) add them after backward.
  virtual void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) = 0;

  virtual std::vector<Parameter*> parameters() { return {}; }
  // Non-trainable state that must be saved (BN running statistics).
  virtual std::vector<std::pair<std::string, Tensor*>> buffers() { return {}; }

  // Multiply-accumulate count per sample (for reports and FLOP/s).
  virtual std::uint64_t macs_per_sample(const Shape& in) const { return 0; }

 private:
  std::string name_;
};

using LayerPtr = std::unique_ptr<Layer>;

}  // namespace axsim::nn
