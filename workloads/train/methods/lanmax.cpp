#include "workloads/train/methods/lanmax.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "workloads/train/methods/fault_report.hpp"
#include "workloads/train/methods/ols.hpp"
#include "workloads/train/methods/uniform_noise.hpp"

namespace axsim::train {

int lanmax_stop_epoch(const LanmaxOptions& options, int epochs) {
  if (options.stop_epoch > 0) return options.stop_epoch;
  if (options.stop_fraction <= 0.0) return 0;
  // The small epsilon keeps 0.8 * 10 at 8 despite 0.8 not being exact in binary.
  return std::max(1, int(std::floor(options.stop_fraction * double(epochs) + 1e-9)));
}

bool outer_sgd_step(std::vector<float>& p, std::vector<float>& velocity, std::span<const double> gradient, double lr,
                    double momentum, double p_min, double p_max) {
  double norm = 0;
  for (double g : gradient) norm += g * g;
  norm = std::sqrt(norm);
  if (!(norm > 0.0) || !std::isfinite(norm)) return false;
  for (std::size_t l = 0; l < p.size(); ++l) {
    const double g = gradient[l] / norm;
    const double v = momentum * double(velocity[l]) + g;
    velocity[l] = float(v);
    p[l] = float(std::clamp(double(p[l]) - lr * (g + momentum * v), p_min, p_max));
  }
  return true;
}

LanmaxTraining::LanmaxTraining(LanmaxOptions options, std::optional<LayerRateSpec> p_init)
    : opt_(std::move(options)),
      p_init_(std::move(p_init)),
      channel_(make_fault_channel(opt_.channel)),
      faults_(WeightFaults::Mode::stored_words, channel_, opt_.bits, kLanmaxFaultStream) {}

void LanmaxTraining::attach(nn::Network& net) {
  faults_.attach(net);
  bits_per_weight_ = binary_connect_active(net) ? 1.0 : double(opt_.bits);
  const std::size_t layers = faults_.layers();
  const std::vector<double> init = p_init_ ? p_init_->resolve(net) : std::vector<double>(layers, opt_.p_init);
  p_.assign(init.begin(), init.end());
  velocity_.assign(layers, 0.0f);
  best_loss_.assign(1, -1.0f);
  p_tilde_.assign(layers, 0.0);
  gradient_.assign(layers, 0.0);
  sampled_rate_sum_.assign(layers, 0.0);
  sample_rates_.clear();
  sample_objective_.clear();
}

void LanmaxTraining::before_batch(nn::Network&, const BatchContext& ctx) {
  const std::size_t layers = p_.size();
  if (ctx.batch_in_epoch == 0) {
    sample_rates_.clear();
    sample_objective_.clear();
    sample_rates_.reserve(std::size_t(ctx.batches_per_epoch) * layers);
    sample_objective_.reserve(std::size_t(ctx.batches_per_epoch));
    std::fill(sampled_rate_sum_.begin(), sampled_rate_sum_.end(), 0.0);
    batches_seen_ = 0;
  }
  pending_sample_ = learning(ctx);
  if (pending_sample_) {
    // Algorithm 1 line 6: delta_l ~ U{-h, 0, +h}, independently per layer. p~ is clamped to the
    // feasible range so the channel sees a valid rate, and the regression uses the rate actually applied.
    CounterRng rng(ctx.seed, stream_id({kLanmaxDeltaStream, ctx.step}));
    for (std::size_t l = 0; l < layers; ++l) {
      const double delta = double(int(rng.below(3)) - 1) * opt_.h;
      p_tilde_[l] = std::clamp(double(p_[l]) + delta, opt_.p_min, opt_.p_max);
    }
  } else {
    for (std::size_t l = 0; l < layers; ++l) p_tilde_[l] = p_[l];
  }
  for (std::size_t l = 0; l < layers; ++l) sampled_rate_sum_[l] += p_tilde_[l];
  ++batches_seen_;
  faults_.inject(p_tilde_, ctx.seed, ctx.step);
}

double LanmaxTraining::objective(double loss, double best_loss) const {
  const double best = std::max(best_loss, 1e-12);
  double sum_p = 0;
  for (double p : p_tilde_) sum_p += p;
  return loss / best + opt_.alpha * std::sqrt(surrogate_energy()) + opt_.lambda * sum_p;
}

double LanmaxTraining::surrogate_energy() const {
  const double normalized = normalized_memory_energy(p_tilde_, faults_.weights_per_layer(), opt_.a);
  if (opt_.normalized_energy) return normalized;
  double stored_bits = 0;
  for (double n : faults_.weights_per_layer()) stored_bits += n * bits_per_weight_;
  return normalized * stored_bits;
}

void LanmaxTraining::after_backward(nn::Network&, const BatchContext&, double loss) {
  faults_.release();
  if (!std::isfinite(loss)) {  // a diverged batch says nothing about p
    pending_sample_ = false;
    return;
  }
  if (pending_sample_) {
    // A* = the best loss of the EARLIER mini-batches: were the current one included, a batch whose
    // perturbation happened to give a record low would be scored 1 instead of below 1, which correlates
    // the denominator with this batch's delta and biases the slopes. (First batch: A* = A^.)
    const double best = best_loss_[0] < 0.0f ? loss : double(best_loss_[0]);
    sample_rates_.insert(sample_rates_.end(), p_tilde_.begin(), p_tilde_.end());
    sample_objective_.push_back(objective(loss, best));
    pending_sample_ = false;
  }
  // A* is kept in float so that a checkpoint restores it exactly.
  if (best_loss_[0] < 0.0f || float(loss) < best_loss_[0]) best_loss_[0] = float(loss);
}

void LanmaxTraining::end_epoch(nn::Network&, const BatchContext& ctx, nlohmann::json& record) {
  const bool active = learning(ctx);
  nlohmann::json info{{"active", active}, {"stop_epoch", lanmax_stop_epoch(opt_, ctx.epochs)}};
  if (active) {
    std::fill(gradient_.begin(), gradient_.end(), 0.0);
    bool updated = false;
    if (sample_objective_.size() >= 2) {
      const std::vector<double> slopes = ols_slopes(sample_rates_, p_.size(), sample_objective_);
      updated =
          outer_sgd_step(p_, velocity_, slopes, opt_.lr_scale * double(ctx.lr), opt_.momentum, opt_.p_min, opt_.p_max);
      double norm = 0;
      for (double g : slopes) norm += g * g;
      norm = std::sqrt(norm);
      if (updated)
        for (std::size_t l = 0; l < slopes.size(); ++l) gradient_[l] = slopes[l] / norm;
      // The raw slopes show how strong the signal was (the step only uses their direction).
      info["slopes"] = per_layer(faults_.layer_names(), slopes);
    }
    double mean_objective = 0;
    for (double v : sample_objective_) mean_objective += v;
    if (!sample_objective_.empty()) mean_objective /= double(sample_objective_.size());
    info["updated"] = updated;
    info["samples"] = sample_objective_.size();
    info["gradient"] = per_layer(faults_.layer_names(), gradient_);
    info["objective"] = mean_objective;
    info["lr"] = opt_.lr_scale * double(ctx.lr);
  }
  info["best_loss"] = best_loss_[0];
  const std::vector<double> p(p_.begin(), p_.end());
  add_rate_fields(record, faults_, p, opt_.a);
  std::vector<double> sampled(p_.size(), 0.0);
  for (std::size_t l = 0; l < p_.size() && batches_seen_ > 0; ++l)
    sampled[l] = sampled_rate_sum_[l] / double(batches_seen_);
  record["sampled_p"] = per_layer(faults_.layer_names(), sampled);
  record["lanmax"] = std::move(info);
  faults_.reset_stats();
  sample_rates_.clear();
  sample_objective_.clear();
}

nlohmann::json LanmaxTraining::hardware_assignment(const nn::Network& net) const {
  const std::vector<double> p(p_.begin(), p_.end());
  return fault_assignment(faults_, p, faults_.channel_name(), binary_connect_active(net) ? 1 : opt_.bits, opt_.a);
}

std::vector<std::pair<std::string, std::vector<float>*>> LanmaxTraining::state() {
  return {{"lanmax.p", &p_}, {"lanmax.velocity", &velocity_}, {"lanmax.best_loss", &best_loss_}};
}

std::unique_ptr<TrainingMethod> make_lanmax(const ConfigNode& node) {
  node.expect_keys({"type", "alpha", "lambda", "h", "p_init", "p_min", "p_max", "stop_fraction", "stop_epoch",
                    "momentum", "lr_scale", "a", "channel", "bits", "energy"});
  LanmaxOptions o;
  auto non_negative = [&](const char* key, double def, const std::string& what) {
    const double v = node.num(key, def);
    if (!(v >= 0.0) || !std::isfinite(v)) node.child(key).fail(what + " (>= 0)", rate_text(v));
    return v;
  };
  node.child("alpha");  // required: the accuracy-energy trade-off has no neutral default
  o.alpha = non_negative("alpha", 0.0, "the energy weight alpha");
  o.lambda = non_negative("lambda", o.lambda, "the noise decay lambda");
  o.momentum = non_negative("momentum", o.momentum, "a momentum");
  if (o.momentum >= 1.0) node.child("momentum").fail("a momentum in [0, 1)", rate_text(o.momentum));
  o.lr_scale = non_negative("lr_scale", o.lr_scale, "a learning-rate scale");
  o.a = parse_reliability_exponent(node);
  o.normalized_energy = node.choice("energy", {"absolute", "normalized"}, "absolute") == "normalized";
  const auto channel = parse_channel(node);
  o.channel = std::string(channel->name());
  o.bits = parse_word_bits(node);
  o.p_min = node.num("p_min", o.p_min);
  o.p_max = node.num("p_max", o.p_max);
  if (!(o.p_min > 0.0))
    node.child("p_min").fail("a lower bound p_min > 0 (eta(p) = -ln(p)/a needs p > 0)", rate_text(o.p_min));
  if (!(o.p_max <= channel->max_rate()))
    node.child("p_max").fail(
        "an upper bound p_max <= " + rate_text(channel->max_rate()) + " for the '" + o.channel + "' channel",
        rate_text(o.p_max));
  if (!(o.p_min < o.p_max))
    node.fail("p_min < p_max", "p_min = " + rate_text(o.p_min) + ", p_max = " + rate_text(o.p_max));
  o.h = node.num("h", o.h);
  if (!(o.h > 0.0) || o.h >= o.p_max - o.p_min)
    node.child("h").fail("a perturbation step h in (0, p_max - p_min)", rate_text(o.h));
  if (node.has("stop_fraction") && node.has("stop_epoch"))
    node.child("stop_epoch").fail("either 'stop_fraction' or 'stop_epoch', not both", "both");
  o.stop_fraction = node.num("stop_fraction", o.stop_fraction);
  if (!(o.stop_fraction >= 0.0 && o.stop_fraction <= 1.0))
    node.child("stop_fraction").fail("a fraction of the epochs in [0, 1]", rate_text(o.stop_fraction));
  o.stop_epoch = int(node.integer("stop_epoch", 0, 1, 1000000));
  std::optional<LayerRateSpec> p_init;
  if (auto n = node.maybe("p_init")) {
    if (n->is_scalar()) {
      o.p_init = n->as_num();
      if (!(o.p_init >= o.p_min && o.p_init <= o.p_max))
        n->fail("an initial rate in [p_min, p_max] = [" + rate_text(o.p_min) + ", " + rate_text(o.p_max) + "]",
                rate_text(o.p_init));
    } else {
      p_init = LayerRateSpec::parse(*n, o.p_min, o.p_max, "an initial rate in [p_min, p_max]",
                                    std::clamp(o.p_init, o.p_min, o.p_max));
    }
  } else if (!(o.p_init >= o.p_min && o.p_init <= o.p_max)) {
    node.fail("p_min <= p_init (default 0.01) <= p_max",
              "p_min = " + rate_text(o.p_min) + ", p_max = " + rate_text(o.p_max));
  }
  return std::make_unique<LanmaxTraining>(std::move(o), std::move(p_init));
}

}  // namespace axsim::train
