// `axsim sensitivity`: per-layer fault sensitivity of a deployed (quantized) network (LaNMax, Fig. 2).
// Every dense/conv layer in turn gets faults on its stored weights while all other layers stay reliable
// (FaultInjection::weight_rates = {layer: p}, default rate 0); Monte Carlo gives the mean accuracy and
// its 95 % CI per layer, next to the fault-free baseline. It shows which layers can live in low-voltage
// (unreliable) memory and which must stay protected.
//
// --random replaces the layer's weights by random codes: the flip channel at p = 0.5 makes every stored
// bit an independent fair coin whatever its stored value, so each weight word reads a uniformly random
// code of its storage layout (8-bit: one of the 256 codes, -128 included; BinaryConnect: a random sign).
// --float evaluates the trained float network instead (FloatEvaluator): the mode for BinaryConnect
// networks with batch norm (LaNMax's), whose signs cannot be folded into integers; channels flip (on the
// signs) and erasure, and --random draws every sign at random.
// JSON on stdout (or -o FILE, written atomically); a plain table on stderr.
#include <fmt/format.h>
#include <omp.h>

#include <cmath>
#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "models/drum.hpp"
#include "tools/cli/command.hpp"
#include "tools/cli/progress.hpp"
#include "workloads/artifact/deploy.hpp"
#include "workloads/data/load.hpp"
#include "workloads/quant/executor.hpp"
#include "workloads/quant/float_eval.hpp"
#include "workloads/quant/monte_carlo.hpp"

