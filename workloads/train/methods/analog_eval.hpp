// Inference under the accurate analog noise model (Klachko 2019 section IV; DESIGN section 6): the float
// network with the `analog` method's hooks, at given per-layer I_max, with shot noise on the
// pre-activations of the chosen layers and (optionally) programming-precision noise on their weights,
// Monte Carlo over chip instances (trial t = one programmed chip + fresh shot noise) with a Student-t CI
// (workloads/quant/monte_carlo). Also: per-layer noise sensitivity and power (the paper's Table IV) and
// a greedy per-layer I_max assignment that keeps an accuracy target at lower power (section VI).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "workloads/data/dataset.hpp"
#include "workloads/nn/network.hpp"
#include "workloads/quant/monte_carlo.hpp"
#include "workloads/train/methods/analog_noise.hpp"

namespace axsim::train {

struct AnalogEvalOptions {
  std::uint64_t seed = 1;
  int batch = 500;                       // inputs per forward pass (results do not depend on it)
  bool programming_noise = true;         // U(+-I_res/I_max) on the weights of the noisy layers, per trial
  const Dataset* calibration = nullptr;  // BN statistics re-estimated under noise on these (nullptr: keep)
  int bn_recalibration_batches = 0;      // EMA (the BN layers' momentum) over this many batches per trial
  int bn_recalibration_batch = 100;
  quant::McOptions mc;  // trial count / CI target
};

struct AnalogEvalResult {
  std::vector<double> i_max_na;  // per analog layer
  std::vector<bool> noisy;       // layers with noise (the others compute exactly)
  quant::McResult accuracy;
  std::vector<double> power_w;  // per layer: V_dd * total cell current per inference (all output pixels),
                                // mean over the data of the first trial; 0 for noise-free layers
  double total_power_w = 0.0;
};

// Runs Monte Carlo trials; restores the network (weights, BN statistics, noise modes, I_max) afterwards.
AnalogEvalResult evaluate_analog(nn::Network& net, AnalogNoiseTraining& method, const Dataset& data,
                                 const std::vector<double>& i_max_na, const std::vector<bool>& noisy,
                                 const AnalogEvalOptions& options);

nlohmann::json to_json(const AnalogEvalResult& r, const std::vector<std::string>& layer_names);

// Greedy per-layer I_max search (paper section VI, automated): from `start`, repeatedly try dividing one
// layer's I_max by `factor`'s inverse (i.e. I *= factor); accept the candidate that saves the most power
// while the accuracy on `data` stays >= target; stop when no candidate is accepted or after `rounds`.
// Power is linear in I_max per layer, so it is measured once at `start` and scaled.
struct AssignmentSearch {
  double target_accuracy = 0.0;
  double factor = 0.5;
  int rounds = 6;
  double min_i_max_na = 0.1;
};
struct AssignmentResult {
  std::vector<double> i_max_na;
  AnalogEvalResult on_search_data;
  std::vector<nlohmann::json> steps;  // every accepted step
};
AssignmentResult search_assignment(nn::Network& net, AnalogNoiseTraining& method, const Dataset& data,
                                   const std::vector<double>& start, const AssignmentSearch& search,
                                   const AnalogEvalOptions& options);

// The `evaluate:` block of the method (run after the last epoch), parsed (strictly) when the method is
// built so that a typo fails before training, not after it.
//   evaluate:
//     data: mnist:data/fashion-mnist:test   # required
//     limit: 0                              # first N samples (0: all)
//     i_max: [1nA, 3nA, 10nA]               # uniform I_max grid (absent: the training I_max only)
//     trials: 3                             # Monte Carlo trials (exactly) ... or
//     ci: 0.005                             # ... until the 95 % CI half-width <= ci, at most max_trials
//     max_trials: 20
//     batch: 500
//     seed: 1
//     programming_noise: true
//     bn_recalibration: {data: mnist:data/fashion-mnist:train, batches: 20, batch: 100}
//     sensitivity: 10nA                     # Table IV: noise in one layer at a time at this I_max
//     assignment: {reference: 10nA, tolerance: 0.01, data: mnist:...:train, limit: 2000, factor: 0.5,
//                  rounds: 6, trials: 2}    # target = accuracy(uniform reference on data) - tolerance
struct AnalogEvalPlan {
  std::string data;
  std::size_t limit = 0;
  std::vector<double> i_max_na;  // empty: the training I_max
  int trials = 3;
  double ci = 0.0;
  int max_trials = 20;
  int batch = 500;
  std::uint64_t seed = 1;
  bool programming_noise = true;
  std::string calibration_data;  // empty: no BN recalibration
  std::size_t calibration_batches = 0, calibration_batch = 100;
  double sensitivity_i_max_na = 0.0;  // 0: skip
  bool assignment = false;
  double assignment_reference_na = 10.0, assignment_tolerance = 0.01, assignment_factor = 0.5;
  std::string assignment_data;
  std::size_t assignment_limit = 2000;
  int assignment_rounds = 6, assignment_trials = 2;
};
AnalogEvalPlan parse_analog_evaluation(const ConfigNode& node);

// A deploy artifact trained with the `analog` method, rebuilt for evaluate_analog (`axsim eval --analog`):
// the network with the method's hook layers, configured from the artifact's axsim.hardware (per-layer
// training I_max, VMM bandwidth / I_res / V_dd / input bits, clip thresholds, calibrated X_max). Errors
// (no analog assignment, a weight layer without one, a missing or bad field) are InputErrors naming the
// file and the metadata key.
struct AnalogModel {
  std::unique_ptr<nn::Network> network;
  std::unique_ptr<AnalogNoiseTraining> method;
};
AnalogModel load_analog_model(const std::string& path);
// Returns the train.json fields: noise_free accuracy, uniform[], sensitivity[], assignment{}.
nlohmann::json run_analog_evaluation(const AnalogEvalPlan& plan, nn::Network& net, AnalogNoiseTraining& method);

}  // namespace axsim::train
