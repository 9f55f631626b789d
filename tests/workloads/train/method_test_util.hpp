// Shared helpers of the training-method tests: small networks, BinaryConnect as the trainer does it,
// methods built from YAML text, and binomial bounds.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>

#include "core/config.hpp"
#include "core/error.hpp"
#include "workloads/nn/network.hpp"
#include "workloads/train/method.hpp"

namespace axsim::train::test {

// MLP in -> hidden... -> classes with stable names fc1, fc2, ...; initialised from `seed`.
inline std::unique_ptr<nn::Network> make_mlp(const std::string& hidden, int in = 64, int classes = 10,
                                             std::uint64_t seed = 3) {
  const ConfigNode node = ConfigNode::parse("preset: mlp\nhidden: " + hidden + "\n", "net.yaml");
  auto net = std::make_unique<nn::Network>(nn::parse_network(node, nn::Shape{in}, classes));
  net->initialize(seed);
  return net;
}

inline nn::Parameter& weight(nn::Network& net, std::size_t layer) {
  for (nn::Parameter* p : net.weight_layers()[layer]->parameters())
    if (p->is_weight) return *p;
  throw std::logic_error("no weight");
}

// What Trainer::binarize_weights does before every batch of a BinaryConnect run.
inline void binarize(nn::Network& net) {
  for (std::size_t l = 0; l < net.weight_layers().size(); ++l) {
    nn::Parameter& w = weight(net, l);
    w.forward_value.resize(w.value.shape());
    for (std::size_t i = 0; i < w.value.size(); ++i) w.forward_value[i] = w.value[i] >= 0.0f ? 1.0f : -1.0f;
    w.use_forward_value = true;
  }
}

// The `method:` node of a small YAML document.
inline std::unique_ptr<TrainingMethod> method_from(const std::string& method_yaml) {
  const ConfigNode root = ConfigNode::parse("method: " + method_yaml + "\n", "recipe.yaml");
  const ConfigNode node = root.child("method");
  return make_method(&node);
}

// Message of the InputError thrown by f ("" if none).
template <class F>
std::string input_error_of(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

// |k - n p| within z standard deviations of a binomial(n, p) count.
inline void expect_binomial(std::uint64_t k, std::uint64_t n, double p, const std::string& what, double z = 5.0) {
  const double mean = double(n) * p, sd = std::sqrt(double(n) * p * (1 - p));
  EXPECT_LE(std::fabs(double(k) - mean), z * sd + 1e-9) << what << ": " << k << " of " << n << ", expected p = " << p;
}

}  // namespace axsim::train::test
