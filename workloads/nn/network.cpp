#include "workloads/nn/network.hpp"

#include <cmath>
#include <functional>
#include <map>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace axsim::nn {

namespace {

const std::vector<std::string> kLayerTypes = {"dense",     "conv2d", "maxpool", "avgpool", "global_avgpool",
                                              "batchnorm", "relu",   "dropout", "flatten", "residual"};

LayerSpec make(std::string type, std::string name, int out = 0, int kernel = 0, int stride = 0, int padding = 0) {
  LayerSpec s;
  s.type = std::move(type);
  s.name = std::move(name);
  s.out = out;
  s.kernel = kernel;
  s.stride = stride;
  s.padding = padding;
  return s;
}

// Gives unnamed layers stable names: "<type><n>" counting layers of that type in order.
void assign_names(std::vector<LayerSpec>& layers, std::map<std::string, int>& counters, const std::string& prefix) {
  for (auto& l : layers) {
    if (l.name.empty()) l.name = prefix + l.type + std::to_string(++counters[l.type]);
    assign_names(l.body, counters, l.name + ".body.");
    assign_names(l.shortcut, counters, l.name + ".shortcut.");
  }
}

std::vector<LayerSpec> preset_mlp(const ConfigNode& node, int classes) {
  std::vector<LayerSpec> layers{make("flatten", "flatten")};
  int i = 0;
  std::vector<int> hidden;
  if (auto h = node.maybe("hidden"))
    for (const auto& item : h->items()) hidden.push_back(int(item.as_num()));
  const double dropout = node.num("dropout", 0.0);
  const bool bn = node.boolean("batchnorm", false);
  for (int width : hidden) {
    ++i;
    if (width <= 0) node.child("hidden").fail("positive layer widths", std::to_string(width));
    layers.push_back(make("dense", "fc" + std::to_string(i), width));
    if (bn) layers.push_back(make("batchnorm", "bn" + std::to_string(i)));
    layers.push_back(make("relu", "relu" + std::to_string(i)));
    if (dropout > 0) {
      LayerSpec d = make("dropout", "dropout" + std::to_string(i));
      d.p = dropout;
      layers.push_back(d);
    }
  }
  layers.push_back(make("dense", "fc" + std::to_string(i + 1), classes));
  return layers;
}

// LeNet-5 on 28x28 inputs: conv1 5x5 pad 2 -> 6x28x28, pool -> 14x14, conv2 5x5 -> 16x10x10, pool -> 5x5,
// fc 120, 84, classes (the classic layout; padding keeps MNIST's 28x28 equivalent to the original 32x32).
// `width` scales every hidden layer (feature maps and FC neurons; the output layer keeps `classes`), the
// knob of Hacene et al. 2019's reduced-width reliable networks (F/2, F/sqrt 2 feature maps).
std::vector<LayerSpec> preset_lenet5(const ConfigNode& node, int classes) {
  const double widen = node.num("width", 1.0);
  if (!(widen > 0) || !std::isfinite(widen))
    node.child("width").fail("a positive width multiplier", std::to_string(widen));
  const auto w = [&](int base) { return std::max(1, int(std::lround(base * widen))); };
  return {make("conv2d", "conv1", w(6), 5, 1, 2),
          make("relu", "relu1"),
          make("maxpool", "pool1", 0, 2, 2),
          make("conv2d", "conv2", w(16), 5, 1, 0),
          make("relu", "relu2"),
          make("maxpool", "pool2", 0, 2, 2),
          make("flatten", "flatten"),
          make("dense", "fc1", w(120)),
          make("relu", "relu3"),
          make("dense", "fc2", w(84)),
          make("relu", "relu4"),
          make("dense", "fc3", classes)};
}

// The 6-layer CNN of Klachko et al. 2019: conv5x5x65, pool, conv5x5x120, pool, FC 390, FC classes, BN after
// each non-pooling layer (the paper's "BN on outputs" applies to the last one too; training recipes may drop it).
std::vector<LayerSpec> preset_klachko(const ConfigNode& node, int classes) {
  const bool bn_out = node.boolean("bn_outputs", true);
  std::vector<LayerSpec> l{make("conv2d", "conv1", 65, 5),  make("batchnorm", "bn1"),
                           make("relu", "relu1"),           make("maxpool", "pool1", 0, 2, 2),
                           make("conv2d", "conv2", 120, 5), make("batchnorm", "bn2"),
                           make("relu", "relu2"),           make("maxpool", "pool2", 0, 2, 2),
                           make("flatten", "flatten"),      make("dense", "fc1", 390),
                           make("batchnorm", "bn3"),        make("relu", "relu3"),
                           make("dense", "fc2", classes)};
  if (bn_out) l.push_back(make("batchnorm", "bn4"));
  return l;
}

// Wide ResNet (Zagoruyko & Komodakis) with depth 6n+2... simplified to post-activation basic blocks:
// conv3x3(16) -> 3 stages of n blocks with 16k, 32k, 64k channels (stride 2 between stages) -> GAP -> FC.
std::vector<LayerSpec> preset_wrn(const ConfigNode& node, int classes) {
  const int depth = int(node.integer("depth", 8, 8, 100));
  const double widen = node.num("width", 1.0);
  if ((depth - 2) % 6 != 0)
    node.child("depth").fail("a depth of the form 6n+2 (8, 14, 20, ...)", std::to_string(depth));
  if (!(widen > 0)) node.child("width").fail("a positive width multiplier", std::to_string(widen));
  const int n = (depth - 2) / 6;
  std::vector<LayerSpec> l{make("conv2d", "conv1", 16, 3, 1, 1), make("batchnorm", "bn1"), make("relu", "relu1")};
  int in_c = 16;
  for (int stage = 0; stage < 3; ++stage) {
    const int ch = std::max(1, int(std::lround(16 * (1 << stage) * widen)));
    for (int b = 0; b < n; ++b) {
      const int stride = (stage > 0 && b == 0) ? 2 : 1;
      const std::string nm = "block" + std::to_string(stage + 1) + "_" + std::to_string(b + 1);
      LayerSpec blk = make("residual", nm);
      blk.body = {make("conv2d", nm + ".conv1", ch, 3, stride, 1), make("batchnorm", nm + ".bn1"),
                  make("relu", nm + ".relu1"), make("conv2d", nm + ".conv2", ch, 3, 1, 1),
                  make("batchnorm", nm + ".bn2")};
      blk.body[0].bias = blk.body[3].bias = false;
      if (stride != 1 || in_c != ch) {
        blk.shortcut = {make("conv2d", nm + ".proj", ch, 1, stride, 0), make("batchnorm", nm + ".proj_bn")};
        blk.shortcut[0].bias = false;
      }
      l.push_back(blk);
      in_c = ch;
    }
  }
  l.push_back(make("global_avgpool", "gap"));
  l.push_back(make("dense", "fc", classes));
  return l;
}

LayerSpec parse_layer(const ConfigNode& n) {
  n.expect_keys({"type", "name", "out", "kernel", "stride", "padding", "bias", "p", "body", "shortcut"});
  LayerSpec s;
  s.type = n.str("type");
  bool known = false;
  for (const auto& t : kLayerTypes) known = known || t == s.type;
  if (!known) {
    std::string list;
    for (const auto& t : kLayerTypes) list += (list.empty() ? "" : ", ") + t;
    n.child("type").fail("a layer type {" + list + "}", "'" + s.type + "'", closest_match(s.type, kLayerTypes));
  }
  s.name = n.str("name", "");
  s.out = int(n.integer("out", 0, 0, 1 << 20));
  s.kernel = int(n.integer("kernel", 0, 0, 1024));
  s.stride = int(n.integer("stride", 0, 0, 1024));
  s.padding = int(n.integer("padding", 0, 0, 1024));
  s.bias = n.boolean("bias", true);
  s.p = n.num("p", 0.0);
  if ((s.type == "dense" || s.type == "conv2d") && s.out <= 0)
    n.fail("'out' (a positive width) for a " + s.type + " layer");
  if ((s.type == "conv2d" || s.type == "maxpool" || s.type == "avgpool") && s.kernel <= 0)
    n.fail("'kernel' (a positive size) for a " + s.type + " layer");
  if (auto b = n.maybe("body"))
    for (const auto& item : b->items()) s.body.push_back(parse_layer(item));
  if (auto b = n.maybe("shortcut"))
    for (const auto& item : b->items()) s.shortcut.push_back(parse_layer(item));
  return s;
}

LayerPtr build_layer(const LayerSpec& s, Shape& shape) {
  LayerPtr l;
  if (s.type == "dense") {
    if (shape.size() != 1)
      throw_input_error("network", "layer " + s.name, "a flat input (add a flatten layer)",
                        "shape " + shape_string(shape));
    l = std::make_unique<Dense>(s.name, shape[0], s.out, s.bias);
  } else if (s.type == "conv2d") {
    if (shape.size() != 3)
      throw_input_error("network", "layer " + s.name, "a (C, H, W) input", "shape " + shape_string(shape));
    l = std::make_unique<Conv2d>(s.name, shape[0], s.out, s.kernel, s.stride > 0 ? s.stride : 1, s.padding, s.bias);
  } else if (s.type == "maxpool" || s.type == "avgpool") {
    l = std::make_unique<Pool2d>(s.name, s.type == "maxpool" ? PoolKind::max : PoolKind::avg, s.kernel,
                                 s.stride > 0 ? s.stride : s.kernel);
  } else if (s.type == "global_avgpool") {
    l = std::make_unique<GlobalAvgPool>(s.name);
  } else if (s.type == "batchnorm") {
    if (shape.empty()) throw_input_error("network", "layer " + s.name, "an input with channels", "an empty shape");
    l = std::make_unique<BatchNorm>(s.name, shape[0]);
  } else if (s.type == "relu") {
    l = std::make_unique<ReLU>(s.name);
  } else if (s.type == "dropout") {
    l = std::make_unique<Dropout>(s.name, float(s.p));
  } else if (s.type == "flatten") {
    l = std::make_unique<Flatten>(s.name);
  } else if (s.type == "residual") {
    std::vector<LayerPtr> body, shortcut;
    Shape b = shape, c = shape;
    for (const auto& sub : s.body) body.push_back(build_layer(sub, b));
    for (const auto& sub : s.shortcut) shortcut.push_back(build_layer(sub, c));
    l = std::make_unique<Residual>(s.name, std::move(body), std::move(shortcut));
  } else {
    throw_input_error("network", "layer " + s.name, "a known layer type", "'" + s.type + "'");
  }
  shape = l->output_shape(shape);
  return l;
}

void collect_weight_layers(const std::vector<LayerPtr>& layers, std::vector<Layer*>& out) {
  for (const auto& l : layers) {
    if (auto* r = dynamic_cast<Residual*>(l.get())) {
      collect_weight_layers(r->body(), out);
      collect_weight_layers(r->shortcut(), out);
    } else if (l->kind() == "dense" || l->kind() == "conv2d") {
      out.push_back(l.get());
    }
  }
}

Layer* find_in(const std::vector<LayerPtr>& layers, const std::string& name) {
  for (const auto& l : layers) {
    if (l->name() == name) return l.get();
    if (auto* r = dynamic_cast<Residual*>(l.get())) {
      if (auto* f = find_in(r->body(), name)) return f;
      if (auto* f = find_in(r->shortcut(), name)) return f;
    }
  }
  return nullptr;
}

nlohmann::json layer_json(const LayerSpec& s) {
  nlohmann::json j{{"type", s.type}, {"name", s.name}};
  if (s.out) j["out"] = s.out;
  if (s.kernel) j["kernel"] = s.kernel;
  if (s.stride) j["stride"] = s.stride;
  if (s.padding) j["padding"] = s.padding;
  if (!s.bias) j["bias"] = false;
  if (s.p != 0.0) j["p"] = s.p;
  if (!s.body.empty()) {
    j["body"] = nlohmann::json::array();
    for (const auto& b : s.body) j["body"].push_back(layer_json(b));
  }
  if (!s.shortcut.empty()) {
    j["shortcut"] = nlohmann::json::array();
    for (const auto& b : s.shortcut) j["shortcut"].push_back(layer_json(b));
  }
  return j;
}

LayerSpec layer_from_json(const nlohmann::json& j, const std::string& origin) {
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
    throw_input_error(origin, "network definition", "a layer object with a string 'type'", j.dump().substr(0, 80));
  LayerSpec s;
  s.type = j["type"];
  s.name = j.value("name", "");
  // Artifacts come from other people's tools: every size is range-checked before anything is allocated.
  auto bounded = [&](const char* key, long long lo, long long hi) -> int {
    if (!j.contains(key)) return 0;
    const auto& v = j[key];
    if (!v.is_number_integer() || v.get<long long>() < lo || v.get<long long>() > hi)
      throw_input_error(origin, "network definition, layer '" + s.name + "' key '" + key + "'",
                        "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]", v.dump());
    return int(v.get<long long>());
  };
  s.out = bounded("out", 1, 1 << 20);
  s.kernel = bounded("kernel", 1, 64);
  s.stride = bounded("stride", 1, 64);
  s.padding = bounded("padding", 0, 64);
  s.bias = j.value("bias", true);
  s.p = j.value("p", 0.0);
  if (j.contains("body"))
    for (const auto& b : j["body"]) s.body.push_back(layer_from_json(b, origin));
  if (j.contains("shortcut"))
    for (const auto& b : j["shortcut"]) s.shortcut.push_back(layer_from_json(b, origin));
  return s;
}

}  // namespace

