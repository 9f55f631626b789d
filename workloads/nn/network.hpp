// Networks: a declarative spec (from YAML presets or explicit layer lists; serialised as JSON into the
// deploy artifact) and the built sequential network the trainer runs.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "workloads/nn/layers.hpp"

namespace axsim::nn {

struct LayerSpec {
  std::string type;  // dense, conv2d, maxpool, avgpool, global_avgpool, batchnorm, relu, dropout, flatten, residual
  std::string name;  // stable: appears in every report, artifact tensor names and hardware assignments
  int out = 0;       // dense: features; conv2d: channels
  int kernel = 0, stride = 0, padding = 0;
  bool bias = true;
  double p = 0.0;                         // dropout
  std::vector<LayerSpec> body, shortcut;  // residual
};

struct NetworkSpec {
  std::string name;
  Shape input;  // per-sample input shape
  int classes = 0;
  std::vector<LayerSpec> layers;
};

// Parse a `network:` YAML node. Accepts `preset: mlp|lenet5|klachko_cnn|wrn` with its options or an
// explicit `layers:` list. The input shape and class count come from the dataset.
NetworkSpec parse_network(const ConfigNode& node, const Shape& input, int classes);

nlohmann::json to_json(const NetworkSpec& spec);
NetworkSpec network_spec_from_json(const nlohmann::json& j, const std::string& origin);

class Network {
 public:
  // Builds the layers and checks that every shape chains; throws InputError naming the layer.
  explicit Network(NetworkSpec spec);

  const NetworkSpec& spec() const { return spec_; }
  const std::vector<LayerPtr>& layers() const { return layers_; }
  Layer* find(const std::string& name) const;  // top-level or inside residual blocks; nullptr if absent

  // Inserts a hook layer (output shape == input shape: erasure or noise on activations) before the named
  // layer, at top level or inside a residual block. Hooks are training machinery, not architecture: they
  // are not in spec(), so artifacts and weight_layers() never see them. Unknown name -> InputError.
  void insert_before(const std::string& layer_name, LayerPtr hook);

  // Returns the logits (N, classes). Keeps every activation for backward().
  const Tensor& forward(const Tensor& x, const ForwardContext& ctx);
  // Backpropagates dlogits through the last forward(); writes every parameter's grad.
  void backward(const Tensor& dlogits);

  std::vector<Parameter*> parameters();
  std::vector<std::pair<std::string, Tensor*>> buffers();
  // Layers that own a multiplicative weight (dense, conv2d), in forward order, including those inside
  // residual blocks: the unit for per-layer fault rates, DRUM k and hardware assignment.
  std::vector<Layer*> weight_layers() const;

  // PyTorch's default initialisation (Kaiming-uniform with a = sqrt(5) for weights, U(+-1/sqrt(fan_in))
  // for biases), from a counter-based stream so it depends only on the seed.
  void initialize(std::uint64_t seed);

  std::uint64_t macs_per_sample() const;
  std::size_t parameter_count();

 private:
  NetworkSpec spec_;
  std::vector<LayerPtr> layers_;
  // Which layers need their input gradient: only those with a trainable layer before them (the
  // first dense layer of an MLP after a flatten skips its dX product). Rebuilt when hooks are inserted.
  void plan_backward();
  std::vector<Tensor> acts_;            // acts_[i] = output of layer i (empty for an aliased flatten)
  std::vector<const Tensor*> out_;      // out_[i] = what layer i+1 reads: &acts_[i], or a flatten's input
  std::vector<char> alias_, needs_dx_;  // alias_[i]: layer i is a flatten that is not the last layer
  Tensor grad_a_, grad_b_;
  const Tensor* input_ = nullptr;
};

}  // namespace axsim::nn
