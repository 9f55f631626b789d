// Training YAML: everything `axsim train` reads from the config before it touches data
// (TrainConfig::from, the network, optimizer, learning-rate schedule and method sections). The
// network is checked against a fixed MNIST-shaped input (1x28x28, 10 classes) and not allocated.
#include "core/config.hpp"
#include "tests/fuzz/fuzz_common.hpp"
#include "workloads/nn/network.hpp"
#include "workloads/nn/optimizer.hpp"
#include "workloads/train/method.hpp"
#include "workloads/train/trainer.hpp"

extern "C" int AXSIM_FUZZ_ENTRY(const std::uint8_t* data, std::size_t size) {
  const std::string text(axsim::fuzz::as_text(data, size));
  axsim::fuzz::expect_value_or_input_error([&] {
    const auto root = axsim::ConfigNode::parse(text, "fuzz-train.yaml");
    const auto config = axsim::train::TrainConfig::from(root);
    (void)axsim::nn::parse_network(config.root.child("network"), axsim::nn::Shape{1, 28, 28}, 10);
    const auto optimizer_node = config.root.child("training").child("optimizer");
    (void)axsim::nn::make_optimizer(optimizer_node);
    (void)axsim::nn::parse_schedule(optimizer_node);
    const auto method = config.root.maybe("method");
    (void)axsim::train::make_method(method ? &*method : nullptr);
  });
  return 0;
}
