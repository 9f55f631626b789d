#include "workloads/artifact/deploy.hpp"

#include <algorithm>
#include <iostream>
#include <optional>

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

constexpr const char* kQuantizedKey = "axsim.quantized";
const std::string kQuantizedPrefix = "quantized.";

nlohmann::json format_json(const FixedPointFormat& f) {
  nlohmann::json j{{"bits", f.bits}, {"frac_bits", f.frac_bits}, {"signed", f.is_signed}, {"symmetric", f.symmetric}};
  if (!f.has_power_of_two_step()) j["step"] = f.explicit_step;
  return j;
}

nlohmann::json options_json(const quant::QuantizeOptions& o) {
  return {{"weight_bits", o.weight_bits},
          {"activation_bits", o.activation_bits},
          {"input_format", format_json(o.input_format)},
          {"activation_quantile", o.activation_quantile}};
}

std::vector<std::int64_t> weight_shape(const QLayer& l) {
  if (l.kind == QOpKind::conv2d) return {l.out_c, l.in_c, l.kernel, l.kernel};
  return {l.out_c, std::int64_t(l.input_size())};
}

void add_quantized_network(SafetensorsWriter& w, const QuantizedNetwork& net, const quant::QuantizeOptions& options,
                           const nlohmann::json& calibration) {
  nlohmann::json layers = nlohmann::json::array();
  for (const QLayer& l : net.layers) {
    nlohmann::json j{{"name", l.name},
                     {"kind", std::string(to_string(l.kind))},
                     {"in", {l.in_c, l.in_h, l.in_w}},
                     {"out", {l.out_c, l.out_h, l.out_w}},
                     {"kernel", l.kernel},
                     {"stride", l.stride},
                     {"padding", l.padding}};
    if (l.has_weights()) {
      j["weight_format"] = format_json(l.weight_format);
      j["input_format"] = format_json(l.input_format);
      j["output_format"] = format_json(l.output_format);
      j["relu"] = l.relu;
      j["is_output"] = l.is_output;
      j["binary_weights"] = l.binary_weights;
      j["bias"] = !l.bias.empty();
      w.add(kQuantizedPrefix + l.name + ".weight", weight_shape(l), std::span<const std::int8_t>(l.weights));
      if (!l.bias.empty()) w.add(kQuantizedPrefix + l.name + ".bias", {l.out_c}, std::span<const std::int32_t>(l.bias));
    }
    layers.push_back(j);
  }
  const nlohmann::json meta{{"version", 1},
                            {"name", net.name},
                            {"classes", net.classes},
                            {"input_format", format_json(net.input_format)},
                            {"options", options_json(options)},
                            {"calibration", calibration},
                            {"layers", layers}};
  w.set_metadata(kQuantizedKey, meta.dump());
}

// Strict reader of the axsim.quantized JSON: every access names the key path on failure.
struct JsonReader {
  const std::string& path;
  [[noreturn]] void fail(const std::string& where, const std::string& expected, const std::string& found) const {
    throw_input_error(path, std::string("metadata ") + kQuantizedKey + where, expected, found);
  }
  const nlohmann::json& member(const nlohmann::json& j, const std::string& where, const std::string& key) const {
    if (!j.is_object()) fail(where, "an object", j.type_name());
    const auto it = j.find(key);
    if (it == j.end()) fail(where + "." + key, "the key '" + key + "'", "nothing");
    return *it;
  }
  int integer(const nlohmann::json& j, const std::string& where, const std::string& key) const {
    const nlohmann::json& v = member(j, where, key);
    if (!v.is_number_integer() || v.get<std::int64_t>() < INT32_MIN || v.get<std::int64_t>() > INT32_MAX)
      fail(where + "." + key, "an integer", v.dump());
    return v.get<int>();
  }
  bool boolean(const nlohmann::json& j, const std::string& where, const std::string& key) const {
    const nlohmann::json& v = member(j, where, key);
    if (!v.is_boolean()) fail(where + "." + key, "true or false", v.dump());
    return v.get<bool>();
  }
  std::string text(const nlohmann::json& j, const std::string& where, const std::string& key) const {
    const nlohmann::json& v = member(j, where, key);
    if (!v.is_string()) fail(where + "." + key, "a string", v.dump());
    return v.get<std::string>();
  }
  double number(const nlohmann::json& j, const std::string& where, const std::string& key) const {
    const nlohmann::json& v = member(j, where, key);
    if (!v.is_number()) fail(where + "." + key, "a number", v.dump());
    return v.get<double>();
  }
  FixedPointFormat format(const nlohmann::json& j, const std::string& where, const std::string& key) const {
    const nlohmann::json& v = member(j, where, key);
    const std::string at = where + "." + key;
    FixedPointFormat f;
    f.bits = integer(v, at, "bits");
    f.frac_bits = integer(v, at, "frac_bits");
    f.is_signed = boolean(v, at, "signed");
    f.symmetric = boolean(v, at, "symmetric");
    if (v.contains("step")) f.explicit_step = number(v, at, "step");
    if (const std::string why = f.invalid_reason(); !why.empty()) fail(at, "a valid number format", why);
    return f;
  }
  std::array<int, 3> triple(const nlohmann::json& j, const std::string& where, const std::string& key) const {
    const nlohmann::json& v = member(j, where, key);
    if (!v.is_array() || v.size() != 3) fail(where + "." + key, "[channels, height, width]", v.dump());
    std::array<int, 3> out{};
    for (std::size_t i = 0; i < 3; ++i) {
      if (!v[i].is_number_integer() || v[i].get<std::int64_t>() < 1 || v[i].get<std::int64_t>() > (1 << 24))
        fail(where + "." + key, "positive sizes", v.dump());
      out[i] = v[i].get<int>();
    }
    return out;
  }
};