NetworkSpec parse_network(const ConfigNode& node, const Shape& input, int classes) {
  node.expect_keys({"name", "preset", "hidden", "dropout", "batchnorm", "bn_outputs", "depth", "width", "layers"});
  NetworkSpec spec;
  spec.input = input;
  spec.classes = classes;
  if (auto p = node.maybe("preset")) {
    const std::string preset = node.choice("preset", {"mlp", "lenet5", "klachko_cnn", "wrn"});
    if (node.has("layers")) node.child("layers").fail("either 'preset' or 'layers', not both");
    spec.name = node.str("name", preset);
    if (preset == "mlp") spec.layers = preset_mlp(node, classes);
    if (preset == "lenet5") spec.layers = preset_lenet5(node, classes);
    if (preset == "klachko_cnn") spec.layers = preset_klachko(node, classes);
    if (preset == "wrn") spec.layers = preset_wrn(node, classes);
  } else {
    spec.name = node.str("name", "network");
    for (const auto& item : node.child("layers").items()) spec.layers.push_back(parse_layer(item));
  }
  std::map<std::string, int> counters;
  assign_names(spec.layers, counters, "");
  Network check(spec);  // validates that shapes chain and the output matches the class count
  return spec;
}

nlohmann::json to_json(const NetworkSpec& spec) {
  nlohmann::json j{{"name", spec.name}, {"input", spec.input}, {"classes", spec.classes}};
  j["layers"] = nlohmann::json::array();
  for (const auto& l : spec.layers) j["layers"].push_back(layer_json(l));
  return j;
}