namespace axsim::cli {

namespace {

// Flip at p = 0.5: every stored bit uniformly random, i.e. uniformly random weight codes.
constexpr double kRandomFlipRate = 0.5;

std::string table_row(const std::string& layer, const std::string& weights, const quant::McResult& r, double baseline) {
  const std::string ci = std::isfinite(r.half_width) ? fmt::format("±{:.4f}", r.half_width) : std::string("n/a");
  return fmt::format("{:<16} {:>10} {:>9.4f} {:>9} {:>+9.4f}\n", layer, weights, r.mean, ci, r.mean - baseline);
}

int cmd_sensitivity(const std::vector<std::string>& args) {
  po::options_description o("options");
  std::string model, data_spec, out, multiplier = "exact", channel = "flip";
  double p = 0.05, ci = 0;
  int trials = 0, max_trials = 100, weight_bits = 8, act_bits = 8, calib = 256, threads = 0;
  std::uint64_t seed = 1;
  bool random = false, quiet = false, float_mode = false;
  o.add_options()("model", po::value(&model), "deploy artifact (.safetensors) written by axsim train")(
      "data", po::value(&data_spec), "dataset spec, e.g. mnist:data/mnist:test")(
      "float", po::bool_switch(&float_mode),
      "evaluate the float network (BinaryConnect with batch norm; faults: flip on the signs, erasure)")(
      "channel", po::value(&channel),
      "fault channel on the layer's stored weights: flip | bit_mask | word_mask | "
      "erasure | stuck_at")("p", po::value(&p), "fault rate on the layer's weights (0.05)")(
      "random", po::bool_switch(&random),
      "replace the layer's weights by uniformly random codes (flip at p = 0.5: every stored bit a fair coin)")(
      "trials", po::value(&trials), "exactly this many Monte Carlo trials per layer")(
      "ci", po::value(&ci), "per layer, run trials until the 95% CI half-width is <= H (default 0.002)")(
      "max-trials", po::value(&max_trials), "with --ci: at most this many trials per layer (100)")(
      "seed", po::value(&seed), "random seed (1)")("weight-bits", po::value(&weight_bits),
                                                   "quantized weight width (8)")("act-bits", po::value(&act_bits),
                                                                                 "quantized activation width (8)")(
      "multiplier", po::value(&multiplier), "exact | drum<k> on every product (e.g. drum4)")(
      "calibration", po::value(&calib), "samples used to calibrate activations (256)")(
      "threads", po::value(&threads), "OpenMP threads (0: all)")("output,o", po::value(&out), "write the JSON here")(
      "quiet,q", po::bool_switch(&quiet), "no progress output (the table is still printed)");
  po::variables_map vm;
  if (parse_options("sensitivity",
                    "--model M.safetensors --data SPEC [--channel flip] [--p 0.05] [--trials N | --ci H] [--seed S] "
                    "[--random] [-o FILE]",
                    o, args, vm))
    return kOk;
  if (model.empty() || data_spec.empty())
    throw_input_error("<command line>", "axsim sensitivity", "--model and --data");
  if (trials < 0 || max_trials < 1 || ci < 0)
    throw_input_error("<command line>", "--trials/--ci", "non-negative values");
  if (trials > 0 && vm.count("ci"))
    throw_input_error("<command line>", "--trials/--ci", "one of --trials or --ci", "both");
  if (random && (vm.count("p") || vm.count("channel")))
    throw_input_error("<command line>", "--random", "--random alone (it sets the flip channel at p = 0.5)",
                      "--random with --p or --channel");
  if (random) {
    channel = "flip";
    p = kRandomFlipRate;
  }

  const Dataset data = load_dataset(data_spec);
  if (threads > 0) omp_set_num_threads(threads);
  quant::McOptions mc;
  mc.min_trials = trials > 0 ? trials : 2;
  mc.max_trials = trials > 0 ? trials : max_trials;
  mc.ci_half_width = trials > 0 ? 0.0 : (ci > 0 ? ci : 0.002);

  // The two evaluation modes behind one seam: the weight layers (name, kind, weights) and "accuracy with
  // faults at p on this layer only" (empty name: the reliable baseline).
  struct WeightLayer {
    std::string name, kind;
    std::size_t weights;
  };
  std::vector<WeightLayer> weight_layers;
  std::function<void(const std::string&)> set_faults_on;
  std::function<quant::McResult()> evaluate;
  std::unique_ptr<quant::QuantizedExecutor> ex;
  artifact::TrainedModel trained;
  std::unique_ptr<quant::FloatEvaluator> fev;
  if (float_mode) {
    trained = artifact::load_trained_model(model);
    fev =
        std::make_unique<quant::FloatEvaluator>(*trained.network, quant::FloatEvalOptions{trained.info.binary_connect});
    for (nn::Layer* layer : trained.network->weight_layers())
      for (const nn::Parameter* prm : layer->parameters())
        if (prm->is_weight) weight_layers.push_back({layer->name(), layer->kind(), prm->value.size()});
    set_faults_on = [&](const std::string& layer_name) {
      quant::FloatFaultInjection f;
      f.seed = seed;
      f.channel = channel;
      if (!layer_name.empty()) f.rates[layer_name] = p;
      fev->set_faults(f);
    };
    evaluate = [&] { return quant::monte_carlo(*fev, data.features.data(), data.labels.data(), data.size, mc); };
  } else {
    quant::QuantizeOptions qo;
    qo.weight_bits = weight_bits;
    qo.activation_bits = act_bits;
    qo.multiplier = parse_multiplier(multiplier, weight_bits > 1 ? weight_bits : 8, "<command line>", "--multiplier");
    ex = std::make_unique<quant::QuantizedExecutor>(artifact::load_deployed_network(model, data, qo, calib));
    for (const auto& layer : ex->network().layers)
      if (layer.has_weights())
        weight_layers.push_back({layer.name, layer.kind == QOpKind::conv2d ? "conv2d" : "dense", layer.weights.size()});
    set_faults_on = [&](const std::string& layer_name) {
      quant::FaultInjection f;
      f.seed = seed;
      f.weight_channel = channel;
      f.weight_draw = quant::WeightFaultDraw::per_trial;
      f.weight_rate = 0.0;  // every other layer stays reliable
      if (!layer_name.empty()) f.weight_rates[layer_name] = p;
      ex->set_faults(f);
    };
    evaluate = [&] { return quant::monte_carlo(*ex, data.features.data(), data.labels.data(), data.size, mc); };
  }

  std::unique_ptr<Progress> bar;
  if (!quiet) bar = std::make_unique<Progress>("sensitivity", std::uint64_t(weight_layers.size() + 1), "layer");

  // Validate the channel and rate up front (an unknown channel is an InputError naming the closest one).
  if (!weight_layers.empty()) set_faults_on(weight_layers.front().name);
  set_faults_on("");
  const quant::McResult baseline = evaluate();
  if (bar) bar->update(1, fmt::format("baseline {:.4f}", baseline.mean));

  nlohmann::json layers = nlohmann::json::array();
  std::string table = fmt::format("{:<16} {:>10} {:>9} {:>9} {:>9}\n", "layer", "weights", "accuracy", "ci95", "drop");
  table += table_row("(baseline)", "-", baseline, baseline.mean);
  for (std::size_t i = 0; i < weight_layers.size(); ++i) {
    const WeightLayer& layer = weight_layers[i];
    set_faults_on(layer.name);
    const quant::McResult r = evaluate();
    layers.push_back(
        {{"layer", layer.name}, {"kind", layer.kind}, {"weights", layer.weights}, {"result", mc_result_json(r)}});
    table += table_row(layer.name, std::to_string(layer.weights), r, baseline.mean);
    if (bar) bar->update(i + 2, fmt::format("{} {:.4f}", layer.name, r.mean));
  }
  if (bar) bar->finish();

  nlohmann::json j{{"model", model},
                   {"data", data_spec},
                   {"samples", data.size},
                   {"seed", seed},
                   {"mode", float_mode ? "float" : "quantized"},
                   {"faults", {{"channel", channel}, {"p", p}, {"random", random}, {"draw", "per_trial"}}},
                   {"baseline", mc_result_json(baseline)},
                   {"layers", layers}};
  if (!float_mode) {
    j["multiplier"] = multiplier;
    j["weight_bits"] = weight_bits;
    j["activation_bits"] = act_bits;
  }
  std::cerr << table;
  write_json_result(j, out);
  return kOk;
}

}  // namespace

std::vector<Command> sensitivity_commands() {
  return {{"sensitivity", "per-layer fault sensitivity: faults (or random weights) on one layer at a time",
           cmd_sensitivity}};
}

}  // namespace axsim::cli
