#include "workloads/quant/fault_injection.hpp"

#include <vector>

#include "core/error.hpp"

namespace axsim::quant {

std::string_view to_string(WeightFaultDraw draw) {
  return draw == WeightFaultDraw::per_inference ? "per_inference" : "per_trial";
}

WeightFaultDraw parse_weight_fault_draw(std::string_view text, const std::string& file, const std::string& location) {
  if (text == "per_trial") return WeightFaultDraw::per_trial;
  if (text == "per_inference") return WeightFaultDraw::per_inference;
  const std::vector<std::string> valid{"per_trial", "per_inference"};
  throw_input_error(file, location, "a weight fault draw (per_trial, per_inference)", "'" + std::string(text) + "'",
                    closest_match(std::string(text), valid));
}

namespace {
bool any_positive(double rate, const std::map<std::string, double>& rates) {
  if (rate > 0.0) return true;
  for (const auto& [name, r] : rates)
    if (r > 0.0) return true;
  return false;
}
}  // namespace

bool FaultInjection::any() const {
  return any_positive(weight_rate, weight_rates) || any_positive(activation_rate, activation_rates);
}

bool FloatFaultInjection::any() const { return any_positive(rate, rates); }

}  // namespace axsim::quant
