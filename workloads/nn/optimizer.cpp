#include "workloads/nn/optimizer.hpp"

#include <cmath>

namespace axsim::nn {

namespace {

// Updates are element-wise, so every parameter's elements are split among the threads (one large
// weight matrix no longer runs on one thread); below this many elements one thread does it all.
constexpr std::size_t kParallelUpdate = std::size_t(1) << 15;

std::size_t total_size(const std::vector<Parameter*>& params) {
  std::size_t n = 0;
  for (const Parameter* p : params) n += p->value.size();
  return n;
}

class Sgd : public Optimizer {
 public:
  explicit Sgd(SgdOptions o) : o_(o) {}
  std::string name() const override { return "sgd"; }
  void bind(const std::vector<Parameter*>& params) override {
    momentum_.assign(params.size(), {});
    if (o_.momentum != 0.0f)
      for (std::size_t i = 0; i < params.size(); ++i) momentum_[i].assign(params[i]->value.size(), 0.0f);
  }
  void step(const std::vector<Parameter*>& params, float lr) override {
    if (momentum_.size() != params.size()) bind(params);
    const bool first = steps_ == 0;
#pragma omp parallel if (total_size(params) >= kParallelUpdate)
    for (std::size_t i = 0; i < params.size(); ++i) {
      Parameter& p = *params[i];
      float* w = p.value.data();
      const float* g = p.grad.data();
      const std::ptrdiff_t n = std::ptrdiff_t(p.value.size());
      const float wd = p.decay ? o_.weight_decay : 0.0f;
      if (o_.momentum == 0.0f) {
#pragma omp for schedule(static) nowait
        for (std::ptrdiff_t j = 0; j < n; ++j) w[j] -= lr * (g[j] + wd * w[j]);
        continue;
      }
      float* buf = momentum_[i].data();
#pragma omp for schedule(static) nowait
      for (std::ptrdiff_t j = 0; j < n; ++j) {
        const float d = g[j] + wd * w[j];
        // torch: the buffer starts as the first gradient, then buf = m*buf + (1-dampening)*d.
        buf[j] = first ? d : o_.momentum * buf[j] + (1.0f - o_.dampening) * d;
        const float upd = o_.nesterov ? d + o_.momentum * buf[j] : buf[j];
        w[j] -= lr * upd;
      }
    }
    ++steps_;
  }
  std::vector<std::pair<std::string, std::vector<float>*>> state() override {
    std::vector<std::pair<std::string, std::vector<float>*>> s;
    for (std::size_t i = 0; i < momentum_.size(); ++i) s.emplace_back("momentum" + std::to_string(i), &momentum_[i]);
    return s;
  }

 private:
  SgdOptions o_;
  std::vector<std::vector<float>> momentum_;
};

class Adam : public Optimizer {
 public:
  explicit Adam(AdamOptions o) : o_(o) {}
  std::string name() const override { return "adam"; }
  void bind(const std::vector<Parameter*>& params) override {
    m_.assign(params.size(), {});
    v_.assign(params.size(), {});
    for (std::size_t i = 0; i < params.size(); ++i) {
      m_[i].assign(params[i]->value.size(), 0.0f);
      v_[i].assign(params[i]->value.size(), 0.0f);
    }
  }
  void step(const std::vector<Parameter*>& params, float lr) override {
    if (m_.size() != params.size()) bind(params);
    ++steps_;
    const float bc1 = 1.0f - std::pow(o_.beta1, float(steps_));
    const float bc2 = 1.0f - std::pow(o_.beta2, float(steps_));
    const float step_size = lr / bc1;
    const float inv_sqrt_bc2 = 1.0f / std::sqrt(bc2);
#pragma omp parallel if (total_size(params) >= kParallelUpdate)
    for (std::size_t i = 0; i < params.size(); ++i) {
      Parameter& p = *params[i];
      float* w = p.value.data();
      const float* g = p.grad.data();
      float* m = m_[i].data();
      float* v = v_[i].data();
      const float wd = p.decay ? o_.weight_decay : 0.0f;
      const std::ptrdiff_t n = std::ptrdiff_t(p.value.size());
#pragma omp for schedule(static) nowait
      for (std::ptrdiff_t j = 0; j < n; ++j) {
        const float d = g[j] + wd * w[j];
        m[j] = o_.beta1 * m[j] + (1.0f - o_.beta1) * d;
        v[j] = o_.beta2 * v[j] + (1.0f - o_.beta2) * d * d;
        w[j] -= step_size * m[j] / (std::sqrt(v[j]) * inv_sqrt_bc2 + o_.eps);
      }
    }
  }
  std::vector<std::pair<std::string, std::vector<float>*>> state() override {
    std::vector<std::pair<std::string, std::vector<float>*>> s;
    for (std::size_t i = 0; i < m_.size(); ++i) {
      s.emplace_back("adam_m" + std::to_string(i), &m_[i]);
      s.emplace_back("adam_v" + std::to_string(i), &v_[i]);
    }
    return s;
  }

