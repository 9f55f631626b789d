// The deploy artifact (DESIGN section 7): one .safetensors file that PyTorch users can read.
// Tensors carry PyTorch state_dict names and shapes ("fc1.weight" [out, in], "bn1.running_mean"...);
// `__metadata__` holds JSON strings:
//   axsim.format        "1"
//   axsim.network       the network spec (layer list with stable names, input shape, classes)
//   axsim.binary_connect "true" | "false" (weights are used as their sign)
//   axsim.hardware      per-layer hardware assignment {layer: {p, voltage, multiplier, i_max, ...}}
//   axsim.training      train.json summary (method, epochs, accuracy)
//   axsim.feature_scaling how dataset values became features
//   axsim.quantized     (optional) the deployed integer network: options it was made with, calibration
//                       source, input format, classes and per layer {name, kind, geometry, weight/input/
//                       output formats, relu, is_output, binary_weights}; its integer weights and biases
//                       are the tensors "quantized.<layer>.weight" (I8, the float weight's shape) and
//                       "quantized.<layer>.bias" (I32 [out], at the accumulator step).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "models/quantized_network.hpp"
#include "workloads/data/dataset.hpp"
#include "workloads/nn/network.hpp"
#include "workloads/quant/quantize.hpp"

namespace axsim::artifact {

struct TrainedModelInfo {
  bool binary_connect = false;
  nlohmann::json training = nlohmann::json::object();
  nlohmann::json hardware = nlohmann::json::object();
  std::string feature_scaling;
  // When set (not owned), save_trained_model also stores the quantized network (QuantizeOptions defaults,
  // weight_bits 1 for BinaryConnect), activations calibrated on its first calibration_samples samples
  // (the training set: eval and sim then deploy the same integers whatever data they evaluate).
  const Dataset* calibration = nullptr;
  int calibration_samples = 256;
};

// Writes atomically (temp file + rename).
void save_trained_model(const std::string& path, nn::Network& net, const TrainedModelInfo& info);

struct TrainedModel {
  std::unique_ptr<nn::Network> network;
  TrainedModelInfo info;
};

// Validates everything: the file format (safetensors loader), the metadata JSON, and every tensor's
// presence, dtype and shape against the network spec. Errors name the file and the tensor/key.
// Before anything is allocated, the network's footprint (below) must fit the file: its parameter values
// at most the values of the file's (non-quantized) tensors, every activation at most kMaxActivationValues.
TrainedModel load_trained_model(const std::string& path);

// What building a network spec would allocate, worked out from the spec alone (nothing is built), in
// overflow-safe arithmetic (sums and products saturate at UINT64_MAX).
struct NetworkFootprint {
  std::uint64_t parameter_values = 0;  // parameters and BatchNorm statistics, every layer
  std::uint64_t largest_layer_values = 0;
  std::string largest_layer;             // the layer holding the most of them
  std::uint64_t largest_activation = 0;  // values per sample: a layer's output or a convolution's unfolded input
  std::string largest_activation_layer;
  // false: the walk stopped at a layer whose input does not fit it (nn::Network reports that layer; the
  // values above include everything it allocates before reporting it).
  bool shapes_chain = true;
};
NetworkFootprint network_footprint(const nn::NetworkSpec& spec);

// The largest per-sample activation a deploy artifact's network may have: the largest input it may declare.
inline constexpr std::uint64_t kMaxActivationValues = std::uint64_t(1) << 26;

// The quantized network stored in an artifact: nullopt when the file has none (e.g. written by PyTorch
// users or an older axsim). Strict: bad JSON, a missing/extra layer, a tensor of the wrong dtype or
// shape, or a network models::validate rejects is an InputError naming the file and the key or tensor.
// Multipliers are exact (the evaluator chooses them).
std::optional<QuantizedNetwork> read_quantized_network(const std::string& path);

// The QuantizeOptions fields a stored network was made with (multipliers excepted).
bool same_quantization(const quant::QuantizeOptions& a, const quant::QuantizeOptions& b);

struct DeployedNetwork {
  QuantizedNetwork network;
  bool stored = false;  // true: the artifact's integers; false: quantized at load
  std::string notice;   // when quantized at load: why, and on which data
};

// The integer network the accelerator runs, from a deploy artifact. If the artifact stores one made with
// the same options (weight/activation bits, input format, quantile), that one, with options.multiplier /
// layer_multipliers applied (unknown layer names are an InputError). Otherwise the trained model quantized
// with `options`, activation ranges calibrated on the first `calibration_samples` samples of
// `calibration`, and `notice` says so. `axsim eval` and `axsim sim` both call this, so they deploy the
// same integers.
DeployedNetwork load_deployed(const std::string& path, const Dataset& calibration,
                              const quant::QuantizeOptions& options = {}, int calibration_samples = 256);
// load_deployed(...).network, printing the notice (if any) to stderr.
QuantizedNetwork load_deployed_network(const std::string& path, const Dataset& calibration,
                                       const quant::QuantizeOptions& options = {}, int calibration_samples = 256);

}  // namespace axsim::artifact
