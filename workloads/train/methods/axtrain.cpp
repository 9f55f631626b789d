#include "workloads/train/methods/axtrain.hpp"

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <stdexcept>

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

// ------------------------------------------------------------------ operand pipeline
// The per-batch work of AxTrain-pas is elementwise over every weight and every activation of the
// batch, next to GEMMs that do ~100 multiply-adds per element, so it must cost a few cycles per element:
// one read pass for the range (max |x| and the sign), then ONE pass that quantizes, DRUM-transforms and
// dequantizes each element (no code buffer: the codes live in registers). That pass is written with the
// models' own scalar rules, inlined (fixed_point_detail::round_and_clamp = FixedPointFormat::quantize's
// rounding, drum_transform_signed, FixedPointFormat::dequantize's code * step), so it is bit-identical to
// the models' batch functions (tested) while vectorizing as one loop. Weights, whose stored codes the
// fault channel corrupts, take the models' batch quantize, then sparse faults, then the fused second half.
namespace {

#define AXTRAIN_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))

// Below this many elements a parallel region costs more than it saves (as the layers' elementwise ops).
constexpr std::size_t kParallelOperands = std::size_t(1) << 16;
constexpr std::size_t kOperandBlock = 4096;  // elements per OpenMP work item

struct OperandRange {
  float max_abs = 0.0f;       // largest |x| (NaN ignored, as std::max(m, NaN) ignores it)
  bool any_negative = false;  // some x < 0 (-0.0 and NaN do not count)
};

OperandRange operand_range_portable(const float* x, std::size_t n) {
  OperandRange r;
  for (std::size_t i = 0; i < n; ++i) {
    const float a = std::fabs(x[i]);
    r.max_abs = a > r.max_abs ? a : r.max_abs;
    r.any_negative = r.any_negative || x[i] < 0.0f;
  }
  return r;
}

// GCC does not vectorize float max reductions without -ffast-math, hence intrinsics. vmaxps(a, m)
// returns m when a is NaN, as the portable loop does; _CMP_LT_OQ is false for NaN, -0.0 < 0 is false.
__attribute__((target("avx2"))) OperandRange operand_range_avx2(const float* x, std::size_t n) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff'ffff));
  const __m256 zero = _mm256_setzero_ps();
  __m256 m0 = zero, m1 = zero, neg = zero;
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
    m0 = _mm256_max_ps(_mm256_and_ps(a, abs_mask), m0);
    m1 = _mm256_max_ps(_mm256_and_ps(b, abs_mask), m1);
    neg = _mm256_or_ps(neg, _mm256_or_ps(_mm256_cmp_ps(a, zero, _CMP_LT_OQ), _mm256_cmp_ps(b, zero, _CMP_LT_OQ)));
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, _mm256_max_ps(m0, m1));
  OperandRange r = operand_range_portable(lanes, 8);  // lanes are >= 0, not NaN
  r.any_negative = _mm256_movemask_ps(neg) != 0;
  const OperandRange tail = operand_range_portable(x + i, n - i);
  r.max_abs = std::max(r.max_abs, tail.max_abs);
  r.any_negative = r.any_negative || tail.any_negative;
  return r;
}

OperandRange operand_range(const float* x, std::size_t n) {
  static const bool avx2 = __builtin_cpu_supports("avx2");
  return avx2 ? operand_range_avx2(x, n) : operand_range_portable(x, n);
}

// y = float(dequantize(D_k(quantize(x)))) for one block (k >= 32: exact), and the stored codes
// quantize(x) when `codes` is not null. Quantization rounds half to even and clamps to [lo, hi] as
// FixedPointFormat::quantize does (fixed_point_detail::round_and_clamp, in double).
AXTRAIN_VECTOR_CLONES void quantize_transform_dequantize_block(const float* x, float* y, std::int16_t* codes,
                                                               std::size_t n, double inverse_step, double step,
                                                               double lo, double hi, int k) {
  for (std::size_t i = 0; i < n; ++i) {
    const std::int32_t code = std::int32_t(fixed_point_detail::round_and_clamp(double(x[i]) * inverse_step, lo, hi));
    if (codes) codes[i] = std::int16_t(code);
    y[i] = float(double(drum_transform_signed(code, k)) * step);
  }
}

