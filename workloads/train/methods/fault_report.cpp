#include "workloads/train/methods/fault_report.hpp"

#include "models/voltage_curve.hpp"
#include "workloads/train/methods/layer_rates.hpp"

namespace axsim::train {

nlohmann::json per_layer(const std::vector<std::string>& names, std::span<const double> values) {
  nlohmann::json j = nlohmann::json::object();
  for (std::size_t l = 0; l < names.size() && l < values.size(); ++l) j[names[l]] = values[l];
  return j;
}

void add_rate_fields(nlohmann::json& record, const WeightFaults& faults, std::span<const double> p, double a) {
  record["p"] = per_layer(faults.layer_names(), p);
  record["memory_energy"] = normalized_memory_energy(p, faults.weights_per_layer(), a);
  std::vector<double> measured(faults.layers());
  for (std::size_t l = 0; l < measured.size(); ++l) measured[l] = faults.measured_rate(l);
  record["measured_p"] = per_layer(faults.layer_names(), measured);
}

nlohmann::json fault_assignment(const WeightFaults& faults, std::span<const double> p, const std::string& channel,
                                int bits, double a) {
  static const std::unique_ptr<BitErrorCurve> curve = default_bit_error_curve();
  nlohmann::json j = nlohmann::json::object();
  for (std::size_t l = 0; l < faults.layers(); ++l)
    j[faults.layer_names()[l]] = {{"p", p[l]},
                                  {"eta", eta_for_p(p[l], a)},
                                  {"voltage", curve->voltage_for(p[l])},
                                  {"channel", channel},
                                  {"bits", bits},
                                  {"weights", std::uint64_t(faults.weights_per_layer()[l])}};
  return j;
}

}  // namespace axsim::train
