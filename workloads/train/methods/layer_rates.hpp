// Per-layer fault rates as written in a training recipe, and the memory-energy metric of the papers.
//
// A rate spec is either one number (every weight layer) or a map. Map keys select weight layers:
//   fc1: 0.01            a weight layer (dense, conv2d) by name
//   block2_1: 0.02       a residual block: every weight layer inside it (Hacene 2019's blockwise rates)
//   "block3_*": 0.05     a pattern ('*' any text, '?' one character) over weight-layer names
//   default: 0.001       every layer no other key selects (0 when absent: a reliable memory)
// A layer selected by two keys, or a key that selects nothing, is an error naming the key and the
// closest layer name: a typo must never silently leave a layer reliable.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "workloads/nn/network.hpp"

namespace axsim::train {

class LayerRateSpec {
 public:
  // `what` describes the value in errors ("a fault rate"); values must lie in [min, max]. Layers no
  // key selects get `default_rate` unless the map has a `default` key.
  static LayerRateSpec parse(const ConfigNode& node, double min, double max, const std::string& what,
                             double default_rate = 0.0);

  // One rate per entry of net.weight_layers(), in that order. Throws InputError (file, line, key) for
  // unknown names, patterns matching nothing and layers selected twice.
  std::vector<double> resolve(const nn::Network& net) const;

  // Multiplies every rate (erasure's p_e = factor * p); the caller checks the new range.
  LayerRateSpec scaled(double factor) const;
  // Largest rate the spec can produce (for range checks after scaling).
  double max_rate() const;
  const ConfigNode& node() const { return node_; }

 private:
  struct Entry {
    std::string key;
    double rate = 0;
    ConfigNode where;
  };
  explicit LayerRateSpec(ConfigNode node) : node_(std::move(node)) {}
  ConfigNode node_;
  std::optional<double> uniform_;
  std::vector<Entry> entries_;
  double default_rate_ = 0;
};

// The abstract memory energy of LaNMax (eq. 1, 3) / Hacene 2019, normalized to the reliable network:
//   E(p) = sum_l eta(p_l) n_l / sum_l n_l,  eta(p) = -ln(p)/a (eta(0) = 1, clamped to [0, 1]).
// zeta (bits per weight) cancels in the normalization. eta comes from models/voltage_curve.hpp, the same
// formula energy/eta.hpp uses (workloads may not depend on energy/).
// Shortest text that reads back as v ("0.0001", "0.5"), for error messages.
std::string rate_text(double v);

double normalized_memory_energy(std::span<const double> p, std::span<const double> weights_per_layer, double a);

}  // namespace axsim::train