NetworkSpec network_spec_from_json(const nlohmann::json& j, const std::string& origin) {
  try {
    NetworkSpec s;
    s.name = j.at("name").get<std::string>();
    // Sizes are checked as JSON integers before any conversion: a float such as 1e12 converted to int is
    // undefined behaviour, not an error.
    const nlohmann::json& input = j.at("input");
    if (!input.is_array() || input.empty())
      throw_input_error(origin, "network definition, input", "a list of dimensions", input.dump());
    long long input_elements = 1;
    for (const auto& d : input) {
      if (!d.is_number_integer() || d.get<long long>() < 1 || d.get<long long>() > (1 << 16))
        throw_input_error(origin, "network definition, input", "dimensions in [1, 65536]", input.dump());
      input_elements *= d.get<long long>();  // at most 2^26 * 2^16: checked on every step, never overflows
      if (input_elements > (1LL << 26))
        throw_input_error(origin, "network definition, input", "1 to 2^26 elements per sample", input.dump());
      s.input.push_back(int(d.get<long long>()));
    }
    const nlohmann::json& classes = j.at("classes");
    if (!classes.is_number_integer() || classes.get<long long>() < 1 || classes.get<long long>() > (1 << 20))
      throw_input_error(origin, "network definition, classes", "a class count in [1, 2^20]", classes.dump());
    s.classes = int(classes.get<long long>());
    // Residual blocks nest; reading and building them recurses, so the depth is bounded before that.
    constexpr int kMaxNesting = 16;
    std::function<void(const nlohmann::json&, int)> expect_nesting = [&](const nlohmann::json& layers, int depth) {
      if (depth > kMaxNesting)
        throw_input_error(origin, "network definition", "residual blocks nested at most 16 deep", "deeper nesting");
      if (!layers.is_array()) return;
      for (const auto& l : layers)
        if (l.is_object())
          for (const char* key : {"body", "shortcut"})
            if (l.contains(key)) expect_nesting(l[key], depth + 1);
    };
    expect_nesting(j.at("layers"), 0);
    for (const auto& l : j.at("layers")) s.layers.push_back(layer_from_json(l, origin));
    // The sizes a layer type cannot do without (parse_layer asks the same of YAML layers): a pooling window
    // of 0 would divide by zero when the network is built.
    std::function<void(const std::vector<LayerSpec>&)> expect_sizes = [&](const std::vector<LayerSpec>& layers) {
      for (const auto& l : layers) {
        const std::string where = "network definition, layer '" + l.name + "'";
        if ((l.type == "dense" || l.type == "conv2d") && l.out <= 0)
          throw_input_error(origin, where, "'out' (a positive width) for a " + l.type + " layer", "none");
        if ((l.type == "conv2d" || l.type == "maxpool" || l.type == "avgpool") && l.kernel <= 0)
          throw_input_error(origin, where, "'kernel' (a positive size) for a " + l.type + " layer", "none");
        expect_sizes(l.body);
        expect_sizes(l.shortcut);
      }
    };
    expect_sizes(s.layers);
    return s;
  } catch (const nlohmann::json::exception& e) {
    throw_input_error(origin, "network definition", "an object with name, input, classes and layers", e.what());
  }
}

