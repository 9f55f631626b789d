#include "workloads/train/methods/erasure.hpp"

#include "workloads/train/methods/activation_erasure.hpp"
#include "workloads/train/methods/fault_report.hpp"
#include "workloads/train/methods/uniform_noise.hpp"

namespace axsim::train {

ErasureTraining::ErasureTraining(LayerRateSpec erasure_rates, double bit_error_per_erasure, double a, bool activations)
    : spec_(std::move(erasure_rates)),
      bit_error_per_erasure_(bit_error_per_erasure),
      a_(a),
      faults_(WeightFaults::Mode::float_erasure, nullptr, 8, kErasureStream),
      activations_(activations) {}

void ErasureTraining::attach(nn::Network& net) {
  faults_.attach(net);
  p_e_ = spec_.resolve(net);
  p_.resize(p_e_.size());
  for (std::size_t l = 0; l < p_e_.size(); ++l) p_[l] = p_e_[l] * bit_error_per_erasure_;
  if (!activations_) return;
  // The network input is data, not a stored activation: the first weight layer's input is not erased.
  const auto names = faults_.layer_names();
  for (std::size_t l = 1; l < names.size(); ++l)
    if (p_e_[l] > 0) net.insert_before(names[l], std::make_unique<ActivationErasure>(names[l] + ".input_erasure", p_e_[l]));
}

void ErasureTraining::before_batch(nn::Network&, const BatchContext& ctx) { faults_.inject(p_e_, ctx.seed, ctx.step); }

void ErasureTraining::after_backward(nn::Network&, const BatchContext&, double) { faults_.release(); }

void ErasureTraining::end_epoch(nn::Network&, const BatchContext&, nlohmann::json& record) {
  add_rate_fields(record, faults_, p_, a_);  // p and E(p) of the target bit_mask memory
  record["p_e"] = per_layer(faults_.layer_names(), p_e_);
  record["measured_p_e"] = std::move(record["measured_p"]);  // erase() counts erased words
  record.erase("measured_p");
  faults_.reset_stats();
}

nlohmann::json ErasureTraining::hardware_assignment(const nn::Network& net) const {
  nlohmann::json j = fault_assignment(faults_, p_, "bit_mask", binary_connect_active(net) ? 1 : 8, a_);
  for (std::size_t l = 0; l < p_e_.size(); ++l) j[faults_.layer_names()[l]]["p_e"] = p_e_[l];
  return j;
}

std::unique_ptr<TrainingMethod> make_erasure(const ConfigNode& node) {
  node.expect_keys({"type", "p", "p_e", "activations", "a"});
  const auto p = node.maybe("p");
  const auto p_e = node.maybe("p_e");
  if (p && p_e) p_e->fail("either 'p' (bit-error rate, p_e = 2p) or 'p_e', not both", "both");
  if (!p && !p_e) node.fail("a key 'p' (bit-error rate of the memory; p_e = 2p) or 'p_e' (erasure rate)", "neither");
  const bool activations = node.boolean("activations", false);
  const double a = parse_reliability_exponent(node);
  // Hacene 2019: erasures at p_e = 2p stand for bit-masking faults at bit-error rate p.
  constexpr double kErasuresPerBitError = 2.0;
  if (p) {
    auto rates = LayerRateSpec::parse(*p, 0.0, 0.5, "a bit-error rate (p_e = 2p <= 1)");
    return std::make_unique<ErasureTraining>(rates.scaled(kErasuresPerBitError), 1.0 / kErasuresPerBitError, a,
                                             activations);
  }
  auto rates = LayerRateSpec::parse(*p_e, 0.0, 1.0, "an erasure rate");
  return std::make_unique<ErasureTraining>(std::move(rates), 1.0 / kErasuresPerBitError, a, activations);
}

}  // namespace axsim::train
