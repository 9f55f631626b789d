#include "workloads/train/methods/axtrain.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "core/units.hpp"
#include "models/fixed_point.hpp"
#include "models/voltage_curve.hpp"
#include "workloads/train/methods/uniform_noise.hpp"

namespace axsim::train {

// ------------------------------------------------------------------ PreferenceFactor
PreferenceFactor::PreferenceFactor(double initial, double delta, double max, double error_bound)
    : gamma_(initial), delta_(delta), max_(max), bound_(error_bound) {}

int PreferenceFactor::update(double e) {
  int direction = 0;
  if (epochs_ > 0) {
    direction = (e < history_ || e < bound_) ? +1 : -1;
    gamma_ = std::clamp(gamma_ + direction * delta_, 0.0, max_);
  }
  // sum_j 0.5^j E_{t+1-j} = 0.5 * (E_t + sum_j 0.5^j E_{t-j})
  history_ = 0.5 * (e + history_);
  ++epochs_;
  return direction;
}

void PreferenceFactor::restore(double gamma, double history, int epochs) {
  gamma_ = gamma;
  history_ = history;
  epochs_ = epochs;
}

// ------------------------------------------------------------------ OperandHook
// The activation side of AxTrain-pas, inserted before every weight layer: in a training forward pass
// the layer's input operands become fixed-point codes (per-batch dynamic format covering max|x|,
// unsigned when x >= 0 as after ReLU), DRUM-transformed, and dequantized. Evaluation passes
// (training = false) and a disabled hook are the identity. Backward: straight-through, clipped.
class OperandHook : public nn::Layer {
 public:
  OperandHook(std::string name, int bits, Multiplier multiplier)
      : nn::Layer(std::move(name)), bits_(bits), multiplier_(multiplier) {}
  std::string kind() const override { return "axtrain_operands"; }
  nn::Shape output_shape(const nn::Shape& in) const override { return in; }
  void set_enabled(bool on) { enabled_ = on; }

  void forward(const nn::Tensor& x, nn::Tensor& y, const nn::ForwardContext& ctx) override {
    y.resize(x.shape());
    if (!enabled_ || !ctx.training) {
      std::copy_n(x.data(), x.size(), y.data());
      return;
    }
    float lo = 0.0f, hi = 0.0f;
    for (float v : x.vec()) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    const bool is_signed = lo < 0.0f;
    const FixedPointFormat format = FixedPointFormat::covering(std::max(double(hi), -double(lo)), bits_, is_signed);
    codes_.resize(x.size());
    quantize(format, std::span<const float>(x.vec()), std::span<std::int32_t>(codes_));
    if (!multiplier_.is_exact()) drum_transform_batch(std::span<std::int32_t>(codes_), multiplier_.transform_k());
    dequantize(format, std::span<const std::int32_t>(codes_), std::span<float>(y.vec()));
  }

  void backward(const nn::Tensor& x, const nn::Tensor&, const nn::Tensor& dy, nn::Tensor* dx) override {
    if (!dx) return;
    dx->resize(x.shape());
    const bool clip = enabled_;
    for (std::size_t i = 0; i < dy.size(); ++i) (*dx)[i] = (!clip || std::fabs(dy[i]) < 1.0f) ? dy[i] : 0.0f;
  }

