#include "workloads/train/methods/analog_eval.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "core/units.hpp"
#include "workloads/artifact/deploy.hpp"
#include "workloads/data/load.hpp"
#include "workloads/nn/layers.hpp"

namespace axsim::train {

namespace {

nn::Parameter& weight_of(nn::Layer* layer) {
  for (nn::Parameter* p : layer->parameters())
    if (p->is_weight) return *p;
  throw std::logic_error("analog layer " + layer->name() + " has no weight");
}

void fill_batch(const Dataset& d, std::size_t first, std::size_t n, nn::Tensor& x) {
  nn::Shape shape{int(n)};
  for (auto s : d.sample_shape) shape.push_back(int(s));
  x.resize(shape);
  const std::size_t f = d.feature_count();
  std::copy(d.features.begin() + long(first * f), d.features.begin() + long((first + n) * f), x.vec().begin());
}

std::size_t argmax_row(const float* row, std::size_t classes) {
  std::size_t best = 0;
  for (std::size_t c = 1; c < classes; ++c)
    if (row[c] > row[best]) best = c;
  return best;
}

// Saves and restores what an evaluation changes on the network: the analog layers' forward weights and
// every batch norm's running statistics.
class NetworkSnapshot {
 public:
  NetworkSnapshot(nn::Network& net, const std::vector<nn::AnalogNoise*>& noise) {
    for (nn::AnalogNoise* n : noise) {
      nn::Parameter& p = weight_of(n->weight_layer());
      weights_.push_back({&p, p.use_forward_value, p.forward_value});
    }
    for (const auto& l : net.layers())
      if (auto* bn = dynamic_cast<nn::BatchNorm*>(l.get())) bns_.push_back({bn, bn->running_mean(), bn->running_var()});
  }
  // The weights as the chip would be programmed with (BinaryConnect/other transforms kept).
  const nn::Tensor& nominal(std::size_t l) const {
    return weights_[l].used ? weights_[l].forward_value : weights_[l].param->value;
  }
  void restore_bn() {
    for (auto& b : bns_) {
      b.bn->running_mean() = b.mean;
      b.bn->running_var() = b.var;
    }
  }
  void restore() {
    restore_bn();
    for (auto& w : weights_) {
      w.param->use_forward_value = w.used;
      w.param->forward_value = w.forward_value;
    }
  }