Network::Network(NetworkSpec spec) : spec_(std::move(spec)) {
  Shape shape = spec_.input;
  std::map<std::string, int> seen;
  std::function<void(const std::vector<LayerSpec>&)> check_names = [&](const std::vector<LayerSpec>& ls) {
    for (const auto& l : ls) {
      if (l.name.empty()) throw_input_error("network", "layer of type " + l.type, "a layer name");
      if (seen[l.name]++) throw_input_error("network", "layer " + l.name, "unique layer names", "a duplicate");
      check_names(l.body);
      check_names(l.shortcut);
    }
  };
  check_names(spec_.layers);
  for (const auto& s : spec_.layers) layers_.push_back(build_layer(s, shape));
  if (shape != Shape{spec_.classes})
    throw_input_error("network",
                      "last layer " + (spec_.layers.empty() ? std::string("(none)") : spec_.layers.back().name),
                      "an output of " + std::to_string(spec_.classes) + " classes", "shape " + shape_string(shape));
  plan_backward();
}

void Network::plan_backward() {
  const std::size_t n = layers_.size();
  acts_.resize(n);
  out_.assign(n, nullptr);
  alias_.assign(n, 0);
  needs_dx_.assign(n, 0);
  bool trainable_below = false;
  for (std::size_t i = 0; i < n; ++i) {
    needs_dx_[i] = trainable_below;
    trainable_below = trainable_below || !layers_[i]->parameters().empty();
    // A flatten only reinterprets (N, C, H, W) as (N, C*H*W): every layer reads its input through
    // batch() and data(), so the next layer can read the flatten's input in place instead of a copy
    // (for the MLP on MNIST that copy is 3 MB per 1000 images, ~15 % of an inference pass). The last
    // layer is never aliased: the logits must have the shape (N, classes).
    alias_[i] = layers_[i]->kind() == "flatten" && i + 1 < n;
  }
}

