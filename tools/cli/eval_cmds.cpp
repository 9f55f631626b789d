// `axsim eval`: functional (no SystemC) evaluation of a deploy artifact: float or quantized (exact or
// DRUM-k), with memory faults on stored weights and/or activations, Monte Carlo until the 95 % CI of
// the mean accuracy is narrow enough. JSON on stdout (or -o FILE, written atomically).
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/units.hpp"
#include "tools/cli/command.hpp"
#include "tools/cli/progress.hpp"
#include "workloads/artifact/deploy.hpp"
#include "workloads/data/load.hpp"
#include "workloads/quant/executor.hpp"
#include "workloads/quant/float_eval.hpp"
#include "workloads/quant/monte_carlo.hpp"
#include "workloads/train/methods/analog_eval.hpp"

namespace axsim::cli {

namespace {

// "NAME=VALUE" of a per-layer option -> {NAME, VALUE}; InputError naming the option otherwise.
std::pair<std::string, std::string> split_name_value(const std::string& arg, const std::string& option,
                                                     const std::string& expected) {
  const auto eq = arg.find('=');
  if (eq == std::string::npos || eq == 0) throw_input_error("<command line>", option, expected, "'" + arg + "'");
  return {arg.substr(0, eq), arg.substr(eq + 1)};
}

// Per-layer weight fault rates: the artifact's `axsim.hardware` assignment (--p-from-model), then any
// --layer-p NAME=P on top. Layer names are checked by the evaluators against the network.
std::map<std::string, double> eval_layer_rates(const std::string& model, const std::vector<std::string>& args,
                                               bool from_model) {
  std::map<std::string, double> rates;
  if (from_model) {
    const nlohmann::json hw = artifact::load_trained_model(model).info.hardware;
    for (const auto& [layer, entry] : hw.items()) {
      if (!entry.is_object() || !entry.contains("p") || !entry["p"].is_number())
        throw_input_error(model, "metadata axsim.hardware." + layer, "an object with a numeric 'p'", entry.dump());
      rates[layer] = entry["p"].get<double>();
    }
    if (rates.empty())
      throw_input_error(model, "metadata axsim.hardware", "per-layer fault rates (--p-from-model)",
                        "none: the model was trained without a per-layer fault assignment");
  }
  for (const std::string& a : args) {
    const std::string expected = "NAME=P with P in [0, 1] (e.g. fc1=0.01)";
    const auto [name, text] = split_name_value(a, "--layer-p", expected);
    double v = 0;
    std::size_t used = 0;
    try {
      v = std::stod(text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != text.size() || !(v >= 0.0 && v <= 1.0))
      throw_input_error("<command line>", "--layer-p", expected, a);
    rates[name] = v;
  }
  return rates;
}

// A current such as "5nA" in nA (core/units); `what` names the option in errors.
double current_na(const std::string& text, const std::string& what) {
  double a = 0.0;
  try {
    a = parse_quantity(text, Dim::ampere);
  } catch (const std::exception&) {
    throw_input_error("<command line>", what, "a current such as 5nA", "'" + text + "'");
  }
  if (!(a > 0.0) || !std::isfinite(a))
    throw_input_error("<command line>", what, "a positive current such as 5nA", "'" + text + "'");
  return a * 1e9;
}

struct AnalogCliOptions {
  std::string i_max;                     // uniform I_max; empty: the trained per-layer values
  std::vector<std::string> layer_i_max;  // NAME=CURRENT overrides
  bool no_programming_noise = false;
  std::string bn_data;  // BN recalibration data (empty: keep the trained statistics)
  int bn_batches = 20, bn_batch = 100, batch = 500;
};

// `axsim eval --analog`: an analog-noise-trained artifact under the accurate noise model (shot noise in
// every crossbar layer + programming noise per chip) at the chosen I_max, Monte Carlo over chips
// (workloads/train/methods/analog_eval: the same evaluator the training's `evaluate:` block uses).
void eval_analog(const std::string& model, const Dataset& data, const AnalogCliOptions& a, std::uint64_t seed,
                 const quant::McOptions& mc, nlohmann::json& j, quant::McResult& result) {
  train::AnalogModel m = train::load_analog_model(model);
  const std::vector<std::string>& names = m.method->layer_names();
  std::vector<double> i_max = m.method->i_max_na();
  if (!a.i_max.empty()) i_max.assign(names.size(), current_na(a.i_max, "--i-max"));
  for (const std::string& arg : a.layer_i_max) {
    const auto [name, current] = split_name_value(arg, "--layer-i-max", "NAME=CURRENT (e.g. conv1=2nA)");
    const auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end())
      throw_input_error("<command line>", "--layer-i-max", "the name of an analog layer of the model", "'" + name + "'",
                        closest_match(name, names));
    i_max[std::size_t(it - names.begin())] = current_na(current, "--layer-i-max " + name);
  }
  train::AnalogEvalOptions opt;
  opt.seed = seed;
  opt.batch = a.batch;
  opt.programming_noise = !a.no_programming_noise;
  opt.mc = mc;
  Dataset calibration;
  if (!a.bn_data.empty()) {
    calibration = load_dataset_prefix(a.bn_data, std::size_t(a.bn_batches) * std::size_t(a.bn_batch));
    opt.calibration = &calibration;
    opt.bn_recalibration_batches = a.bn_batches;
    opt.bn_recalibration_batch = a.bn_batch;
  }
  const std::vector<bool> all(names.size(), true), none(names.size(), false);
  train::AnalogEvalOptions clean_opt = opt;
  clean_opt.mc.on_trial = nullptr;
  const train::AnalogEvalResult clean = train::evaluate_analog(*m.network, *m.method, data, i_max, none, clean_opt);
  const train::AnalogEvalResult noisy = train::evaluate_analog(*m.network, *m.method, data, i_max, all, opt);
  j["mode"] = "analog";
  j["noise_free_accuracy"] = clean.accuracy.mean;
  j["analog"] = train::to_json(noisy, names);
  j["analog"]["trained_i_max_na"] = m.method->i_max_na();
  j["analog"]["programming_noise"] = opt.programming_noise;
  j["analog"]["bn_recalibration"] =
      a.bn_data.empty() ? nlohmann::json(nullptr)
                        : nlohmann::json{{"data", a.bn_data}, {"batches", a.bn_batches}, {"batch", a.bn_batch}};
  result = noisy.accuracy;
}

int cmd_eval(const std::vector<std::string>& args) {
  po::options_description o("options");
  std::string model, data_spec, out, multiplier = "exact", channel = "flip", act_channel, draw = "per_trial";
  double p = 0, p_act = 0, ci = 0;
  int trials = 0, max_trials = 100, weight_bits = 8, act_bits = 8, calib = 256, threads = 0;
  std::uint64_t seed = 1;
  bool float_mode = false, quiet = false, p_from_model = false;
  std::vector<std::string> layer_p_args;
  bool analog = false;
  AnalogCliOptions analog_opt;
  o.add_options()("model", po::value(&model), "deploy artifact (.safetensors) written by axsim train")(
      "data", po::value(&data_spec), "dataset spec, e.g. mnist:data/mnist:test")(
      "float", po::bool_switch(&float_mode), "evaluate in float (faults: flip on BinaryConnect signs, erasure)")(
      "weight-bits", po::value(&weight_bits), "quantized weight width (8)")("act-bits", po::value(&act_bits),
                                                                            "quantized activation width (8)")(
      "multiplier", po::value(&multiplier), "exact | drum<k> on every product (e.g. drum4)")(
      "channel", po::value(&channel),
      "fault channel on stored weights: flip | bit_mask | word_mask | erasure | stuck_at")(
      "p", po::value(&p), "fault rate on stored weights (per bit; per word for erasure)")(
      "layer-p", po::value(&layer_p_args)->composing(),
      "per-layer weight fault rate NAME=P (repeatable; other layers use --p)")(
      "p-from-model", po::bool_switch(&p_from_model),
      "per-layer weight fault rates the training wrote into the artifact (LaNMax, per-layer rates)")(
      "act-channel", po::value(&act_channel), "fault channel on stored activations (default: --channel)")(
      "p-act", po::value(&p_act), "fault rate on stored activations")(
      "draw", po::value(&draw), "per_trial (one chip per pass over the data) | per_inference (fresh faults per input)")(
      "trials", po::value(&trials), "exactly this many Monte Carlo trials")(
      "ci", po::value(&ci), "run trials until the 95% CI half-width of the accuracy is <= H (e.g. 0.002)")(
      "max-trials", po::value(&max_trials), "with --ci: at most this many trials (100)")("seed", po::value(&seed),
                                                                                         "random seed (1)")(
      "calibration", po::value(&calib),
      "samples used to calibrate activations when the artifact stores no quantized network (256)")(
      "analog", po::bool_switch(&analog),
      "analog crossbar model (trained with method analog): accurate shot + programming noise, MC over chips")(
      "i-max", po::value(&analog_opt.i_max), "--analog: I_max of every crossbar layer, e.g. 5nA (default: as trained)")(
      "layer-i-max", po::value(&analog_opt.layer_i_max)->composing(),
      "--analog: per-layer I_max NAME=CURRENT (repeatable, e.g. conv1=2nA)")(
      "no-programming-noise", po::bool_switch(&analog_opt.no_programming_noise),
      "--analog: shot noise only (no weight programming noise)")(
      "bn-recalibration", po::value(&analog_opt.bn_data),
      "--analog: re-estimate batch-norm statistics under each chip's noise on this dataset spec")(
      "bn-batches", po::value(&analog_opt.bn_batches), "--analog: recalibration batches (20)")(
      "bn-batch", po::value(&analog_opt.bn_batch), "--analog: recalibration batch size (100)")(
      "batch", po::value(&analog_opt.batch), "--analog: inputs per forward pass (500; results do not depend on it)")(
      "threads", po::value(&threads), "OpenMP threads (0: all)")("output,o", po::value(&out), "write the JSON here")(
      "quiet,q", po::bool_switch(&quiet), "no progress output");
  po::variables_map vm;
  if (parse_options("eval", "--model M.safetensors --data SPEC [--multiplier drum4] [--channel C --p P] [--ci H]", o,
                    args, vm))
    return kOk;
  if (model.empty() || data_spec.empty()) throw_input_error("<command line>", "axsim eval", "--model and --data");
  if (trials < 0 || max_trials < 1 || ci < 0)
    throw_input_error("<command line>", "--trials/--ci", "non-negative values");
  const Dataset data = load_dataset(data_spec);
  if (threads > 0) omp_set_num_threads(threads);
  quant::McOptions mc;
  mc.min_trials = trials > 0 ? trials : 2;
  mc.max_trials = trials > 0 ? trials : max_trials;
  mc.ci_half_width = trials > 0 ? 0.0 : (ci > 0 ? ci : 0.002);
  std::unique_ptr<Progress> bar;
  if (!quiet) bar = std::make_unique<Progress>("eval", std::uint64_t(mc.max_trials), "trial");
  mc.on_trial = [&](const quant::McResult& r) {
    if (bar) bar->update(std::uint64_t(r.trials), fmt::format("acc {:.4f}", r.mean));
  };
  const std::map<std::string, double> layer_rates =
      analog ? std::map<std::string, double>{} : eval_layer_rates(model, layer_p_args, p_from_model);
  nlohmann::json j{{"model", model}, {"data", data_spec}, {"samples", data.size}, {"seed", seed}};
  quant::McResult r;
  if (analog) {
    for (const char* other : {"float", "multiplier", "p", "layer-p", "p-from-model", "p-act", "channel", "act-channel",
                              "draw", "weight-bits", "act-bits", "calibration"})
      if (vm.count(other) && !vm[other].defaulted())
        throw_input_error("<command line>", std::string("--") + other, "no digital-accelerator option with --analog",
                          std::string("--") + other);
    if (analog_opt.bn_batches < 1 || analog_opt.bn_batch < 2 || analog_opt.batch < 1)
      throw_input_error("<command line>", "--bn-batches/--bn-batch/--batch",
                        "bn-batches >= 1, bn-batch >= 2, batch >= 1");
    eval_analog(model, data, analog_opt, seed, mc, j, r);
    if (bar) bar->finish(fmt::format("acc {:.4f}", r.mean));
    j["result"] = mc_result_json(r);
    write_json_result(j, out);
    return kOk;
  }
  for (const char* only_analog :
       {"i-max", "layer-i-max", "no-programming-noise", "bn-recalibration", "bn-batches", "bn-batch", "batch"})
    if (vm.count(only_analog) && !vm[only_analog].defaulted())
      throw_input_error("<command line>", std::string("--") + only_analog, "it together with --analog",
                        "it without --analog");
  if (float_mode) {
    artifact::TrainedModel m = artifact::load_trained_model(model);
    quant::FloatEvaluator ev(*m.network, quant::FloatEvalOptions{m.info.binary_connect});
    quant::FloatFaultInjection f;
    f.seed = seed;
    f.channel = channel;
    f.rate = p;
    f.rates = layer_rates;
    ev.set_faults(f);
    r = quant::monte_carlo(ev, data.features.data(), data.labels.data(), data.size, mc);
    j["mode"] = "float";
  } else {
    quant::QuantizeOptions qo;
    qo.weight_bits = weight_bits;
    qo.activation_bits = act_bits;
    qo.multiplier = parse_multiplier(multiplier, weight_bits > 1 ? weight_bits : 8, "<command line>", "--multiplier");
    // The artifact's stored integers (calibrated on training data at save time) when it has them for
    // these options; otherwise quantized here, calibrated on the evaluated data, with a notice.
    artifact::DeployedNetwork deployed = artifact::load_deployed(model, data, qo, calib);
    if (!deployed.notice.empty()) std::cerr << deployed.notice << "\n";
    j["quantization"] =
        deployed.stored
            ? nlohmann::json("stored in the artifact")
            : nlohmann::json("calibrated at load on the first " +
                             std::to_string(std::min<std::size_t>(data.size, std::size_t(std::max(1, calib)))) +
                             " samples of the evaluated data");
    quant::QuantizedExecutor ex(std::move(deployed.network));
    quant::FaultInjection f;
    f.seed = seed;
    f.weight_channel = channel;
    f.activation_channel = act_channel.empty() ? channel : act_channel;
    f.weight_draw = quant::parse_weight_fault_draw(draw);
    f.weight_rate = p;
    f.weight_rates = layer_rates;
    f.activation_rate = p_act;
    ex.set_faults(f);
    r = quant::monte_carlo(ex, data.features.data(), data.labels.data(), data.size, mc);
    j["mode"] = "quantized";
    j["multiplier"] = multiplier;
    j["weight_bits"] = weight_bits;
    j["activation_bits"] = act_bits;
  }
  if (bar) bar->finish(fmt::format("acc {:.4f}", r.mean));
  j["faults"] = {{"channel", channel}, {"p", p}, {"p_act", p_act}, {"draw", draw}};
  if (!layer_rates.empty()) j["faults"]["layer_p"] = layer_rates;
  j["result"] = mc_result_json(r);
  write_json_result(j, out);
  return kOk;
}

}  // namespace

std::vector<Command> eval_commands() {
  return {{"eval", "evaluate a deploy artifact (float or quantized, faults, DRUM) with Monte Carlo CIs", cmd_eval}};
}

}  // namespace axsim::cli
