#include "workloads/quant/float_eval.hpp"

#include <algorithm>
#include <stdexcept>

#include "core/error.hpp"
#include "models/fixed_point.hpp"
#include "workloads/nn/loss.hpp"

namespace axsim::quant {

namespace {

// Restores the network's own forward values when an evaluation ends (also on exceptions).
class ForwardValueGuard {
 public:
  explicit ForwardValueGuard(std::vector<nn::Parameter*> params) : params_(std::move(params)) {
    for (nn::Parameter* p : params_) {
      saved_.push_back(p->forward_value);
      used_.push_back(p->use_forward_value);
    }
  }
  ~ForwardValueGuard() {
    for (std::size_t i = 0; i < params_.size(); ++i) {
      params_[i]->forward_value = std::move(saved_[i]);
      params_[i]->use_forward_value = used_[i];
    }
  }
  ForwardValueGuard(const ForwardValueGuard&) = delete;
  ForwardValueGuard& operator=(const ForwardValueGuard&) = delete;

 private:
  std::vector<nn::Parameter*> params_;
  std::vector<nn::Tensor> saved_;
  std::vector<bool> used_;
};

nn::Parameter& weight_of(nn::Layer& layer) {
  if (auto* d = dynamic_cast<nn::Dense*>(&layer)) return d->weight();
  if (auto* c = dynamic_cast<nn::Conv2d*>(&layer)) return c->weight();
  throw std::logic_error("weight layer without a weight: " + layer.name());
}

}  // namespace

FloatEvaluator::FloatEvaluator(nn::Network& net, FloatEvalOptions options) : net_(net), options_(options) {
  if (options_.batch < 1)
    throw_input_error("<float eval options>", "batch", "a batch of at least 1", std::to_string(options_.batch));
  for (nn::Layer* l : net_.weight_layers()) slots_.push_back({&weight_of(*l), l->name(), 0.0});
}

void FloatEvaluator::set_faults(const FloatFaultInjection& faults) {
  if (faults.channel != "flip" && faults.channel != "erasure") {
    const std::vector<std::string> valid{"flip", "erasure"};
    throw_input_error("<faults>", "channel",
                      "a channel with a float meaning (flip: BinaryConnect sign flips, erasure); quantize the network "
                      "for bit-level channels",
                      "'" + faults.channel + "'", closest_match(faults.channel, valid));
  }
  if (faults.channel == "flip" && !options_.binary_weights && faults.any())
    throw_input_error("<faults>", "channel", "erasure for real-valued float weights (flip needs BinaryConnect weights)",
                      "'flip'");
  std::vector<std::string> names;
  for (const WeightSlot& s : slots_) names.push_back(s.layer);
  for (const auto& [name, rate] : faults.rates)
    if (std::find(names.begin(), names.end(), name) == names.end())
      throw_input_error("<faults>", "rates." + name, "the name of a dense/conv2d layer", "'" + name + "'",
                        closest_match(name, names));
  const double max_rate = faults.channel == "flip" ? 0.5 : 1.0;
  auto check = [&](double rate, const std::string& where) {
    if (!(rate >= 0.0 && rate <= max_rate))
      throw_input_error("<faults>", where, "a rate in [0, " + std::to_string(max_rate) + "]", std::to_string(rate));
  };
  check(faults.rate, "rate");
  for (const auto& [name, rate] : faults.rates) check(rate, "rates." + name);
  faults_ = faults;
  for (WeightSlot& s : slots_) {
    const auto it = faults.rates.find(s.layer);
    s.rate = it == faults.rates.end() ? faults.rate : it->second;
  }
}

bool FloatEvaluator::has_fault_source() const {
  return std::any_of(slots_.begin(), slots_.end(), [](const WeightSlot& s) { return s.rate > 0.0; });
}

FaultStats FloatEvaluator::load_weights(std::uint64_t trial, std::int64_t inference) {
  FaultStats stats;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    nn::Parameter& w = *slots_[i].weight;
    w.forward_value = w.value;
    auto values = std::span<float>(w.forward_value.vec());
    if (options_.binary_weights)
      for (float& v : values) v = float(binarize(v));
    w.use_forward_value = true;
    const double p = slots_[i].rate;
    if (p <= 0.0) continue;
    const std::uint64_t stream = inference < 0 ? stream_id({kFloatWeightStream, trial, i})
                                               : stream_id({kFloatWeightStream, trial, i, std::uint64_t(inference)});
    stats += faults_.channel == "flip" ? flip_signs(values, p, faults_.seed, stream)
                                       : erase(values, p, faults_.seed, stream);
  }
  return stats;
}

void FloatEvaluator::forward(const float* features, std::size_t n, std::int32_t* predictions) {
  nn::Shape shape{int(n)};
  for (int d : net_.spec().input) shape.push_back(d);
  input_.resize(shape);
  std::copy(features, features + input_.size(), input_.data());
  nn::ForwardContext ctx;
  ctx.training = false;
  const nn::Tensor& logits = net_.forward(input_, ctx);
  nn::argmax_rows(logits, argmax_);
  std::copy(argmax_.begin(), argmax_.end(), predictions);
}

FaultStats FloatEvaluator::run(const float* features, std::size_t n, std::uint64_t first, std::uint64_t trial,
                               std::int32_t* predictions) {
  std::vector<nn::Parameter*> params;
  for (const WeightSlot& s : slots_) params.push_back(s.weight);
  ForwardValueGuard guard(params);
  const std::size_t in = nn::shape_size(net_.spec().input);
  FaultStats stats;
  if (faults_.draw == WeightFaultDraw::per_inference && has_fault_source()) {
    for (std::size_t i = 0; i < n; ++i) {
      stats += load_weights(trial, std::int64_t(first + i));
      forward(features + i * in, 1, predictions + i);
    }
    return stats;
  }
  stats = load_weights(trial, -1);
  const std::size_t chunk = std::size_t(options_.batch);
  for (std::size_t done = 0; done < n; done += chunk)
    forward(features + done * in, std::min(chunk, n - done), predictions + done);
  return stats;
}

void FloatEvaluator::predict(const float* features, std::size_t n, std::uint64_t first, std::uint64_t trial,
                             std::int32_t* predictions) {
  run(features, n, first, trial, predictions);
}

EvalResult FloatEvaluator::evaluate(const float* features, const std::int32_t* labels, std::size_t n,
                                    std::uint64_t trial) {
  EvalResult result;
  result.total = n;
  std::vector<std::int32_t> predictions(n);
  result.weight_faults = run(features, n, 0, trial, predictions.data());
  for (std::size_t i = 0; i < n; ++i) result.correct += predictions[i] == labels[i] ? 1 : 0;
  return result;
}

}  // namespace axsim::quant
