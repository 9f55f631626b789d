// AxTrain-act's sensitivity (He et al., ISLPED 2018, eq. 5-11) and its gradient, with the Hessian-vector
// product computed by Pearlmutter's R-operator: one extra forward and backward pass, never the Hessian.
//
// For one (sample n, output k) pair -- a "pick" -- with O_k the network output before softmax:
//   g      = dO_k/dw                                  (per-sample gradient, every weight tensor)
//   S_nk   = sum_w |w| |g_w|                          (weights only: biases are not stored noisy words)
//   v      = |w| * sign(g)                            (zero on biases)
//   dS_nk  = sign(w) |g|  +  H_k v                    (eq. 6; H_k = d2 O_k / dw2 over all parameters)
// H_k v = R_v{dO_k/dw}: an R-forward pass gives R{a} (R{x_out} = V a + W R{a_in}; ReLU/pool pass R{x}
// through their fixed routing), an R-backward pass gives R{dO_k/dx} (dense: R{dx} = R{dy} W + dy V) and
// R{dO_k/dW} = R{dy} a^T + dy R{a}^T. ReLU has h'' = 0, so no curvature term appears at activations.
//
// Dense layers never materialise per-pick gradients: g = dy a^T is rank one, so
//   S = |dy|^T |W| |a|,  V a = sign(dy) o (|W| |a|),  dy^T V = sign(a) o (|dy|^T |W|),
//   sum_picks sign(W) o |g| = sign(W) o (|DY|^T |A|)
// are batched matrix products over all picks. Conv layers (LeNet: 150 and 2400 weights) form each
// pick's gradient explicitly from its im2col matrix and apply V per pick.
//
// Supported layers (those of the MLP and LeNet-5 presets): dense, conv2d, relu, maxpool, avgpool,
// flatten. Other kinds raise InputError when the engine is built. The engine runs its own forward over
// the picked samples with the layers' effective() weights; it never touches Parameter::grad or the
// network's stored activations.
#pragma once

#include <span>
#include <vector>

#include "workloads/nn/network.hpp"

namespace axsim::nn {

// One term of the sensitivity sum: sample index in the batch, output (logit) index.
struct OutputPick {
  int sample = 0;
  int output = 0;
};

// Sums over the picks, one tensor per parameter in Network::parameters() order, shaped like it.
struct SensitivityGradient {
  std::vector<Tensor> first;  // sum sign(w) |dO_k/dw|  (zero on biases)
  std::vector<Tensor> hvp;    // sum H_k v              (the R-operator term)
};

class SensitivityEngine {
 public:
  // Checks the layer kinds (InputError naming the first unsupported layer).
  explicit SensitivityEngine(Network& net);

  // Sum over picks of S_nk for the samples of x (N, ...); when grad is not null, fills grad with the
  // two gradient sums (resized to the parameters). compute_hvp = false skips the R passes (grad->hvp
  // is then zero): the cheaper first-order variant, and a way to time the R passes.
  double compute(const Tensor& x, std::span<const OutputPick> picks, SensitivityGradient* grad,
                 bool compute_hvp = true);

  const std::vector<Parameter*>& parameters() const { return params_; }

 private:
  struct Stage;  // per-layer geometry and work buffers (rop.cpp)
  std::vector<Layer*> layers_;
  std::vector<Parameter*> params_;
  std::vector<std::unique_ptr<Stage>> stages_;
  Tensor rows_;                             // the picked samples, one row per pick
  std::vector<Tensor> acts_, dys_, racts_;  // per layer: output, dO_k/d(output), R{output}
  Tensor rdy_, rdx_;                        // R{dO_k/d(output)} flowing backward

 public:
  ~SensitivityEngine();
};

}  // namespace axsim::nn