Layer* Network::find(const std::string& name) const { return find_in(layers_, name); }

void Network::insert_before(const std::string& layer_name, LayerPtr hook) {
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    if (layers_[i]->name() == layer_name) {
      layers_.insert(layers_.begin() + long(i), std::move(hook));
      plan_backward();
      return;
    }
    if (auto* r = dynamic_cast<Residual*>(layers_[i].get()))
      if (r->insert_before(layer_name, hook)) {
        plan_backward();
        return;
      }
  }
  std::vector<std::string> names;
  std::function<void(const std::vector<LayerSpec>&)> collect = [&](const std::vector<LayerSpec>& ls) {
    for (const auto& l : ls) {
      names.push_back(l.name);
      collect(l.body);
      collect(l.shortcut);
    }
  };
  collect(spec_.layers);
  throw_input_error("network", "insert before '" + layer_name + "'", "the name of a layer of the network",
                    "no such layer", closest_match(layer_name, names));
}

const Tensor& Network::forward(const Tensor& x, const ForwardContext& ctx) {
  input_ = &x;
  const Tensor* cur = &x;
  ForwardContext c = ctx;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    c.layer_index = int(i);
    if (!alias_[i]) {
      layers_[i]->forward(*cur, acts_[i], c);
      cur = &acts_[i];
    }
    out_[i] = cur;
  }
  return *cur;
}

