#include "workloads/artifact/deploy.hpp"

#include "core/error.hpp"
#include "workloads/artifact/safetensors.hpp"

namespace axsim::artifact {

namespace {

std::vector<std::int64_t> dims(const nn::Shape& s) { return std::vector<std::int64_t>(s.begin(), s.end()); }

nlohmann::json parse_meta_json(const SafetensorsFile& f, const std::string& key) {
  const std::string& text = f.metadata_value(key);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw_input_error(f.path(), "metadata " + key, "a JSON string", e.what());
  }
}

}  // namespace

void save_trained_model(const std::string& path, nn::Network& net, const TrainedModelInfo& info) {
  SafetensorsWriter w;
  for (auto* p : net.parameters()) w.add(p->name, dims(p->value.shape()), std::span<const float>(p->value.vec()));
  for (auto& [name, t] : net.buffers()) w.add(name, dims(t->shape()), std::span<const float>(t->vec()));
  w.set_metadata("axsim.format", "1");
  w.set_metadata("axsim.network", nn::to_json(net.spec()).dump());
  w.set_metadata("axsim.binary_connect", info.binary_connect ? "true" : "false");
  w.set_metadata("axsim.hardware", info.hardware.dump());
  w.set_metadata("axsim.training", info.training.dump());
  w.set_metadata("axsim.feature_scaling", info.feature_scaling);
  w.write(path);
}

TrainedModel load_trained_model(const std::string& path) {
  const SafetensorsFile f = SafetensorsFile::load(path);
  if (!f.metadata().count("axsim.format"))
    throw_input_error(path, "__metadata__", "an axsim deploy artifact (metadata key axsim.format)",
                      "a safetensors file without it (plain PyTorch weights need a network definition)");
  if (f.metadata_value("axsim.format") != "1")
    throw_input_error(path, "metadata axsim.format", "format 1", "'" + f.metadata_value("axsim.format") + "'");
  TrainedModel m;
  m.network = std::make_unique<nn::Network>(nn::network_spec_from_json(parse_meta_json(f, "axsim.network"), path));
  m.info.binary_connect = f.metadata_value("axsim.binary_connect") == "true";
  m.info.hardware = parse_meta_json(f, "axsim.hardware");
  m.info.training = parse_meta_json(f, "axsim.training");
  if (f.metadata().count("axsim.feature_scaling")) m.info.feature_scaling = f.metadata_value("axsim.feature_scaling");
  auto restore = [&](const std::string& name, nn::Tensor& t) {
    const Tensor& src = f.tensor(name);
    src.expect_shape(dims(t.shape()));
    t.vec() = src.as_float();
  };
  for (auto* p : m.network->parameters()) restore(p->name, p->value);
  for (auto& [name, t] : m.network->buffers()) restore(name, *t);
  return m;
}

QuantizedNetwork load_deployed_network(const std::string& path, const Dataset& calibration,
                                       const quant::QuantizeOptions& options, int calibration_samples) {
  TrainedModel model = load_trained_model(path);
  if (calibration.size == 0) throw_input_error(calibration.source, "", "at least one sample to calibrate activations");
  if (calibration.feature_count() != std::size_t(nn::shape_size(model.network->spec().input)))
    throw_input_error(calibration.source, "", std::to_string(nn::shape_size(model.network->spec().input)) +
                                                  " features per sample (the network input of " + path + ")",
                      std::to_string(calibration.feature_count()));
  quant::QuantizeOptions o = options;
  if (model.info.binary_connect) o.weight_bits = 1;
  const int n = int(std::min<std::size_t>(calibration.size, std::size_t(std::max(1, calibration_samples))));
  QuantizedNetwork net = quant::quantize_network(*model.network, calibration.features.data(), n, o);
  if (net.name.empty()) net.name = path;
  return net;
}

}  // namespace axsim::artifact