// The same in single precision, 8 lanes instead of 4, for power-of-two steps whose step and inverse are
// normal floats: x * 2^f and code * 2^-f are then exact in float as in double (a scaling by a power of
// two only rounds when the result underflows, and an underflowing x * 2^f rounds to code 0 both ways;
// |code| < 2^15 is exact in float), so every result is bit-identical to the double path (tested).
// Width: |code| < 2^Width for every code of the format (drum_transform_signed_narrow: 8-bit codes need
// fewer shift steps than the 32-bit rule; same values).
template <int Width, bool kStoreCodes>
[[gnu::always_inline]] inline void quantize_transform_dequantize_f32_codes(const float* x, float* y,
                                                                           std::int16_t* codes, std::size_t n,
                                                                           float inverse_step, float step, float lo,
                                                                           float hi, int k) {
  for (std::size_t i = 0; i < n; ++i) {
    float r = std::nearbyint(x[i] * inverse_step);
    r = r < lo ? lo : r;
    r = r > hi ? hi : r;
    r = r == r ? r : 0.0f;  // NaN -> 0
    const std::int32_t code = std::int32_t(r);
    if constexpr (kStoreCodes) codes[i] = std::int16_t(code);
    y[i] = float(drum_transform_signed_narrow<Width>(code, k)) * step;
  }
}

// The code store is a template argument: a branch on `codes` inside the loop keeps it from vectorizing.
template <int Width>
[[gnu::always_inline]] inline void quantize_transform_dequantize_f32_loop(const float* x, float* y, std::int16_t* codes,
                                                                          std::size_t n, float inverse_step, float step,
                                                                          float lo, float hi, int k) {
  if (codes)
    quantize_transform_dequantize_f32_codes<Width, true>(x, y, codes, n, inverse_step, step, lo, hi, k);
  else
    quantize_transform_dequantize_f32_codes<Width, false>(x, y, codes, n, inverse_step, step, lo, hi, k);
}

AXTRAIN_VECTOR_CLONES void quantize_transform_dequantize_block_f32(const float* x, float* y, std::int16_t* codes,
                                                                   std::size_t n, float inverse_step, float step,
                                                                   float lo, float hi, int k) {
  quantize_transform_dequantize_f32_loop<16>(x, y, codes, n, inverse_step, step, lo, hi, k);  // int16 codes
}

AXTRAIN_VECTOR_CLONES void quantize_transform_dequantize_block_f32_8bit(const float* x, float* y, std::int16_t* codes,
                                                                        std::size_t n, float inverse_step, float step,
                                                                        float lo, float hi, int k) {
  quantize_transform_dequantize_f32_loop<8>(x, y, codes, n, inverse_step, step, lo, hi, k);  // formats <= 9 bits
}

// Eq. 12: g = g * 1(|g| < 1) (NaN -> 0).
AXTRAIN_VECTOR_CLONES void clip_gradient(const float* dy, float* dx, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) dx[i] = std::fabs(dy[i]) < 1.0f ? dy[i] : 0.0f;
}
AXTRAIN_VECTOR_CLONES void clip_gradient_in_place(float* g, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) g[i] = std::fabs(g[i]) < 1.0f ? g[i] : 0.0f;
}

template <class Body>
void for_each_block(std::size_t n, Body&& body) {
  const std::ptrdiff_t blocks = std::ptrdiff_t((n + kOperandBlock - 1) / kOperandBlock);
#pragma omp parallel for schedule(static) if (n >= kParallelOperands)
  for (std::ptrdiff_t b = 0; b < blocks; ++b) {
    const std::size_t begin = std::size_t(b) * kOperandBlock;
    body(begin, std::min(kOperandBlock, n - begin));
  }
}

int transform_k(const Multiplier& m) { return m.is_exact() ? 32 : m.transform_k(); }

}  // namespace