void Network::backward(const Tensor& dlogits) {
  const Tensor* g = &dlogits;
  for (std::size_t i = layers_.size(); i-- > 0;) {
    if (alias_[i]) continue;  // the gradient already has the flatten's input shape
    const Tensor& in = i == 0 ? *input_ : *out_[i - 1];
    Tensor& out = (g == &grad_a_) ? grad_b_ : grad_a_;
    const bool want_dx = needs_dx_[i] != 0;
    layers_[i]->backward(in, *out_[i], *g, want_dx ? &out : nullptr);
    if (!want_dx) return;  // nothing below has parameters
    g = &out;
  }
}

std::vector<Parameter*> Network::parameters() {
  std::vector<Parameter*> out;
  for (auto& l : layers_)
    for (auto* p : l->parameters()) out.push_back(p);
  return out;
}

std::vector<std::pair<std::string, Tensor*>> Network::buffers() {
  std::vector<std::pair<std::string, Tensor*>> out;
  for (auto& l : layers_)
    for (auto& b : l->buffers()) out.push_back(b);
  return out;
}

std::vector<Layer*> Network::weight_layers() const {
  std::vector<Layer*> out;
  collect_weight_layers(layers_, out);
  return out;
}

void Network::initialize(std::uint64_t seed) {
  std::uint64_t index = 0;
  for (Layer* l : weight_layers()) {
    ++index;
    Parameter* w = nullptr;
    Parameter* b = nullptr;
    int fan_in = 0;
    if (auto* d = dynamic_cast<Dense*>(l)) {
      w = &d->weight();
      b = d->bias();
      fan_in = d->in_features();
    } else if (auto* c = dynamic_cast<Conv2d*>(l)) {
      w = &c->weight();
      b = c->bias();
      fan_in = c->in_channels() * c->kernel() * c->kernel();
    }
    // Kaiming-uniform with a = sqrt(5): bound = sqrt(6 / ((1 + 5) * fan_in)) = 1/sqrt(fan_in).
    const float bound = 1.0f / std::sqrt(float(fan_in));
    CounterRng rng(seed, stream_id({0x1417u, index}));
    for (auto& v : w->value.vec()) v = float((2.0 * rng.uniform() - 1.0) * bound);
    if (b)
      for (auto& v : b->value.vec()) v = float((2.0 * rng.uniform() - 1.0) * bound);
  }
}

std::uint64_t Network::macs_per_sample() const {
  std::uint64_t m = 0;
  Shape s = spec_.input;
  for (const auto& l : layers_) {
    m += l->macs_per_sample(s);
    s = l->output_shape(s);
  }
  return m;
}

std::size_t Network::parameter_count() {
  std::size_t n = 0;
  for (auto* p : parameters()) n += p->value.size();
  return n;
}

}  // namespace axsim::nn
