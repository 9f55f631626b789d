#include "workloads/train/methods/uniform_noise.hpp"

#include "models/voltage_curve.hpp"
#include "workloads/train/methods/fault_report.hpp"

namespace axsim::train {

std::shared_ptr<const FaultChannel> parse_channel(const ConfigNode& node, const std::string& def) {
  const auto where = node.maybe("channel");
  const std::string name = where ? where->as_str() : def;
  return make_fault_channel(name, node.file(), where ? where->location() : node.location());
}

int parse_word_bits(const ConfigNode& node) { return int(node.integer("bits", 8, 2, 16)); }

double parse_reliability_exponent(const ConfigNode& node) {
  const double a = node.num("a", kDefaultReliabilityExponent);
  if (!(a > 0)) node.child("a").fail("a positive energy-reliability exponent (p = exp(-a eta))", rate_text(a));
  return a;
}

UniformNoiseTraining::UniformNoiseTraining(LayerRateSpec rates, std::shared_ptr<const FaultChannel> channel, int bits,
                                           double a)
    : spec_(std::move(rates)),
      faults_(WeightFaults::Mode::stored_words, std::move(channel), bits, kUniformNoiseStream),
      bits_(bits),
      a_(a) {}

void UniformNoiseTraining::attach(nn::Network& net) {
  faults_.attach(net);
  p_ = spec_.resolve(net);
}

void UniformNoiseTraining::before_batch(nn::Network&, const BatchContext& ctx) {
  faults_.inject(p_, ctx.seed, ctx.step);
}

void UniformNoiseTraining::after_backward(nn::Network&, const BatchContext&, double) { faults_.release(); }

void UniformNoiseTraining::end_epoch(nn::Network&, const BatchContext&, nlohmann::json& record) {
  add_rate_fields(record, faults_, p_, a_);
  faults_.reset_stats();
}

nlohmann::json UniformNoiseTraining::hardware_assignment(const nn::Network& net) const {
  return fault_assignment(faults_, p_, faults_.channel_name(), binary_connect_active(net) ? 1 : bits_, a_);
}

std::unique_ptr<TrainingMethod> make_uniform_noise(const ConfigNode& node) {
  node.expect_keys({"type", "p", "channel", "bits", "a"});
  auto channel = parse_channel(node);
  const double max_rate = channel->max_rate();
  auto rates = LayerRateSpec::parse(node.child("p"), 0.0, max_rate,
                                    "a fault rate of the '" + std::string(channel->name()) + "' channel");
  return std::make_unique<UniformNoiseTraining>(std::move(rates), std::move(channel), parse_word_bits(node),
                                                parse_reliability_exponent(node));
}

}  // namespace axsim::train
