// The abstract memory-energy model of the papers (Hacene 2019 section III, LaNMax eq. 1 and 3;
// DESIGN section 5), reported next to the technology-based energy of the simulator.
//   eta(p) = -ln(p) / a for p > 0, eta(0) = 1 (a reliable memory costs the full energy), clamped to
//            [0, 1]; a = 12.8 (Hacene's fit for 65 nm SRAM). eta is the energy per bit normalized to
//            the reliable memory. The formula itself lives in models/voltage_curve.hpp (eta_for_p), the
//            same code that turns a learned p into a voltage.
//   E(p)   = zeta * sum_l eta(p_l) * n_l   (bits read: zeta bits per parameter, n_l parameters of
//            layer l); normalized to the reliable network, E(p) / (zeta * sum_l n_l), which is 1 when
//            every p_l = 0 and does not depend on zeta.
#pragma once

#include <span>

#include "models/voltage_curve.hpp"

namespace axsim {

// Normalized energy per bit at fault rate p. Throws std::invalid_argument for p < 0 or NaN, a <= 0.
double eta(double p, double a = kDefaultReliabilityExponent);

// E(p) = zeta * sum_l eta(p_l) * n_l, in units of "reliable bit reads". p_per_layer and
// params_per_layer must have the same length (std::invalid_argument otherwise); n_l >= 0, zeta > 0.
double memory_energy(std::span<const double> p_per_layer, std::span<const double> params_per_layer,
                     double bits_per_param, double a = kDefaultReliabilityExponent);

// E(p) / (zeta * sum_l n_l): 1 for the reliable network; 0 if the network has no parameters.
double memory_energy_normalized(std::span<const double> p_per_layer, std::span<const double> params_per_layer,
                                double bits_per_param, double a = kDefaultReliabilityExponent);

}  // namespace axsim
