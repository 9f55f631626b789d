#include "workloads/train/methods/activation_erasure.hpp"

#include <algorithm>
#include <stdexcept>

#include "core/rng.hpp"
#include "models/fault_channel.hpp"

namespace axsim::train {

ActivationErasure::ActivationErasure(std::string name, double p_e) : nn::Layer(std::move(name)), p_e_(p_e) {
  if (!(p_e >= 0.0 && p_e <= 1.0)) throw std::invalid_argument("ActivationErasure: p_e must be in [0, 1]");
}

void ActivationErasure::forward(const nn::Tensor& x, nn::Tensor& y, const nn::ForwardContext& ctx) {
  y.resize(x.shape());
  last_training_ = ctx.training && p_e_ > 0.0;
  if (!last_training_) {
    std::copy_n(x.data(), x.size(), y.data());
    return;
  }
  // Erase a mask of ones rather than y itself: an erased value and a value that was already 0 must be
  // told apart in backward.
  keep_.assign(x.size(), 1.0f);
  erase(std::span<float>(keep_), p_e_, ctx.seed,
        stream_id({kActivationErasureStream, ctx.step, std::uint64_t(ctx.layer_index)}));
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = x[i] * keep_[i];
}

void ActivationErasure::backward(const nn::Tensor&, const nn::Tensor&, const nn::Tensor& dy, nn::Tensor* dx) {
  if (!dx) return;
  dx->resize(dy.shape());
  if (!last_training_) {
    std::copy_n(dy.data(), dy.size(), dx->data());
    return;
  }
  for (std::size_t i = 0; i < dy.size(); ++i) (*dx)[i] = dy[i] * keep_[i];
}

}  // namespace axsim::train
