// The deploy artifact (DESIGN section 7): one .safetensors file that PyTorch users can read.
// Tensors carry PyTorch state_dict names and shapes ("fc1.weight" [out, in], "bn1.running_mean"...);
// `__metadata__` holds JSON strings:
//   axsim.format        "1"
//   axsim.network       the network spec (layer list with stable names, input shape, classes)
//   axsim.binary_connect "true" | "false" (weights are used as their sign)
//   axsim.hardware      per-layer hardware assignment {layer: {p, voltage, multiplier, i_max, ...}}
//   axsim.training      train.json summary (method, epochs, accuracy)
//   axsim.feature_scaling how dataset values became features
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
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
};

// Writes atomically (temp file + rename).
void save_trained_model(const std::string& path, nn::Network& net, const TrainedModelInfo& info);

struct TrainedModel {
  std::unique_ptr<nn::Network> network;
  TrainedModelInfo info;
};

// Validates everything: the file format (safetensors loader), the metadata JSON, and every tensor's
// presence, dtype and shape against the network spec. Errors name the file and the tensor/key.
TrainedModel load_trained_model(const std::string& path);

// The integer network the accelerator runs, from a deploy artifact: the trained model quantized with
// `options`, activation ranges calibrated on the first `calibration_samples` samples of `calibration`.
// `axsim eval` and `axsim sim` both call this, so they deploy the same integers.
// Known limitation: the quantized network is not yet stored in the artifact, so callers calibrate on the
// data they are given (the CLI uses the evaluated data set).
QuantizedNetwork load_deployed_network(const std::string& path, const Dataset& calibration,
                                       const quant::QuantizeOptions& options = {}, int calibration_samples = 256);

}  // namespace axsim::artifact