void quantize_transform_dequantize(const FixedPointFormat& format, const Multiplier& multiplier,
                                   std::span<const float> x, std::span<float> y, std::span<std::int16_t> codes) {
  if (x.size() != y.size() || (!codes.empty() && codes.size() != x.size()))
    throw std::invalid_argument("quantize_transform_dequantize: sizes differ");
  format.validate();
  if (!format.codes_fit<std::int16_t>())
    throw std::invalid_argument("quantize_transform_dequantize: format " + format.to_string() + " wider than 16 bits");
  const double inverse = format.inverse_step(), step = format.step();
  const double lo = format.min_code(), hi = format.max_code();
  const int k = transform_k(multiplier);
  const bool single = format.has_power_of_two_step() && format.frac_bits >= -126 && format.frac_bits <= 126;
  const bool narrow = format.bits <= 9;  // |code| <= 2^(bits-1) - 1 < 2^8
  std::int16_t* out_codes = codes.empty() ? nullptr : codes.data();
  for_each_block(x.size(), [&](std::size_t begin, std::size_t len) {
    std::int16_t* c = out_codes ? out_codes + begin : nullptr;
    if (single && narrow)
      quantize_transform_dequantize_block_f32_8bit(x.data() + begin, y.data() + begin, c, len, float(inverse),
                                                   float(step), float(lo), float(hi), k);
    else if (single)
      quantize_transform_dequantize_block_f32(x.data() + begin, y.data() + begin, c, len, float(inverse), float(step),
                                              float(lo), float(hi), k);
    else
      quantize_transform_dequantize_block(x.data() + begin, y.data() + begin, c, len, inverse, step, lo, hi, k);
  });
}

namespace {

void clip_gradient(std::span<const float> dy, std::span<float> dx) {
  for_each_block(dy.size(),
                 [&](std::size_t begin, std::size_t len) { clip_gradient(dy.data() + begin, dx.data() + begin, len); });
}

void clip_gradient(std::span<float> g) {
  for_each_block(g.size(), [&](std::size_t begin, std::size_t len) { clip_gradient_in_place(g.data() + begin, len); });
}

}  // namespace

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
    const OperandRange range = operand_range(x.data(), x.size());
    const FixedPointFormat format = FixedPointFormat::covering(range.max_abs, bits_, range.any_negative);
    quantize_transform_dequantize(format, multiplier_, std::span<const float>(x.vec()), std::span<float>(y.vec()));
  }

  void backward(const nn::Tensor& x, const nn::Tensor&, const nn::Tensor& dy, nn::Tensor* dx) override {
    if (!dx) return;
    dx->resize(x.shape());
    if (enabled_)
      clip_gradient(std::span<const float>(dy.vec()), std::span<float>(dx->vec()));
    else
      std::copy_n(dy.data(), dy.size(), dx->data());
  }

 private:
  int bits_;
  Multiplier multiplier_;
  bool enabled_ = true;
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
// Faults: sparse geometric skips from a per-(step, layer) ExponentialStream (models/fault_sampler), so
// the cost is per fault, not per bit, and a resumed run draws the same faults as an uninterrupted one.
void AxTrainMethod::hardware_weights(const BatchContext& ctx) {
  if (fault_streams_.size() < weights_.size()) fault_streams_.resize(weights_.size(), ExponentialStream(0, 0));
  for (std::size_t l = 0; l < weights_.size(); ++l) {
    nn::Parameter& w = *weights_[l];
    if (w.use_forward_value)
      throw InputError(ErrorInfo{"method", "axtrain_pas", "real-valued weights (AxTrain-pas models fixed-point words)",
                                 "BinaryConnect or another method's forward weights", ""});
    const std::span<const float> real(w.value.vec());
    const float max_abs = operand_range(real.data(), real.size()).max_abs;
    const FixedPointFormat format = FixedPointFormat::covering(max_abs, pas_.weight_bits, /*is_signed=*/true);
    codes_.resize(real.size());
    const std::span<std::int16_t> codes(codes_);
    w.forward_value.resize(w.value.shape());
    const std::span<float> hardware(w.forward_value.vec());
    quantize_transform_dequantize(format, pas_.multiplier, real, hardware, codes);
    if (pas_.p > 0.0 && pas_.channel) {
      // Only the words that read back different are touched: their transformed values are redone.
      ExponentialStream& stream = fault_streams_[l];
      stream.reset(ctx.seed, stream_id({kAxTrainFaultStream, ctx.step, std::uint64_t(l)}));
      changes_.clear();
      pas_.channel->sample_changes(std::span<const std::int16_t>(codes), format.layout(), pas_.p, stream, changes_);
      // format.dequantize(code) = double(code) * format.step(); the step is hoisted (ldexp per word was a
      // libm call per flipped word).
      const double step = format.step();
      for (const WordChange& c : changes_) hardware[c.word] = float(double(pas_.multiplier.transform(c.value)) * step);
    }
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
    for (nn::Parameter* p : weights_) clip_gradient(std::span<float>(p->grad.vec()));
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