QOpKind parse_kind(const JsonReader& r, const std::string& where, const std::string& text) {
  for (QOpKind k : {QOpKind::dense, QOpKind::conv2d, QOpKind::maxpool, QOpKind::avgpool, QOpKind::flatten})
    if (to_string(k) == text) return k;
  r.fail(where + ".kind", "dense | conv2d | maxpool | avgpool | flatten", "'" + text + "'");
}

std::optional<QuantizedNetwork> read_quantized(const SafetensorsFile& f, quant::QuantizeOptions* made_with) {
  if (!f.metadata().count(kQuantizedKey)) return std::nullopt;
  const nlohmann::json meta = parse_meta_json(f, kQuantizedKey);
  const JsonReader r{f.path()};
  if (r.integer(meta, "", "version") != 1) r.fail(".version", "version 1", meta["version"].dump());
  QuantizedNetwork net;
  net.name = r.text(meta, "", "name");
  net.classes = r.integer(meta, "", "classes");
  net.input_format = r.format(meta, "", "input_format");
  if (made_with) {
    const nlohmann::json& o = r.member(meta, "", "options");
    made_with->weight_bits = r.integer(o, ".options", "weight_bits");
    made_with->activation_bits = r.integer(o, ".options", "activation_bits");
    made_with->input_format = r.format(o, ".options", "input_format");
    made_with->activation_quantile = r.number(o, ".options", "activation_quantile");
  }
  const nlohmann::json& layers = r.member(meta, "", "layers");
  if (!layers.is_array() || layers.empty()) r.fail(".layers", "a non-empty list of layers", layers.dump());
  std::vector<std::string> expected_tensors;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const nlohmann::json& j = layers[i];
    const std::string where = ".layers[" + std::to_string(i) + "]";
    QLayer l;
    l.name = r.text(j, where, "name");
    l.kind = parse_kind(r, where, r.text(j, where, "kind"));
    const auto in = r.triple(j, where, "in"), out = r.triple(j, where, "out");
    l.in_c = in[0], l.in_h = in[1], l.in_w = in[2];
    l.out_c = out[0], l.out_h = out[1], l.out_w = out[2];
    l.kernel = r.integer(j, where, "kernel");
    l.stride = r.integer(j, where, "stride");
    l.padding = r.integer(j, where, "padding");
    if (l.has_weights()) {
      l.weight_format = r.format(j, where, "weight_format");
      l.input_format = r.format(j, where, "input_format");
      l.output_format = r.format(j, where, "output_format");
      l.relu = r.boolean(j, where, "relu");
      l.is_output = r.boolean(j, where, "is_output");
      l.binary_weights = r.boolean(j, where, "binary_weights");
      l.multiplier = Multiplier::exact(l.weight_format.bits);
      const std::string weight_name = kQuantizedPrefix + l.name + ".weight";
      const Tensor& wt = f.tensor(weight_name);
      wt.expect_dtype(DType::I8);
      wt.expect_shape(weight_shape(l));
      l.weights = wt.as_int8();
      expected_tensors.push_back(weight_name);
      if (r.boolean(j, where, "bias")) {
        const std::string bias_name = kQuantizedPrefix + l.name + ".bias";
        const Tensor& bt = f.tensor(bias_name);
        bt.expect_dtype(DType::I32);
        bt.expect_shape({l.out_c});
        l.bias = bt.as_int32();
        expected_tensors.push_back(bias_name);
      }
    }
    net.layers.push_back(std::move(l));
  }
  // Pooling/flatten layers carry the formats of their input (not stored: they have no arithmetic).
  FixedPointFormat current = net.input_format;
  for (QLayer& l : net.layers) {
    if (!l.has_weights()) {
      l.input_format = l.output_format = current;
    }
    current = l.output_format;
  }
  // No stray quantized tensors (a layer renamed in the JSON but not in the tensors, say).
  for (const std::string& name : f.names())
    if (name.rfind(kQuantizedPrefix, 0) == 0 &&
        std::find(expected_tensors.begin(), expected_tensors.end(), name) == expected_tensors.end())
      throw_input_error(f.path(), "tensor " + name,
                        "only the tensors of the layers listed in " + std::string(kQuantizedKey),
                        "a tensor no layer uses");
  validate(net, f.path() + " (" + kQuantizedKey + ")");
  return net;
}