 private:
  struct Weight {
    nn::Parameter* param;
    bool used;
    nn::Tensor forward_value;
  };
  struct Bn {
    nn::BatchNorm* bn;
    nn::Tensor mean, var;
  };
  std::vector<Weight> weights_;
  std::vector<Bn> bns_;
};

}  // namespace

AnalogEvalResult evaluate_analog(nn::Network& net, AnalogNoiseTraining& method, const Dataset& data,
                                 const std::vector<double>& i_max_na, const std::vector<bool>& noisy,
                                 const AnalogEvalOptions& options) {
  const auto& noise = method.noise_layers();
  const std::size_t layers = noise.size();
  if (i_max_na.size() != layers || noisy.size() != layers)
    throw std::invalid_argument("evaluate_analog: one I_max and one noise flag per analog layer (" +
                                std::to_string(layers) + ")");
  if (options.batch < 1 || data.size == 0) throw std::invalid_argument("evaluate_analog: empty data or batch < 1");
  const bool any_noise = std::any_of(noisy.begin(), noisy.end(), [](bool b) { return b; });
  AnalogEvalResult result;
  result.i_max_na = i_max_na;
  result.noisy = noisy;
  result.power_w.assign(layers, 0.0);

  NetworkSnapshot snapshot(net, noise);
  method.set_i_max(i_max_na);
  method.set_eval_noise(noisy);
  const bool recalibrate =
      any_noise && options.calibration && options.calibration->size > 0 && options.bn_recalibration_batches > 0;
  nn::Tensor x;
  const std::size_t classes = std::size_t(net.spec().classes);
  auto run_trial = [&](std::uint64_t trial) -> double {
    for (std::size_t l = 0; l < layers; ++l) {
      if (!(noisy[l] && options.programming_noise)) continue;
      nn::Parameter& p = weight_of(noise[l]->weight_layer());
      nn::Tensor programmed = snapshot.nominal(l);
      apply_programming_noise(noise[l]->params(), programmed.data(), programmed.size(), options.seed,
                              stream_id({nn::kAnalogProgrammingStream, std::uint64_t(l), trial}));
      p.forward_value = std::move(programmed);
      p.use_forward_value = true;
    }
    if (recalibrate) {
      // Batch statistics under this chip's noise (the paper recomputes them when train and test signal
      // distributions differ), as an EMA with the layers' own momentum starting from the trained values.
      snapshot.restore_bn();
      const Dataset& cal = *options.calibration;
      const std::size_t nb = std::size_t(options.bn_recalibration_batch);
      for (int b = 0; b < options.bn_recalibration_batches; ++b) {
        const std::size_t first = (std::size_t(b) * nb) % cal.size;
        fill_batch(cal, first, std::min(nb, cal.size - first), x);
        nn::ForwardContext ctx{true, options.seed, (1ull << 48) + trial * 4096 + std::uint64_t(b), 0};
        net.forward(x, ctx);
      }
    }
    const bool meter = trial == options.mc.first_trial;
    for (nn::AnalogNoise* n : noise) {
      n->set_metering(meter);
      n->reset_meter();
    }
    std::size_t correct = 0;
    for (std::size_t first = 0; first < data.size; first += std::size_t(options.batch)) {
      const std::size_t n = std::min(std::size_t(options.batch), data.size - first);
      fill_batch(data, first, n, x);
      for (nn::AnalogNoise* a : noise) a->set_eval_position(trial, first);
      const nn::Tensor& logits = net.forward(x, nn::ForwardContext{false, options.seed, 0, 0});
      for (std::size_t s = 0; s < n; ++s)
        if (std::int32_t(argmax_row(logits.data() + s * classes, classes)) == data.labels[first + s]) ++correct;
    }
    if (meter)
      for (std::size_t l = 0; l < layers; ++l) {
        result.power_w[l] = noise[l]->metered_power_w();
        noise[l]->set_metering(false);
      }
    return double(correct) / double(data.size);
  };
  quant::McOptions mc = options.mc;
  mc.fault_free = !any_noise;
  try {
    result.accuracy = quant::monte_carlo(run_trial, mc);
  } catch (...) {
    snapshot.restore();
    method.restore_training_state();
    throw;
  }
  snapshot.restore();
  method.restore_training_state();
  result.total_power_w = 0.0;
  for (double p : result.power_w) result.total_power_w += p;
  return result;
}

nlohmann::json to_json(const AnalogEvalResult& r, const std::vector<std::string>& names) {
  nlohmann::json i_max = nlohmann::json::object(), power = nlohmann::json::object(), noisy = nlohmann::json::array();
  for (std::size_t l = 0; l < names.size(); ++l) {
    i_max[names[l]] = r.i_max_na[l];
    power[names[l]] = r.power_w[l];
    if (r.noisy[l]) noisy.push_back(names[l]);
  }
  const auto& a = r.accuracy;
  return {{"i_max_na", i_max},
          {"noisy_layers", noisy},
          {"accuracy_mean", a.mean},
          {"accuracy_std", a.std},
          {"ci95_half_width", std::isfinite(a.half_width) ? nlohmann::json(a.half_width) : nlohmann::json(nullptr)},
          {"trials", a.trials},
          {"per_trial_accuracy", a.accuracies},
          {"power_w", power},
          {"total_power_w", r.total_power_w}};
}

AssignmentResult search_assignment(nn::Network& net, AnalogNoiseTraining& method, const Dataset& data,
                                   const std::vector<double>& start, const AssignmentSearch& search,
                                   const AnalogEvalOptions& options) {
  const std::vector<bool> all(start.size(), true);
  AssignmentResult out;
  out.i_max_na = start;
  out.on_search_data = evaluate_analog(net, method, data, start, all, options);
  // Power is proportional to I_max per layer (fixed inputs and weights): W per nA, measured once.
  std::vector<double> watts_per_na(start.size());
  for (std::size_t l = 0; l < start.size(); ++l) watts_per_na[l] = out.on_search_data.power_w[l] / start[l];
  if (out.on_search_data.accuracy.mean < search.target_accuracy) return out;
  for (int round = 0; round < search.rounds; ++round) {
    int best = -1;
    double best_saving = 0.0;
    AnalogEvalResult best_result;
    for (std::size_t l = 0; l < start.size(); ++l) {
      std::vector<double> cand = out.i_max_na;
      cand[l] *= search.factor;
      if (cand[l] < search.min_i_max_na) continue;
      const double saving = watts_per_na[l] * (out.i_max_na[l] - cand[l]);
      if (saving <= best_saving) continue;  // cannot beat the best accepted candidate of this round
      AnalogEvalResult r = evaluate_analog(net, method, data, cand, all, options);
      if (r.accuracy.mean >= search.target_accuracy) {
        best = int(l);
        best_saving = saving;
        best_result = std::move(r);
      }
    }
    if (best < 0) break;
    out.i_max_na[std::size_t(best)] *= search.factor;
    out.on_search_data = std::move(best_result);
    out.steps.push_back({{"round", round + 1},
                         {"layer", method.layer_names()[std::size_t(best)]},
                         {"i_max_na", out.i_max_na[std::size_t(best)]},
                         {"accuracy", out.on_search_data.accuracy.mean},
                         {"total_power_w", out.on_search_data.total_power_w}});
  }
  return out;
}

AnalogEvalPlan parse_analog_evaluation(const ConfigNode& node) {
  node.expect_keys({"data", "limit", "i_max", "trials", "ci", "max_trials", "batch", "seed", "programming_noise",
                    "bn_recalibration", "sensitivity", "assignment"});
  auto current = [](const ConfigNode& n) {
    const double a = n.as_quantity(Dim::ampere);
    if (!(a > 0.0)) n.fail("a positive current like 10nA", format_quantity(a, Dim::ampere));
    return a * 1e9;
  };
  AnalogEvalPlan p;
  p.data = node.str("data");
  p.limit = std::size_t(node.integer("limit", 0, 0));
  if (auto im = node.maybe("i_max")) {
    if (!im->is_sequence()) im->fail("a list of currents like [1nA, 10nA]");
    for (const auto& item : im->items()) p.i_max_na.push_back(current(item));
  }
  p.trials = int(node.integer("trials", 3, 0, 100000));
  p.ci = node.num("ci", 0.0);
  if (!(p.ci >= 0.0 && p.ci < 1.0))
    node.child("ci").fail("a CI half-width in [0, 1) (0: use trials)", std::to_string(p.ci));
  if (p.trials == 0 && p.ci == 0.0) node.child("trials").fail("trials >= 1, or a ci target");
  p.max_trials = int(node.integer("max_trials", 20, 1, 100000));
  p.batch = int(node.integer("batch", 500, 1, 1 << 20));
  p.seed = std::uint64_t(node.integer("seed", 1, 0));
  p.programming_noise = node.boolean("programming_noise", true);
  if (auto bn = node.maybe("bn_recalibration")) {
    bn->expect_keys({"data", "batches", "batch"});
    p.calibration_data = bn->str("data");
    p.calibration_batches = std::size_t(bn->integer("batches", 20, 1, 100000));
    p.calibration_batch = std::size_t(bn->integer("batch", 100, 2, 1 << 20));
  }
  if (node.has("sensitivity")) p.sensitivity_i_max_na = current(node.child("sensitivity"));
  if (auto a = node.maybe("assignment")) {
    a->expect_keys({"reference", "tolerance", "data", "limit", "factor", "rounds", "trials"});
    p.assignment = true;
    p.assignment_reference_na = a->has("reference") ? current(a->child("reference")) : 10.0;
    p.assignment_tolerance = a->num("tolerance", 0.01);
    if (!(p.assignment_tolerance >= 0.0 && p.assignment_tolerance < 1.0))
      a->child("tolerance").fail("an accuracy tolerance in [0, 1)", std::to_string(p.assignment_tolerance));
    p.assignment_data = a->str("data");
    p.assignment_limit = std::size_t(a->integer("limit", 2000, 0));
    p.assignment_factor = a->num("factor", 0.5);
    if (!(p.assignment_factor > 0.0 && p.assignment_factor < 1.0))
      a->child("factor").fail("a step factor in (0, 1)", std::to_string(p.assignment_factor));
    p.assignment_rounds = int(a->integer("rounds", 6, 1, 1000));
    p.assignment_trials = int(a->integer("trials", 2, 1, 100000));
  }
  return p;
}

nlohmann::json run_analog_evaluation(const AnalogEvalPlan& plan, nn::Network& net, AnalogNoiseTraining& method) {
  const auto t0 = std::chrono::steady_clock::now();
  const Dataset data = load_dataset_prefix(plan.data, plan.limit);
  Dataset calibration;
  AnalogEvalOptions opt;
  opt.seed = plan.seed;
  opt.batch = plan.batch;
  opt.programming_noise = plan.programming_noise;
  if (!plan.calibration_data.empty()) {
    calibration = load_dataset_prefix(plan.calibration_data, plan.calibration_batches * plan.calibration_batch);
    opt.calibration = &calibration;
    opt.bn_recalibration_batches = int(plan.calibration_batches);
    opt.bn_recalibration_batch = int(plan.calibration_batch);
  }
  opt.mc.min_trials = plan.ci > 0.0 ? 2 : plan.trials;
  opt.mc.max_trials = plan.ci > 0.0 ? plan.max_trials : plan.trials;
  opt.mc.ci_half_width = plan.ci;
  const auto& names = method.layer_names();
  const std::size_t layers = names.size();
  const std::vector<bool> all(layers, true), none(layers, false);
  auto uniform = [&](double i) { return std::vector<double>(layers, i); };

  nlohmann::json out{{"data", plan.data},
                     {"samples", data.size},
                     {"seed", plan.seed},
                     {"programming_noise", plan.programming_noise},
                     {"bn_recalibration_batches", opt.calibration ? opt.bn_recalibration_batches : 0}};
  const AnalogEvalResult clean = evaluate_analog(net, method, data, method.i_max_na(), none, opt);
  out["noise_free_accuracy"] = clean.accuracy.mean;
  out["uniform"] = nlohmann::json::array();
  if (plan.i_max_na.empty()) {
    out["uniform"].push_back(to_json(evaluate_analog(net, method, data, method.i_max_na(), all, opt), names));
  } else {
    for (double i : plan.i_max_na)
      out["uniform"].push_back(to_json(evaluate_analog(net, method, data, uniform(i), all, opt), names));
  }
  if (plan.sensitivity_i_max_na > 0.0) {
    // Table IV: noise (and programming noise) in one layer at a time; power shares from all layers at I.
    const AnalogEvalResult whole = evaluate_analog(net, method, data, uniform(plan.sensitivity_i_max_na), all, opt);
    nlohmann::json rows = nlohmann::json::array();
    for (std::size_t l = 0; l < layers; ++l) {
      std::vector<bool> only(layers, false);
      only[l] = true;
      const AnalogEvalResult r = evaluate_analog(net, method, data, uniform(plan.sensitivity_i_max_na), only, opt);
      rows.push_back({{"layer", names[l]},
                      {"accuracy_mean", r.accuracy.mean},
                      {"ci95_half_width", std::isfinite(r.accuracy.half_width) ? nlohmann::json(r.accuracy.half_width)
                                                                               : nlohmann::json(nullptr)},
                      {"accuracy_drop", clean.accuracy.mean - r.accuracy.mean},
                      {"power_w", whole.power_w[l]},
                      {"power_share", whole.total_power_w > 0 ? whole.power_w[l] / whole.total_power_w : 0.0}});
    }
    out["sensitivity"] = {
        {"i_max_na", plan.sensitivity_i_max_na}, {"all_layers", to_json(whole, names)}, {"layers", rows}};
  }
  if (plan.assignment) {
    const Dataset search_data = load_dataset_prefix(plan.assignment_data, plan.assignment_limit);
    AnalogEvalOptions sopt = opt;
    sopt.mc.min_trials = sopt.mc.max_trials = plan.assignment_trials;
    sopt.mc.ci_half_width = 0.0;
    sopt.mc.first_trial = 1000000;  // chips not used for the reported test-set numbers
    const std::vector<double> start = uniform(plan.assignment_reference_na);
    const AnalogEvalResult ref = evaluate_analog(net, method, search_data, start, all, sopt);
    AssignmentSearch search;
    search.target_accuracy = ref.accuracy.mean - plan.assignment_tolerance;
    search.factor = plan.assignment_factor;
    search.rounds = plan.assignment_rounds;
    const AssignmentResult found = search_assignment(net, method, search_data, start, search, sopt);
    const AnalogEvalResult ref_test = evaluate_analog(net, method, data, start, all, opt);
    const AnalogEvalResult found_test = evaluate_analog(net, method, data, found.i_max_na, all, opt);
    out["assignment"] = {{"search_data", plan.assignment_data},
                         {"search_samples", search_data.size},
                         {"reference_i_max_na", plan.assignment_reference_na},
                         {"tolerance", plan.assignment_tolerance},
                         {"target_accuracy_on_search_data", search.target_accuracy},
                         {"reference_accuracy_on_search_data", ref.accuracy.mean},
                         {"found_accuracy_on_search_data", found.on_search_data.accuracy.mean},
                         {"steps", found.steps},
                         {"uniform_reference_test", to_json(ref_test, names)},
                         {"per_layer_test", to_json(found_test, names)}};
  }
  out["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

AnalogModel load_analog_model(const std::string& path) {
  artifact::TrainedModel trained = artifact::load_trained_model(path);
  const nlohmann::json& hw = trained.info.hardware;
  const auto layers = trained.network->weight_layers();
  auto entry_of = [&](const std::string& layer) -> const nlohmann::json& {
    if (!hw.contains(layer) || !hw[layer].is_object() || hw[layer].value("crossbar", "") != "analog_floating_gate")
      throw_input_error(path, "metadata axsim.hardware." + layer,
                        "an analog crossbar assignment (a model trained with `method: {type: analog}`)",
                        hw.contains(layer) ? hw[layer].dump() : std::string("none"));
    return hw[layer];
  };
  auto number = [&](const std::string& layer, const char* key, bool required, double fallback) {
    const nlohmann::json& e = entry_of(layer);
    if (!e.contains(key)) {
      if (required) throw_input_error(path, "metadata axsim.hardware." + layer + "." + key, "a number", "nothing");
      return fallback;
    }
    if (!e[key].is_number())
      throw_input_error(path, "metadata axsim.hardware." + layer + "." + key, "a number", e[key].dump());
    return e[key].get<double>();
  };
  if (layers.empty()) throw_input_error(path, "network", "dense/conv2d layers", "none");
  AnalogTrainingOptions o;
  const std::string first = layers.front()->name();
  o.noise = entry_of(first).value("trained_with_noise", true);
  o.i_max_default_na = number(first, "i_max_na", true, 0.0);
  o.vmm.bandwidth_hz = number(first, "bandwidth_hz", false, o.vmm.bandwidth_hz);
  o.vmm.i_res_na = number(first, "i_res_na", false, o.vmm.i_res_na);
  o.vmm.vdd = number(first, "vdd", false, o.vmm.vdd);
  o.vmm.input_bits = int(number(first, "input_bits", false, o.vmm.input_bits));
  o.first_layer_weight_clip = 0.0;  // training only: the stored weights are already clipped
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const std::string& name = layers[l]->name();
    o.i_max_by_layer_na.emplace_back(name, number(name, "i_max_na", true, 0.0));
    if (l > 0 && entry_of(name).contains("clip_threshold")) o.clip = true;
  }
  try {
    AnalogLayerParams check = o.vmm;
    check.validate();
  } catch (const std::invalid_argument& e) {
    throw_input_error(path, "metadata axsim.hardware." + first, "valid crossbar parameters", e.what());
  }
  AnalogModel m;
  m.network = std::move(trained.network);
  m.method = std::make_unique<AnalogNoiseTraining>(o);
  m.method->attach(*m.network);
  // Clip thresholds and the calibrated X_max of unclipped current-mode layers, as trained.
  std::vector<float>* x_max = nullptr;
  for (auto& [key, values] : m.method->state())
    if (key == "analog_x_max") x_max = values;
  for (std::size_t l = 1; l < layers.size(); ++l) {
    const std::string& name = layers[l]->name();
    if (nn::ActivationClip* clip = m.method->clips()[l]) {
      const double t = number(name, "clip_threshold", true, 0.0);
      if (!(t > 0.0))
        throw_input_error(path, "metadata axsim.hardware." + name + ".clip_threshold", "a positive threshold",
                          std::to_string(t));
      clip->set_threshold(float(t));
    } else if (x_max) {
      (*x_max)[l] = float(number(name, "x_max", false, 0.0));
    }
  }
  return m;
}

}  // namespace axsim::train