 private:
  int bits_;
  Multiplier multiplier_;
  bool enabled_ = true;
  std::vector<std::int32_t> codes_;
};

// ------------------------------------------------------------------ AxTrainMethod
AxTrainMethod::AxTrainMethod(std::string name, Phase start, bool act_then_pas, AxTrainActOptions act,
                             AxTrainPasOptions pas)
    : name_(std::move(name)),
      phase_(start),
      act_then_pas_(act_then_pas),
      act_(act),
      pas_(std::move(pas)),
      gamma_(act.gamma, act.delta_gamma, act.gamma_max, act.error_bound),
      saved_(7, 0.0f) {
  saved_[0] = float(act_.gamma);
}

AxTrainMethod::~AxTrainMethod() = default;

void AxTrainMethod::attach(nn::Network& net) {
  params_ = net.parameters();
  weights_.clear();
  weight_layer_names_.clear();
  for (nn::Layer* l : net.weight_layers())
    for (nn::Parameter* p : l->parameters())
      if (p->is_weight) {
        weights_.push_back(p);
        weight_layer_names_.push_back(l->name());
        break;
      }
  if (phase_ == Phase::act)
    engine_ = std::make_unique<nn::SensitivityEngine>(net);
  else
    enter_pas(net);
}

void AxTrainMethod::enter_pas(nn::Network& net) {
  phase_ = Phase::pas;
  if (hooks_inserted_) return;
  for (const std::string& layer : weight_layer_names_) {
    auto hook = std::make_unique<OperandHook>(layer + ".axtrain_operands", pas_.act_bits, pas_.multiplier);
    hooks_.push_back(hook.get());
    net.insert_before(layer, std::move(hook));
  }
  hooks_inserted_ = true;
}

void AxTrainMethod::before_batch(nn::Network& net, const BatchContext& ctx) {
  // A resumed run: the trainer restored saved_ after attach(); take gamma and the phase from it.
  if (int(saved_[2]) > gamma_.epochs()) {
    gamma_.restore(saved_[0], saved_[1], int(saved_[2]));
    act_epochs_done_ = int(saved_[4]);
    last_error_ = saved_[5];
    last_sens_ = saved_[6];
    if (saved_[3] > 0.5f) enter_pas(net);
  }
  if (phase_ == Phase::pas) hardware_weights(ctx);
}

// Stored weights as the accelerator holds them: per-layer dynamic fixed point, bit flips of the weight
// SRAM at p, then the DRUM operand transform; dequantized into forward_value for the float kernels.
void AxTrainMethod::hardware_weights(const BatchContext& ctx) {
  for (std::size_t l = 0; l < weights_.size(); ++l) {
    nn::Parameter& w = *weights_[l];
    if (w.use_forward_value)
      throw InputError(ErrorInfo{"method", "axtrain_pas", "real-valued weights (AxTrain-pas models fixed-point words)",
                                 "BinaryConnect or another method's forward weights", ""});
    const std::span<const float> real(w.value.vec());
    float max_abs = 0.0f;
    for (float v : real) max_abs = std::max(max_abs, std::fabs(v));
    const FixedPointFormat format = FixedPointFormat::covering(max_abs, pas_.weight_bits, /*is_signed=*/true);
    codes_.resize(real.size());
    quantize(format, real, std::span<std::int16_t>(codes_));
    if (pas_.p > 0.0 && pas_.channel)
      pas_.channel->apply(std::span<std::int16_t>(codes_), format.layout(), pas_.p, ctx.seed,
                          stream_id({kAxTrainFaultStream, ctx.step, std::uint64_t(l)}));
    if (!pas_.multiplier.is_exact())
      drum_transform_batch(std::span<std::int16_t>(codes_), pas_.multiplier.transform_k());
    w.forward_value.resize(w.value.shape());
    dequantize(format, std::span<const std::int16_t>(codes_), std::span<float>(w.forward_value.vec()));
    w.use_forward_value = true;
  }
}

void AxTrainMethod::release_weights() {
  for (nn::Parameter* w : weights_) w->use_forward_value = false;
}

void AxTrainMethod::after_backward(nn::Network& net, const BatchContext& ctx, double loss) {
  const std::size_t n = ctx.inputs ? std::size_t(ctx.inputs->batch()) : 0;
  loss_sum_ += loss * double(n);
  samples_ += n;
  if (phase_ == Phase::pas) {
    // Eq. 12 on the weight operands: drop gradients that the approximation blew up.
    for (nn::Parameter* p : weights_)
      for (float& g : p->grad.vec())
        if (!(std::fabs(g) < 1.0f)) g = 0.0f;
    release_weights();
    return;
  }
  add_sensitivity_gradient(net, ctx);
}

void AxTrainMethod::add_sensitivity_gradient(nn::Network&, const BatchContext& ctx) {
  if (!ctx.inputs)
    throw std::logic_error("axtrain_act: the trainer did not pass the mini-batch (BatchContext::inputs)");
  const auto t0 = std::chrono::steady_clock::now();
  const nn::Tensor& x = *ctx.inputs;
  const int batch = x.batch();
  // Outputs K: the last layer's output width, from its weight (dense [K, in] or conv [K, ...]).
  const int outputs = weights_.empty() ? 0 : weights_.back()->value.dim(0);
  const int m = act_.outputs_per_sample <= 0 ? outputs : std::min(act_.outputs_per_sample, outputs);
  const int samples = act_.samples_per_batch <= 0 ? batch : std::min(act_.samples_per_batch, batch);
  CounterRng rng(ctx.seed, stream_id({kAxTrainPickStream, ctx.step}));
  // Samples: a random subset (partial Fisher-Yates) or all; outputs: m of K without replacement.
  std::vector<int> sample_ids(static_cast<std::size_t>(batch));
  for (int i = 0; i < batch; ++i) sample_ids[std::size_t(i)] = i;
  if (samples < batch)
    for (int i = 0; i < samples; ++i)
      std::swap(sample_ids[std::size_t(i)], sample_ids[std::size_t(i) + rng.below(std::uint64_t(batch - i))]);
  std::vector<int> ks(static_cast<std::size_t>(outputs));
  picks_.clear();
  for (int i = 0; i < samples; ++i) {
    for (int k = 0; k < outputs; ++k) ks[std::size_t(k)] = k;
    if (m < outputs)
      for (int j = 0; j < m; ++j)
        std::swap(ks[std::size_t(j)], ks[std::size_t(j) + rng.below(std::uint64_t(outputs - j))]);
    for (int j = 0; j < m; ++j) picks_.push_back({sample_ids[std::size_t(i)], ks[std::size_t(j)]});
  }
  const double s_sum = engine_->compute(x, picks_, &sgrad_, act_.hvp);
  // Per-sample S (sum over all K outputs, estimated from m of them), averaged over the samples.
  const double scale = double(outputs) / double(m) / double(samples);
  sens_sum_ += s_sum * scale * samples;
  sens_samples_ += std::size_t(samples);
  const float g = float(gamma_.value() * scale);
  const auto& ps = engine_->parameters();
  for (std::size_t i = 0; i < ps.size(); ++i) {
    float* dst = ps[i]->grad.data();
    const float* a = sgrad_.first[i].data();
    const float* b = sgrad_.hvp[i].data();
    for (std::size_t j = 0; j < ps[i]->grad.size(); ++j) dst[j] += g * (a[j] + b[j]);
  }
  act_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void AxTrainMethod::end_epoch(nn::Network& net, const BatchContext&, nlohmann::json& record) {
  const double error = samples_ ? loss_sum_ / double(samples_) : 0.0;
  record["axtrain_phase"] = phase_ == Phase::act ? "act" : "pas";
  if (phase_ == Phase::act) {
    const double sens = sens_samples_ ? sens_sum_ / double(sens_samples_) : 0.0;
    record["sensitivity"] = sens;
    record["gamma"] = gamma_.value();  // the value used during this epoch
    record["act_seconds"] = act_seconds_;
    const int direction = gamma_.update(error);
    record["gamma_next"] = gamma_.value();
    record["gamma_step"] = direction;
    ++act_epochs_done_;
    if (act_then_pas_) {
      const bool converged = last_error_ > 0 && last_sens_ > 0 &&
                             std::fabs(error - last_error_) / last_error_ < act_.converge_tolerance &&
                             std::fabs(sens - last_sens_) / last_sens_ < act_.converge_tolerance;
      if (converged || act_epochs_done_ >= act_.max_epochs) {
        record["axtrain_switch"] = converged ? "converged" : "max_epochs";
        enter_pas(net);
      }
    }
    last_error_ = error;
    last_sens_ = sens;
  } else {
    record["multiplier"] = pas_.multiplier.name();
    record["weight_flip_p"] = pas_.p;
  }
  loss_sum_ = sens_sum_ = act_seconds_ = 0;
  samples_ = sens_samples_ = 0;
  sync_state_out();
}

void AxTrainMethod::sync_state_out() {
  saved_ = {float(gamma_.value()),   float(gamma_.weighted_history()),
            float(gamma_.epochs()),  float(phase_ == Phase::pas),
            float(act_epochs_done_), float(last_error_),
            float(last_sens_)};
}

std::vector<std::pair<std::string, std::vector<float>*>> AxTrainMethod::state() {
  // The trainer restores into saved_ after attach(); before_batch applies it.
  return {{"axtrain", &saved_}};
}

nlohmann::json AxTrainMethod::hardware_assignment(const nn::Network&) const {
  nlohmann::json j = nlohmann::json::object();
  for (const std::string& name : weight_layer_names_) {
    nlohmann::json e{{"multiplier", pas_.multiplier.name()},
                     {"weight_bits", pas_.weight_bits},
                     {"act_bits", pas_.act_bits},
                     {"p", pas_.p}};
    if (pas_.voltage) e["voltage"] = *pas_.voltage;
    j[name] = e;
  }
  return j;
}

// ------------------------------------------------------------------ factories
namespace {

AxTrainActOptions parse_act(const std::optional<ConfigNode>& node, bool combined) {
  AxTrainActOptions o;
  if (!node) return o;
  std::vector<std::string> keys{
      "gamma", "delta_gamma", "gamma_max", "error_bound", "outputs_per_sample", "samples_per_batch", "hvp"};
  if (combined) keys.insert(keys.end(), {"max_epochs", "converge_tolerance"});
  node->expect_keys(keys);
  o.gamma = node->num("gamma", o.gamma);
  o.delta_gamma = node->num("delta_gamma", o.delta_gamma);
  o.gamma_max = node->num("gamma_max", o.gamma_max);
  o.error_bound = node->num("error_bound", o.error_bound);
  if (!(o.gamma >= 0)) node->child("gamma").fail("a non-negative preference factor", std::to_string(o.gamma));
  if (!(o.delta_gamma >= 0)) node->child("delta_gamma").fail("a non-negative step", std::to_string(o.delta_gamma));
  if (!(o.gamma_max >= o.gamma)) node->child("gamma_max").fail("a bound >= gamma", std::to_string(o.gamma_max));
  if (auto k = node->maybe("outputs_per_sample")) {
    const std::string text = k->as_str();
    o.outputs_per_sample = text == "all" ? 0 : int(node->integer("outputs_per_sample", 1, 1, 1 << 20));
  }
  o.samples_per_batch = int(node->integer("samples_per_batch", 0, 0, 1 << 20));
  o.hvp = node->boolean("hvp", true);
  o.max_epochs = int(node->integer("max_epochs", o.max_epochs, 1, 100000));
  o.converge_tolerance = node->num("converge_tolerance", o.converge_tolerance);
  return o;
}

AxTrainPasOptions parse_pas(const std::optional<ConfigNode>& node) {
  AxTrainPasOptions o;
  o.channel = make_fault_channel("flip", "<default>", "channel");
  if (!node) return o;
  node->expect_keys({"weight_bits", "act_bits", "multiplier", "voltage", "p", "technology", "channel"});
  o.weight_bits = int(node->integer("weight_bits", 8, 2, 16));
  o.act_bits = int(node->integer("act_bits", 8, 2, 16));
  if (auto m = node->maybe("multiplier"))
    o.multiplier = parse_multiplier(m->as_str(), o.weight_bits, node->file(), m->location());
  else
    o.multiplier = Multiplier::exact(o.weight_bits);
  o.channel = parse_channel(*node);
  if (node->maybe("voltage") && node->maybe("p")) node->child("p").fail("either `voltage` or `p`", "both");
  if (auto p = node->maybe("p")) {
    o.p = node->num("p");
    if (!(o.p >= 0 && o.p <= o.channel->max_rate())) p->fail("a bit-flip rate in [0, max rate]", std::to_string(o.p));
  }
  if (node->maybe("voltage")) {
    const double v = node->quantity("voltage", Dim::volt);
    std::string tech = node->str("technology", "configs/tech/default-65nm.yaml");
    namespace fs = std::filesystem;
    if (!fs::exists(tech)) {  // relative to the recipe's folder as well as the working directory
      const fs::path beside = fs::path(node->file()).parent_path() / tech;
      if (fs::exists(beside)) tech = beside.string();
    }
    const ConfigNode root = ConfigNode::load_file(tech);
    const ConfigNode curves = root.child("bit_error");
    const ConfigNode entry = curves.maybe("weight_sram") ? curves.child("weight_sram") : curves.child("default");
    const auto curve = load_bit_error_curve(entry);
    o.voltage = v;
    o.p = curve->p_at(v);
  } else if (node->maybe("technology")) {
    node->child("technology").fail("`technology` together with `voltage`", "no voltage");
  }
  return o;
}

}  // namespace

std::unique_ptr<TrainingMethod> make_axtrain_act(const ConfigNode& node) {
  node.expect_keys({"type", "act"});
  return std::make_unique<AxTrainMethod>("axtrain_act", AxTrainMethod::Phase::act, false,
                                         parse_act(node.maybe("act"), false), parse_pas(std::nullopt));
}

std::unique_ptr<TrainingMethod> make_axtrain_pas(const ConfigNode& node) {
  node.expect_keys({"type", "pas"});
  return std::make_unique<AxTrainMethod>("axtrain_pas", AxTrainMethod::Phase::pas, false, AxTrainActOptions{},
                                         parse_pas(node.maybe("pas")));
}

std::unique_ptr<TrainingMethod> make_axtrain(const ConfigNode& node) {
  node.expect_keys({"type", "act", "pas"});
  return std::make_unique<AxTrainMethod>("axtrain", AxTrainMethod::Phase::act, true, parse_act(node.maybe("act"), true),
                                         parse_pas(node.maybe("pas")));
}

}  // namespace axsim::train