std::uint64_t times(std::uint64_t a, std::uint64_t b) {
  std::uint64_t product = 0;
  return __builtin_mul_overflow(a, b, &product) ? UINT64_MAX : product;
}

std::uint64_t plus(std::uint64_t a, std::uint64_t b) {
  std::uint64_t sum = 0;
  return __builtin_add_overflow(a, b, &sum) ? UINT64_MAX : sum;
}

std::uint64_t values_in(const nn::Shape& shape) {
  std::uint64_t n = 1;
  for (int d : shape) n = times(n, std::uint64_t(std::max(d, 0)));
  return n;
}

// Walks a spec the way nn::Network builds it (build_layer and each layer's output_shape), counting what
// the layers would allocate instead of allocating it: Dense/Conv2d weight and bias, BatchNorm weight,
// bias, running mean and running variance. FootprintMatchesTheBuiltNetwork (tests/workloads/artifact)
// keeps the two in step.
class FootprintWalk {
 public:
  NetworkFootprint result;

  // False where the walk cannot go on: a layer's input does not fit it (nn::Network reports that layer)
  // or an activation is over kMaxActivationValues (its shape may not even fit an int).
  bool walk(const std::vector<nn::LayerSpec>& layers, nn::Shape& shape) {
    for (const auto& l : layers)
      if (!layer(l, shape)) return false;
    return true;
  }

 private:
  void parameters(const nn::LayerSpec& l, std::uint64_t n) {
    result.parameter_values = plus(result.parameter_values, n);
    if (n > result.largest_layer_values) result.largest_layer_values = n, result.largest_layer = l.name;
  }
  bool activation(const nn::LayerSpec& l, std::uint64_t n) {
    if (n > result.largest_activation) result.largest_activation = n, result.largest_activation_layer = l.name;
    return n <= kMaxActivationValues;
  }

