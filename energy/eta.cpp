#include "energy/eta.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace axsim {

double eta(double p, double a) { return eta_for_p(p, a); }

namespace {

double weighted_eta_sum(std::span<const double> p, std::span<const double> n, double a, double* total_params) {
  if (p.size() != n.size())
    throw std::invalid_argument("memory_energy: " + std::to_string(p.size()) + " fault rates for " +
                                std::to_string(n.size()) + " layers");
  double sum = 0.0, params = 0.0;
  for (std::size_t l = 0; l < p.size(); ++l) {
    if (!(n[l] >= 0.0) || !std::isfinite(n[l]))
      throw std::invalid_argument("memory_energy: layer " + std::to_string(l) + " has a negative parameter count");
    sum += eta_for_p(p[l], a) * n[l];
    params += n[l];
  }
  *total_params = params;
  return sum;
}

void require_bits(double zeta) {
  if (!(zeta > 0.0) || !std::isfinite(zeta))
    throw std::invalid_argument("memory_energy: bits per parameter must be > 0");
}

}  // namespace

double memory_energy(std::span<const double> p_per_layer, std::span<const double> params_per_layer,
                     double bits_per_param, double a) {
  require_bits(bits_per_param);
  double params = 0.0;
  return bits_per_param * weighted_eta_sum(p_per_layer, params_per_layer, a, &params);
}

double memory_energy_normalized(std::span<const double> p_per_layer, std::span<const double> params_per_layer,
                                double bits_per_param, double a) {
  require_bits(bits_per_param);
  double params = 0.0;
  const double sum = weighted_eta_sum(p_per_layer, params_per_layer, a, &params);
  return params > 0.0 ? sum / params : 0.0;
}

}  // namespace axsim
