// Optimizers and learning-rate schedules, with PyTorch's semantics (torch.optim.SGD / Adam and
// StepLR / CosineAnnealingLR) so that recipes transfer.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "workloads/nn/layer.hpp"

namespace axsim::nn {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual std::string name() const = 0;
  // One update of every parameter's value from its grad at learning rate lr.
  virtual void step(const std::vector<Parameter*>& params, float lr) = 0;
  // Optimizer state tensors for checkpoints (momentum buffers, Adam moments), in a stable order.
  virtual std::vector<std::pair<std::string, std::vector<float>*>> state() = 0;
  virtual void bind(const std::vector<Parameter*>& params) = 0;  // allocate state for these parameters
  long steps() const { return steps_; }
  void set_steps(long s) { steps_ = s; }

 protected:
  long steps_ = 0;
};

struct SgdOptions {
  float momentum = 0.0f, weight_decay = 0.0f, dampening = 0.0f;
  bool nesterov = false;
};
struct AdamOptions {
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.0f;
};

std::unique_ptr<Optimizer> make_sgd(SgdOptions o);
std::unique_ptr<Optimizer> make_adam(AdamOptions o);
// From YAML: {type: sgd|adam, lr, momentum, nesterov, weight_decay, beta1, beta2, eps}.
std::unique_ptr<Optimizer> make_optimizer(const ConfigNode& node);

struct LrSchedule {
  enum Kind { constant, step, cosine } kind = constant;
  float base_lr = 0.01f;
  int step_size = 1;      // epochs between decays (step)
  float gamma = 0.1f;     // decay factor (step)
  float min_lr = 0.0f;    // cosine floor
  int warmup_epochs = 0;  // linear warm-up
  // Learning rate for an epoch (0-based) of `epochs`.
  float at(int epoch, int epochs) const;
};
LrSchedule parse_schedule(const ConfigNode& optimizer_node);

}  // namespace axsim::nn