  bool layer(const nn::LayerSpec& l, nn::Shape& shape) {
    const std::uint64_t out = std::uint64_t(std::max(l.out, 0)), kernel = std::uint64_t(std::max(l.kernel, 0));
    const std::uint64_t bias = l.bias ? out : 0;
    if (l.type == "dense") {
      if (shape.size() != 1) return false;  // refused before its weights are allocated
      parameters(l, plus(times(out, std::uint64_t(shape[0])), bias));
      shape = {l.out};
    } else if (l.type == "conv2d") {
      if (shape.size() != 3) return false;  // refused before its weights are allocated
      // Counted before the output shape is checked: Conv2d allocates its weights first.
      parameters(l, plus(times(times(out, std::uint64_t(shape[0])), kernel * kernel), bias));
      const int stride = l.stride > 0 ? l.stride : 1;
      if (l.kernel <= 0) return false;
      const int rows = (shape[1] + 2 * l.padding - l.kernel) / stride + 1;
      const int cols = (shape[2] + 2 * l.padding - l.kernel) / stride + 1;
      if (rows <= 0 || cols <= 0) return false;
      // The forward pass unfolds the input into (in_channels * kernel^2) x (output pixels) per sample.
      if (!activation(l, times(times(std::uint64_t(shape[0]), kernel * kernel), times(rows, cols)))) return false;
      shape = {l.out, rows, cols};
    } else if (l.type == "maxpool" || l.type == "avgpool") {
      const int stride = l.stride > 0 ? l.stride : l.kernel;
      if (shape.size() != 3 || l.kernel <= 0 || stride <= 0) return false;
      const int rows = (shape[1] - l.kernel) / stride + 1, cols = (shape[2] - l.kernel) / stride + 1;
      if (rows <= 0 || cols <= 0) return false;
      shape = {shape[0], rows, cols};
    } else if (l.type == "global_avgpool") {
      if (shape.size() != 3) return false;
      shape = {shape[0]};
    } else if (l.type == "batchnorm") {
      if (shape.empty()) return false;
      parameters(l, times(4, std::uint64_t(std::max(shape[0], 0))));
    } else if (l.type == "flatten") {
      shape = {int(values_in(shape))};  // bounded by the previous layer's activation check
    } else if (l.type == "residual") {
      nn::Shape body = shape, shortcut = shape;
      if (!walk(l.body, body) || !walk(l.shortcut, shortcut) || body != shortcut) return false;
      shape = body;
    } else if (l.type != "relu" && l.type != "dropout") {
      return false;
    }
    return activation(l, values_in(shape));
  }
};

std::string count_text(std::uint64_t n) { return n == UINT64_MAX ? "over 2^64" : std::to_string(n); }

// A network metadata is a claim: its sizes, each within range, can still multiply to a network far
// larger than the file (a 2^26-value input into a 2^20-wide dense layer). Checked before nn::Network
// allocates anything, so what the loader allocates is bounded by the file's size.
void expect_footprint_fits_the_file(const SafetensorsFile& f, const nn::NetworkSpec& spec) {
  const NetworkFootprint fp = network_footprint(spec);
  if (fp.largest_activation > kMaxActivationValues)
    throw_input_error(f.path(), "metadata axsim.network, layer '" + fp.largest_activation_layer + "'",
                      "activations of at most 2^26 values per sample",
                      count_text(fp.largest_activation) + " values per sample");
  std::uint64_t in_file = 0;
  for (const auto& [name, tensor] : f.tensors())
    if (name.rfind(kQuantizedPrefix, 0) != 0) in_file = plus(in_file, std::uint64_t(tensor.element_count()));
  if (fp.parameter_values > in_file)
    throw_input_error(
        f.path(), "metadata axsim.network",
        "a network whose parameters the file holds (its tensors hold " + std::to_string(in_file) + " values)",
        "a network of " + count_text(fp.parameter_values) + " parameter values (layer '" + fp.largest_layer +
            "' alone " + count_text(fp.largest_layer_values) + ")");
}

}  // namespace

NetworkFootprint network_footprint(const nn::NetworkSpec& spec) {
  FootprintWalk w;
  nn::Shape shape = spec.input;
  w.result.largest_activation = values_in(shape);
  w.result.largest_activation_layer = "input";
  w.result.shapes_chain = w.walk(spec.layers, shape);
  return w.result;
}

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
  if (info.calibration) {
    const Dataset& data = *info.calibration;
    if (data.size == 0) throw_input_error(data.source, "", "at least one sample to calibrate activations");
    quant::QuantizeOptions o;
    if (info.binary_connect) o.weight_bits = 1;
    const int n = int(std::min<std::size_t>(data.size, std::size_t(std::max(1, info.calibration_samples))));
    // A network the integer path cannot express (e.g. analog-noise hooks, which belong on a crossbar) is
    // still a valid float artifact: it is saved without the quantized network, and the reason is told.
    std::optional<QuantizedNetwork> qnet;
    try {
      qnet = quant::quantize_network(net, data.features.data(), n, o);
    } catch (const std::exception& e) {
      std::cerr << "notice: " << path << ": no quantized network stored (" << e.what() << ")\n";
    }
    if (qnet) add_quantized_network(w, *qnet, o, {{"source", data.source}, {"samples", n}});
  }
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
  nn::NetworkSpec spec = nn::network_spec_from_json(parse_meta_json(f, "axsim.network"), path);
  expect_footprint_fits_the_file(f, spec);
  m.network = std::make_unique<nn::Network>(std::move(spec));
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

