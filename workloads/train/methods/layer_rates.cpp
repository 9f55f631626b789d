#include "workloads/train/methods/layer_rates.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

#include "core/error.hpp"
#include "models/voltage_curve.hpp"

namespace axsim::train {

namespace {

double parse_rate(const ConfigNode& node, double min, double max, const std::string& what) {
  const double v = node.as_num();
  if (!(v >= min && v <= max)) node.fail(what + " in [" + rate_text(min) + ", " + rate_text(max) + "]", rate_text(v));
  return v;
}

bool is_pattern(const std::string& key) { return key.find_first_of("*?[") != std::string::npos; }

// Weight layers inside a container layer (residual block), depth first, in forward order.
void collect_weight_layers(const nn::Layer* layer, std::vector<const nn::Layer*>& out) {
  if (layer->kind() == "dense" || layer->kind() == "conv2d") {
    out.push_back(layer);
    return;
  }
  if (const auto* r = dynamic_cast<const nn::Residual*>(layer)) {
    for (const auto& l : r->body()) collect_weight_layers(l.get(), out);
    for (const auto& l : r->shortcut()) collect_weight_layers(l.get(), out);
  }
}

// Every name a key may refer to: weight layers and residual blocks (for "did you mean").
void collect_names(const std::vector<nn::LayerPtr>& layers, std::vector<std::string>& out) {
  for (const auto& l : layers) {
    if (l->kind() == "dense" || l->kind() == "conv2d" || l->kind() == "residual") out.push_back(l->name());
    if (const auto* r = dynamic_cast<const nn::Residual*>(l.get())) {
      collect_names(r->body(), out);
      collect_names(r->shortcut(), out);
    }
  }
}

}  // namespace

std::string rate_text(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

LayerRateSpec LayerRateSpec::parse(const ConfigNode& node, double min, double max, const std::string& what,
                                   double default_rate) {
  LayerRateSpec spec(node);
  spec.default_rate_ = default_rate;
  if (node.is_scalar()) {
    spec.uniform_ = parse_rate(node, min, max, what);
    return spec;
  }
  if (!node.is_map())
    node.fail(what + " (a number, or a map {layer, block or pattern: rate, default: rate})", "a list");
  for (const auto& [key, value] : node.entries()) {
    const double rate = parse_rate(value, min, max, what);
    if (key == "default")
      spec.default_rate_ = rate;
    else
      spec.entries_.push_back({key, rate, value});
  }
  return spec;
}

std::vector<double> LayerRateSpec::resolve(const nn::Network& net) const {
  const std::vector<nn::Layer*> layers = net.weight_layers();
  if (uniform_) return std::vector<double>(layers.size(), *uniform_);
  std::vector<double> rates(layers.size(), default_rate_);
  std::vector<const Entry*> chosen_by(layers.size(), nullptr);
  std::vector<std::string> names;
  collect_names(net.layers(), names);
  for (const Entry& e : entries_) {
    std::vector<const nn::Layer*> selected;
    if (is_pattern(e.key)) {
      for (const nn::Layer* l : layers)
        if (fnmatch(e.key.c_str(), l->name().c_str(), 0) == 0) selected.push_back(l);
      if (selected.empty())
        e.where.fail("a pattern matching at least one weight layer", "'" + e.key + "' matches none",
                     closest_match(e.key, names));
    } else {
      const nn::Layer* l = net.find(e.key);
      if (!l)
        e.where.fail("a weight layer or residual block of the network", "'" + e.key + "'", closest_match(e.key, names));
      collect_weight_layers(l, selected);
      if (selected.empty())
        e.where.fail("a weight layer (dense, conv2d) or a residual block",
                     "'" + e.key + "', a " + l->kind() + " layer without weights", closest_match(e.key, names));
    }
    for (const nn::Layer* l : selected) {
      const auto i = std::size_t(std::find(layers.begin(), layers.end(), l) - layers.begin());
      if (chosen_by[i])
        e.where.fail("each layer selected by one key",
                     "layer '" + l->name() + "' selected by both '" + chosen_by[i]->key + "' and '" + e.key + "'");
      chosen_by[i] = &e;
      rates[i] = e.rate;
    }
  }
  return rates;
}

LayerRateSpec LayerRateSpec::scaled(double factor) const {
  LayerRateSpec s = *this;
  if (s.uniform_) *s.uniform_ *= factor;
  s.default_rate_ *= factor;
  for (auto& e : s.entries_) e.rate *= factor;
  return s;
}

double LayerRateSpec::max_rate() const {
  if (uniform_) return *uniform_;
  double m = default_rate_;
  for (const auto& e : entries_) m = std::max(m, e.rate);
  return m;
}

double normalized_memory_energy(std::span<const double> p, std::span<const double> weights_per_layer, double a) {
  if (p.size() != weights_per_layer.size())
    throw std::invalid_argument("normalized_memory_energy: " + std::to_string(p.size()) + " rates for " +
                                std::to_string(weights_per_layer.size()) + " layers");
  double energy = 0, total = 0;
  for (std::size_t l = 0; l < p.size(); ++l) {
    energy += eta_for_p(p[l], a) * weights_per_layer[l];
    total += weights_per_layer[l];
  }
  return total > 0 ? energy / total : 0.0;
}

}  // namespace axsim::train
