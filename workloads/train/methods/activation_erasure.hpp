// Erasure on activations (Hacene 2019 section V): a hook layer that, in training, sets each value to
// 0 with probability p_e (the models/ erasure channel through erase()) and passes the rest unchanged;
// the gradient flows only through the surviving values. At inference it is the identity. No rescaling
// (unlike dropout): it models a memory that loses values, not a regularizer that preserves the mean.
//
// Random stream: (seed, stream_id({kActivationErasureStream, step, layer_index})), so the draws depend
// on (seed, mini-batch, position in the network) only.
//
// The erasure method (`activations: true`) inserts one before every weight layer but the first
// (Network::insert_before): the network input is data, not a stored activation.
#pragma once

#include <vector>

#include "workloads/nn/layer.hpp"

namespace axsim::train {

inline constexpr std::uint64_t kActivationErasureStream = 0x0A1F'0004;

class ActivationErasure : public nn::Layer {
 public:
  ActivationErasure(std::string name, double p_e);
  std::string kind() const override { return "activation_erasure"; }
  nn::Shape output_shape(const nn::Shape& in) const override { return in; }
  void forward(const nn::Tensor& x, nn::Tensor& y, const nn::ForwardContext& ctx) override;
  void backward(const nn::Tensor& x, const nn::Tensor& y, const nn::Tensor& dy, nn::Tensor* dx) override;
  double rate() const { return p_e_; }

 private:
  double p_e_;
  std::vector<float> keep_;  // 1 = kept, 0 = erased, from the last training forward
  bool last_training_ = false;
};

}  // namespace axsim::train
