#include "workloads/train/methods/weight_faults.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "core/rng.hpp"

namespace axsim::train {

namespace {

nn::Parameter* weight_of(nn::Layer* layer) {
  for (nn::Parameter* p : layer->parameters())
    if (p->is_weight) return p;
  return nullptr;
}

}  // namespace

bool binary_connect_active(const nn::Network& net) {
  for (nn::Layer* l : net.weight_layers())
    if (nn::Parameter* w = weight_of(l)) return w->use_forward_value;
  return false;
}

WeightFaults::WeightFaults(Mode mode, std::shared_ptr<const FaultChannel> channel, int bits, std::uint64_t stream_tag)
    : mode_(mode), channel_(std::move(channel)), bits_(bits), tag_(stream_tag) {
  if (mode_ == Mode::stored_words && !channel_) throw std::invalid_argument("WeightFaults: no fault channel");
  if (bits_ < 2 || bits_ > 16) throw std::invalid_argument("WeightFaults: bits must be in [2, 16]");
}

void WeightFaults::attach(nn::Network& net) {
  weights_.clear();
  names_.clear();
  counts_.clear();
  for (nn::Layer* l : net.weight_layers()) {
    nn::Parameter* w = weight_of(l);
    if (!w) throw std::logic_error("weight layer '" + l->name() + "' has no weight parameter");
    weights_.push_back(w);
    names_.push_back(l->name());
    counts_.push_back(double(w->value.size()));
  }
  codes_.assign(weights_.size(), {});
  stats_.assign(weights_.size(), {});
}

void WeightFaults::inject(std::span<const double> p, std::uint64_t seed, std::uint64_t step) {
  if (p.size() != weights_.size())
    throw std::invalid_argument("WeightFaults::inject: " + std::to_string(p.size()) + " rates for " +
                                std::to_string(weights_.size()) + " layers");
  binary_ = !weights_.empty() && weights_[0]->use_forward_value && !owns_forward_;
  for (std::size_t l = 0; l < weights_.size(); ++l) {
    nn::Parameter& w = *weights_[l];
    if (!binary_) w.forward_value.resize(w.value.shape());
    inject_layer(l, p[l], seed, stream_id({tag_, step, std::uint64_t(l)}));
    w.use_forward_value = true;
  }
  owns_forward_ = !binary_;
}

void WeightFaults::inject_layer(std::size_t l, double p, std::uint64_t seed, std::uint64_t stream) {
  nn::Parameter& w = *weights_[l];
  std::span<float> forward(w.forward_value.vec());
  const std::span<const float> real(w.value.vec());
  if (mode_ == Mode::float_erasure) {
    if (!binary_) std::copy(real.begin(), real.end(), forward.begin());
    stats_[l] += erase(forward, p, seed, stream);
    return;
  }
  auto& codes = codes_[l];
  codes.resize(real.size());
  if (binary_) {
    if (channel_->name() == "flip") {  // the BSC of LaNMax, directly on the +-1 floats
      stats_[l] += flip_signs(forward, p, seed, stream);
      return;
    }
    for (std::size_t i = 0; i < codes.size(); ++i) codes[i] = forward[i] > 0.0f ? 1 : -1;
    stats_[l] += channel_->apply(std::span<std::int16_t>(codes), kBinaryWeightLayout, p, seed, stream);
    for (std::size_t i = 0; i < codes.size(); ++i) forward[i] = float(codes[i]);
    return;
  }
  float max_abs = 0.0f;
  for (float v : real) max_abs = std::max(max_abs, std::fabs(v));
  const FixedPointFormat format = FixedPointFormat::covering(max_abs, bits_, /*is_signed=*/true);
  quantize(format, real, std::span<std::int16_t>(codes));
  stats_[l] += channel_->apply(std::span<std::int16_t>(codes), format.layout(), p, seed, stream);
  dequantize(format, std::span<const std::int16_t>(codes), forward);
}

void WeightFaults::release() {
  if (!owns_forward_) return;
  for (nn::Parameter* w : weights_) w->use_forward_value = false;
  owns_forward_ = false;
}

void WeightFaults::reset_stats() { std::fill(stats_.begin(), stats_.end(), FaultStats{}); }

double WeightFaults::measured_rate(std::size_t l) const {
  const FaultStats& s = stats_[l];
  const bool word_level = mode_ == Mode::float_erasure || channel_->unit() == FaultUnit::word;
  if (word_level) return s.words_read ? double(s.faulty_words) / double(s.words_read) : 0.0;
  return s.bits_read ? double(s.faulty_bits) / double(s.bits_read) : 0.0;
}

std::string WeightFaults::channel_name() const {
  return mode_ == Mode::float_erasure ? "erasure" : std::string(channel_->name());
}

}  // namespace axsim::train
