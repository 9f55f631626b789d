// What the memory-fault methods write: per-epoch fields of train.json and the per-layer hardware
// assignment of the deploy artifact. One place, so uniform_noise, erasure and LaNMax report alike.
#pragma once

#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "workloads/train/methods/weight_faults.hpp"

namespace axsim::train {

// {layer name: value} in weight-layer order.
nlohmann::json per_layer(const std::vector<std::string>& names, std::span<const double> values);

// Adds "p" {layer: p}, "memory_energy" (E(p) normalized to the reliable network, LaNMax eq. 3) and
// "measured_p" {layer: faulty bits per stored bit, or erased words per word, over the epoch}.
void add_rate_fields(nlohmann::json& record, const WeightFaults& faults, std::span<const double> p, double a);

// {layer: {p, eta, voltage, channel, bits, weights}}: the memory each layer's weights need. `voltage` (V)
// is the lowest supply of the default SRAM bit-error curve (models/voltage_curve.hpp) with a bit-error
// rate <= p; eta = -ln(p)/a is the normalized energy per bit of the abstract model.
nlohmann::json fault_assignment(const WeightFaults& faults, std::span<const double> p, const std::string& channel,
                                int bits, double a);

}  // namespace axsim::train
