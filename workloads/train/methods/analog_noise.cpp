#include "workloads/train/methods/analog_noise.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/units.hpp"
#include "workloads/train/methods/analog_eval.hpp"

namespace axsim::train {

AnalogNoiseTraining::AnalogNoiseTraining(AnalogTrainingOptions options, std::shared_ptr<const AnalogEvalPlan> evaluate)
    : options_(std::move(options)), evaluate_(std::move(evaluate)) {}

void AnalogNoiseTraining::attach(nn::Network& net) {
  const auto weight_layers = net.weight_layers();
  const auto& top = net.layers();
  struct Slot {
    nn::Layer* layer;
    std::string next;  // the layer after it (its noise hook goes in front of that one)
  };
  std::vector<Slot> slots;
  for (nn::Layer* w : weight_layers) {
    auto it = std::find_if(top.begin(), top.end(), [&](const nn::LayerPtr& l) { return l.get() == w; });
    if (it == top.end())
      throw_input_error("method analog", "layer " + w->name(), "a top-level dense/conv2d layer",
                        "a layer inside a residual block (not supported by the analog method)");
    if (it + 1 == top.end())
      throw_input_error("method analog", "layer " + w->name(), "a layer after the last weight layer for its noise hook",
                        "none (the network ends with it)",
                        "use bn_outputs: true, or end the layer list with {type: flatten, name: logits}");
    slots.push_back({w, (*(it + 1))->name()});
  }
  for (const auto& entry : options_.i_max_by_layer_na) {
    const std::string& name =
        entry.first;  // a named variable: lambdas cannot capture bindings before C++20 in clang 14
    if (std::none_of(slots.begin(), slots.end(), [&](const Slot& s) { return s.layer->name() == name; }))
      throw_input_error("method analog", "i_max." + name, "the name of a dense/conv2d layer", "'" + name + "'");
  }
  names_.clear();
  i_max_.clear();
  noise_.clear();
  clips_.clear();
  x_max_.assign(slots.size(), 0.0f);
  for (std::size_t l = 0; l < slots.size(); ++l) {
    nn::Layer* w = slots[l].layer;
    const std::string& name = w->name();
    names_.push_back(name);
    double i_max = options_.i_max_default_na;
    for (const auto& [n, v] : options_.i_max_by_layer_na)
      if (n == name) i_max = v;
    i_max_.push_back(i_max);
    AnalogLayerParams p = options_.vmm;
    p.i_max_na = i_max;
    p.first_layer = l == 0;
    p.x_max = 1.0;  // first layer: the DAC's full scale (inputs in [0, 1]); others: resolved per pass
    p.validate();
    nn::ActivationClip* clip = nullptr;
    if (options_.clip && l > 0) {
      auto c = std::make_unique<nn::ActivationClip>(name + ".input_clip", options_.threshold_init_percentile);
      clip = c.get();
      net.insert_before(name, std::move(c));
    }
    auto tap = std::make_unique<nn::AnalogInputTap>(name + ".analog_in", l == 0 ? std::optional(p) : std::nullopt);
    const nn::AnalogInputTap* tap_ptr = tap.get();
    net.insert_before(name, std::move(tap));
    auto noise = std::make_unique<nn::AnalogNoise>(name + ".analog_noise", w, tap_ptr, p, std::uint64_t(l));
    noise->set_x_max_source(clip, clip == nullptr);
    noise_.push_back(noise.get());
    clips_.push_back(clip);
    net.insert_before(slots[l].next, std::move(noise));
  }
  restore_training_state();
  first_weight_.clear();
  if (!slots.empty())
    for (nn::Parameter* p : slots[0].layer->parameters())
      if (p->is_weight) first_weight_.push_back(p);
}

void AnalogNoiseTraining::set_i_max(const std::vector<double>& i_max_na) {
  if (i_max_na.size() != noise_.size())
    throw std::invalid_argument("analog: " + std::to_string(i_max_na.size()) + " I_max values for " +
                                std::to_string(noise_.size()) + " layers");
  for (std::size_t l = 0; l < noise_.size(); ++l) {
    noise_[l]->params().i_max_na = i_max_na[l];
    noise_[l]->params().validate();
  }
}

void AnalogNoiseTraining::set_eval_noise(const std::vector<bool>& noisy) {
  for (std::size_t l = 0; l < noise_.size(); ++l) {
    noise_[l]->set_mode(noisy[l] ? nn::NoiseMode::always : nn::NoiseMode::off);
    // Without a clip the chip's input range is fixed when it is programmed: the last epoch's maximum.
    if (l > 0 && !clips_[l] && x_max_[l] > 0.0f) {
      noise_[l]->set_x_max_source(nullptr, false);
      noise_[l]->params().x_max = x_max_[l];
    }
  }
}

void AnalogNoiseTraining::restore_training_state() {
  for (std::size_t l = 0; l < noise_.size(); ++l) {
    noise_[l]->set_mode(options_.noise ? nn::NoiseMode::training_only : nn::NoiseMode::off);
    noise_[l]->params().i_max_na = i_max_[l];
    noise_[l]->set_x_max_source(clips_[l], clips_[l] == nullptr);
    noise_[l]->set_eval_position(0, 0);
    noise_[l]->set_metering(false);
  }
}

void AnalogNoiseTraining::before_batch(nn::Network&, const BatchContext&) {
  if (options_.first_layer_weight_clip > 0.0) {
    const float t = float(options_.first_layer_weight_clip);
    for (nn::Parameter* p : first_weight_)
      for (float& v : p->value.vec()) v = std::clamp(v, -t, t);
  }
  for (nn::ActivationClip* c : clips_)
    if (c && c->initialized() && c->threshold() < options_.min_threshold)
      c->set_threshold(float(options_.min_threshold));
}

double AnalogNoiseTraining::clip_penalty() const {
  double s = 0.0;
  for (std::size_t l = 0; l < clips_.size(); ++l)
    if (clips_[l]) {
      const double r = double(clips_[l]->threshold()) / i_max_[l];
      s += r * r;
    }
  return options_.alpha * s;
}

void AnalogNoiseTraining::add_penalty_gradient() {
  for (std::size_t l = 0; l < clips_.size(); ++l)
    if (clips_[l]) {
      nn::Parameter& t = clips_[l]->threshold_parameter();
      t.grad[0] += float(2.0 * options_.alpha * double(t.value[0]) / (i_max_[l] * i_max_[l]));
    }
}

void AnalogNoiseTraining::after_backward(nn::Network&, const BatchContext&, double) {
  if (options_.alpha > 0.0) add_penalty_gradient();
}

void AnalogNoiseTraining::end_epoch(nn::Network& net, const BatchContext& ctx, nlohmann::json& record) {
  nlohmann::json layers = nlohmann::json::object();
  for (std::size_t l = 0; l < noise_.size(); ++l) {
    if (noise_[l]->observed_x_max() > 0.0f) x_max_[l] = noise_[l]->observed_x_max();
    noise_[l]->reset_observed_x_max();
    nlohmann::json j{
        {"i_max_na", i_max_[l]}, {"x_max", x_max_[l]}, {"noise_variance", noise_[l]->last_mean_variance()}};
    if (clips_[l]) j["clip_threshold"] = clips_[l]->threshold();
    layers[names_[l]] = j;
  }
  record["analog"] = {{"layers", layers}, {"clip_penalty", clip_penalty()}};
  if (evaluate_ && ctx.epoch + 1 == ctx.epochs) {
    last_eval_ = run_analog_evaluation(*evaluate_, net, *this);
    record["analog_eval"] = last_eval_;
  }
}

nlohmann::json AnalogNoiseTraining::hardware_assignment(const nn::Network&) const {
  nlohmann::json hw = nlohmann::json::object();
  for (std::size_t l = 0; l < noise_.size(); ++l) {
    const AnalogLayerParams& p = noise_[l]->params();
    nlohmann::json j{{"crossbar", "analog_floating_gate"},
                     {"vmm", l == 0 ? "merged_dac_digital_input" : "current_mode"},
                     {"i_max_na", i_max_[l]},
                     {"bandwidth_hz", p.bandwidth_hz},
                     {"i_res_na", p.i_res_na},
                     {"vdd", p.vdd},
                     {"trained_with_noise", options_.noise}};
    if (l == 0) {
      j["input_bits"] = p.input_bits;
      j["x_max"] = 1.0;
      if (options_.first_layer_weight_clip > 0.0) j["weight_clip"] = options_.first_layer_weight_clip;
    } else if (clips_[l]) {
      j["clip_threshold"] = clips_[l]->threshold();
      j["x_max"] = clips_[l]->threshold();
    } else {
      j["x_max"] = x_max_[l];
    }
    hw[names_[l]] = j;
  }
  return hw;
}

std::vector<std::pair<std::string, std::vector<float>*>> AnalogNoiseTraining::state() {
  return {{"analog_x_max", &x_max_}};
}

std::unique_ptr<TrainingMethod> make_analog(const ConfigNode& node) {
  node.expect_keys({"type", "i_max", "noise", "clip", "alpha", "threshold_init_percentile", "first_layer_weight_clip",
                    "vmm", "evaluate"});
  AnalogTrainingOptions o;
  auto current = [](const ConfigNode& n) {
    const double a = n.as_quantity(Dim::ampere);
    if (!(a > 0.0)) n.fail("a positive current like 10nA", format_quantity(a, Dim::ampere));
    return a * 1e9;
  };
  if (auto im = node.maybe("i_max")) {
    if (im->is_map()) {
      for (const auto& [key, v] : im->entries()) {
        if (key == "default")
          o.i_max_default_na = current(v);
        else
          o.i_max_by_layer_na.emplace_back(key, current(v));
      }
    } else {
      o.i_max_default_na = current(*im);
    }
  }
  o.noise = node.boolean("noise", true);
  o.clip = node.boolean("clip", false);
  o.alpha = node.num("alpha", 0.0);
  if (!(o.alpha >= 0.0)) node.child("alpha").fail("a penalty strength >= 0", std::to_string(o.alpha));
  o.threshold_init_percentile = node.num("threshold_init_percentile", 99.0);
  if (!(o.threshold_init_percentile > 0.0 && o.threshold_init_percentile <= 100.0))
    node.child("threshold_init_percentile")
        .fail("a percentile in (0, 100]", std::to_string(o.threshold_init_percentile));
  o.first_layer_weight_clip = node.num("first_layer_weight_clip", 0.0);
  if (!(o.first_layer_weight_clip >= 0.0))
    node.child("first_layer_weight_clip")
        .fail("a weight bound t > 0 (or 0: off)", std::to_string(o.first_layer_weight_clip));
  if (auto v = node.maybe("vmm")) {
    v->expect_keys({"bandwidth", "input_bits", "i_res", "vdd"});
    o.vmm = load_analog_layer_params(*v, o.vmm);
  }
  std::shared_ptr<const AnalogEvalPlan> plan;
  if (auto e = node.maybe("evaluate")) plan = std::make_shared<AnalogEvalPlan>(parse_analog_evaluation(*e));
  return std::make_unique<AnalogNoiseTraining>(std::move(o), std::move(plan));
}

}  // namespace axsim::train