std::optional<QuantizedNetwork> read_quantized_network(const std::string& path) {
  return read_quantized(SafetensorsFile::load(path), nullptr);
}

bool same_quantization(const quant::QuantizeOptions& a, const quant::QuantizeOptions& b) {
  return a.weight_bits == b.weight_bits && a.activation_bits == b.activation_bits && a.input_format == b.input_format &&
         a.activation_quantile == b.activation_quantile;
}

DeployedNetwork load_deployed(const std::string& path, const Dataset& calibration,
                              const quant::QuantizeOptions& options, int calibration_samples) {
  TrainedModel model = load_trained_model(path);
  quant::QuantizeOptions wanted = options;
  if (model.info.binary_connect) wanted.weight_bits = 1;
  DeployedNetwork result;
  quant::QuantizeOptions made_with;
  std::optional<QuantizedNetwork> stored = read_quantized(SafetensorsFile::load(path), &made_with);
  if (stored) {
    // The stored network must be the trained one's: same input size, classes and dense/conv layers.
    const nn::NetworkSpec& spec = model.network->spec();
    if (stored->layers.front().input_size() != std::size_t(nn::shape_size(spec.input)) ||
        stored->classes != spec.classes)
      throw_input_error(path, std::string("metadata ") + kQuantizedKey,
                        "a network with " + std::to_string(nn::shape_size(spec.input)) + " inputs and " +
                            std::to_string(spec.classes) + " classes (axsim.network)",
                        std::to_string(stored->layers.front().input_size()) + " inputs and " +
                            std::to_string(stored->classes) + " classes");
  }
  if (stored && same_quantization(made_with, wanted)) {
    std::vector<std::string> names;
    for (const QLayer& l : stored->layers)
      if (l.has_weights()) names.push_back(l.name);
    for (const auto& [name, m] : wanted.layer_multipliers)
      if (std::find(names.begin(), names.end(), name) == names.end())
        throw_input_error("<quantize options>", "layer_multipliers." + name,
                          "the name of a dense/conv2d layer of " + path, "'" + name + "'", closest_match(name, names));
    for (QLayer& l : stored->layers) {
      if (!l.has_weights()) continue;
      const auto it = wanted.layer_multipliers.find(l.name);
      l.multiplier = it == wanted.layer_multipliers.end() ? wanted.multiplier : it->second;
    }
    if (stored->name.empty()) stored->name = path;
    result.network = std::move(*stored);
    result.stored = true;
    return result;
  }
  if (calibration.size == 0) throw_input_error(calibration.source, "", "at least one sample to calibrate activations");
  if (calibration.size == 0) throw_input_error(calibration.source, "", "at least one sample to calibrate activations");
  if (calibration.feature_count() != std::size_t(nn::shape_size(model.network->spec().input)))
    throw_input_error(calibration.source, "",
                      std::to_string(nn::shape_size(model.network->spec().input)) +
                          " features per sample (the network input of " + path + ")",
                      std::to_string(calibration.feature_count()));
  const int n = int(std::min<std::size_t>(calibration.size, std::size_t(std::max(1, calibration_samples))));
  result.network = quant::quantize_network(*model.network, calibration.features.data(), n, wanted);
  if (result.network.name.empty()) result.network.name = path;
  result.notice = std::string("notice: ") + path +
                  (stored ? " stores a quantized network made with other options (weight bits, activation bits, "
                            "input format or quantile)"
                          : " stores no quantized network") +
                  "; quantized at load, activations calibrated on the first " + std::to_string(n) + " samples of " +
                  calibration.source;
  return result;
}

QuantizedNetwork load_deployed_network(const std::string& path, const Dataset& calibration,
                                       const quant::QuantizeOptions& options, int calibration_samples) {
  DeployedNetwork d = load_deployed(path, calibration, options, calibration_samples);
  if (!d.notice.empty()) std::cerr << d.notice << "\n";
  return std::move(d.network);
}

}  // namespace axsim::artifact
