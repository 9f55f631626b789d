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
#include "tools/cli/command.hpp"
#include "tools/cli/progress.hpp"
#include "workloads/artifact/deploy.hpp"
#include "workloads/data/load.hpp"
#include "workloads/quant/executor.hpp"
#include "workloads/quant/float_eval.hpp"
#include "workloads/quant/monte_carlo.hpp"

namespace axsim::cli {

namespace {

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
    const auto eq = a.find('=');
    double v = 0;
    std::size_t used = 0;
    bool ok = eq != std::string::npos && eq > 0;
    if (ok) {
      try {
        v = std::stod(a.substr(eq + 1), &used);
      } catch (const std::exception&) {
        ok = false;
      }
    }
    if (!ok || used != a.size() - eq - 1 || !(v >= 0.0 && v <= 1.0))
      throw_input_error("<command line>", "--layer-p", "NAME=P with P in [0, 1] (e.g. fc1=0.01)", a);
    rates[a.substr(0, eq)] = v;
  }
  return rates;
}

int cmd_eval(const std::vector<std::string>& args) {
  po::options_description o("options");
  std::string model, data_spec, out, multiplier = "exact", channel = "flip", act_channel, draw = "per_trial";
  double p = 0, p_act = 0, ci = 0;
  int trials = 0, max_trials = 100, weight_bits = 8, act_bits = 8, calib = 256, threads = 0;
  std::uint64_t seed = 1;
  bool float_mode = false, quiet = false, p_from_model = false;
  std::vector<std::string> layer_p_args;
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
  const std::map<std::string, double> layer_rates = eval_layer_rates(model, layer_p_args, p_from_model);
  nlohmann::json j{{"model", model}, {"data", data_spec}, {"samples", data.size}, {"seed", seed}};
  quant::McResult r;
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