 private:
  AdamOptions o_;
  std::vector<std::vector<float>> m_, v_;
};

}  // namespace

std::unique_ptr<Optimizer> make_sgd(SgdOptions o) { return std::make_unique<Sgd>(o); }
std::unique_ptr<Optimizer> make_adam(AdamOptions o) { return std::make_unique<Adam>(o); }

std::unique_ptr<Optimizer> make_optimizer(const ConfigNode& n) {
  n.expect_keys({"type", "lr", "momentum", "nesterov", "weight_decay", "dampening", "beta1", "beta2", "eps", "schedule",
                 "step_size", "gamma", "min_lr", "warmup_epochs"});
  const std::string type = n.choice("type", {"sgd", "adam"}, std::string("sgd"));
  if (type == "sgd") {
    SgdOptions o;
    o.momentum = float(n.num("momentum", 0.0));
    o.nesterov = n.boolean("nesterov", false);
    o.weight_decay = float(n.num("weight_decay", 0.0));
    o.dampening = float(n.num("dampening", 0.0));
    if (o.nesterov && (o.momentum <= 0 || o.dampening != 0))
      n.fail("nesterov with a positive momentum and zero dampening (as in PyTorch)");
    return make_sgd(o);
  }
  if (n.has("momentum") || n.has("nesterov")) n.fail("no momentum/nesterov keys for adam (use beta1, beta2)");
  AdamOptions o;
  o.beta1 = float(n.num("beta1", 0.9));
  o.beta2 = float(n.num("beta2", 0.999));
  o.eps = float(n.num("eps", 1e-8));
  o.weight_decay = float(n.num("weight_decay", 0.0));
  return make_adam(o);
}

LrSchedule parse_schedule(const ConfigNode& n) {
  LrSchedule s;
  s.base_lr = float(n.num("lr", 0.01));
  if (!(s.base_lr > 0)) n.child("lr").fail("a positive learning rate", std::to_string(s.base_lr));
  const std::string kind = n.choice("schedule", {"constant", "step", "cosine"}, std::string("constant"));
  s.kind = kind == "step" ? LrSchedule::step : kind == "cosine" ? LrSchedule::cosine : LrSchedule::constant;
  s.step_size = int(n.integer("step_size", 1, 1, 1 << 20));
  s.gamma = float(n.num("gamma", 0.1));
  s.min_lr = float(n.num("min_lr", 0.0));
  s.warmup_epochs = int(n.integer("warmup_epochs", 0, 0, 1 << 20));
  return s;
}

float LrSchedule::at(int epoch, int epochs) const {
  if (warmup_epochs > 0 && epoch < warmup_epochs) return base_lr * float(epoch + 1) / float(warmup_epochs + 1);
  switch (kind) {
    case constant:
      return base_lr;
    case step:
      return base_lr * std::pow(gamma, float(epoch / step_size));
    case cosine: {
      const double t = epochs > 1 ? double(epoch) / double(epochs) : 0.0;
      return float(min_lr + 0.5 * (base_lr - min_lr) * (1.0 + std::cos(3.14159265358979323846 * t)));
    }
  }
  return base_lr;
}

}  // namespace axsim::nn
