// axsim side of the side-by-side harness (bench/harness.sh): the same workloads as
// bench/pytorch/bench_torch.py, same networks, batches, optimizers and thread count, printed as one
// JSON object {"tool": "axsim", "workloads": {name: {value, unit, higher_is_better, ...}}}.
//   axsim_bench_e2e [--json] [--seconds S] [--threads N] [--data DIR] [--only a,b,c]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "workloads/data/load.hpp"
#include "workloads/quant/executor.hpp"
#include "workloads/quant/quantize.hpp"
#include "workloads/nn/loss.hpp"
#include "workloads/nn/network.hpp"
#include "workloads/nn/optimizer.hpp"

using namespace axsim;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  double seconds = 6.0;
  int threads = 2;
  std::string data = "data/mnist";
  std::string only;
};

// Median rate over three windows after one warm-up step (what the PyTorch side does).
nlohmann::json measure(const std::string& unit, double seconds, const std::function<double()>& step) {
  step();
  std::vector<double> rates;
  for (int w = 0; w < 3; ++w) {
    double items = 0;
    const auto t0 = Clock::now();
    double elapsed = 0;
    do {
      items += step();
      elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    } while (elapsed < seconds / 3);
    rates.push_back(items / elapsed);
  }
  std::sort(rates.begin(), rates.end());
  return {{"metric", unit + "_per_s"}, {"unit", unit + "/s"}, {"higher_is_better", true}, {"value", rates[1]},
          {"min", rates[0]},           {"max", rates[2]}};
}

nn::NetworkSpec spec_of(const std::string& yaml, const Dataset& d) {
  return nn::parse_network(ConfigNode::parse(yaml, "bench"), nn::Shape(d.sample_shape.begin(), d.sample_shape.end()),
                           d.num_classes);
}

// One training pass over shuffled mini-batches, as a normal training loop does.
nlohmann::json train_workload(const Dataset& train, const std::string& net_yaml, nn::Optimizer& opt, float lr, int batch,
                              double seconds) {
  nn::Network net(spec_of(net_yaml, train));
  net.initialize(1);
  const auto params = net.parameters();
  opt.bind(params);
  nn::Tensor x, dl;
  nn::Shape shape{batch};
  for (auto d : train.sample_shape) shape.push_back(int(d));
  const std::size_t f = train.feature_count();
  std::vector<std::size_t> order = shuffled_indices(train.size, 1, 0);
  std::size_t cursor = 0;
  std::uint64_t step = 0;
  return measure("samples", seconds, [&]() {
    if (cursor + std::size_t(batch) > train.size) {
      order = shuffled_indices(train.size, 1, step);
      cursor = 0;
    }
    x.resize(shape);
    for (int i = 0; i < batch; ++i) std::copy_n(train.features.data() + order[cursor + i] * f, f, x.data() + std::size_t(i) * f);
    const nn::ForwardContext ctx{true, 1, step++, 0};
    const auto& logits = net.forward(x, ctx);
    nn::softmax_cross_entropy(logits, train.labels.data(), dl);  // labels only shape the gradient here
    net.backward(dl);
    opt.step(params, lr);
    cursor += std::size_t(batch);
    return double(batch);
  });
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "axsim_bench_e2e: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--json") continue;
    if (a == "--seconds") o.seconds = std::stod(next());
    else if (a == "--threads") o.threads = std::stoi(next());
    else if (a == "--data") o.data = next();
    else if (a == "--only") o.only = next();
    else {
      std::fprintf(stderr, "axsim_bench_e2e: unknown option '%s'\n", a.c_str());
      return 2;
    }
  }
  omp_set_num_threads(o.threads);
  auto wanted = [&](const std::string& n) {
    return o.only.empty() || ("," + o.only + ",").find("," + n + ",") != std::string::npos;
  };
  const Dataset train = load_dataset("mnist:" + o.data + ":train");
  const Dataset test = load_dataset("mnist:" + o.data + ":test");
  nlohmann::json w = nlohmann::json::object();
  const std::string mlp = "preset: mlp\nhidden: [128, 128]\n";
  if (wanted("mlp_train")) {
    auto opt = nn::make_sgd({0.9f, 0.0f, 0.0f, false});
    w["mlp_train"] = train_workload(train, mlp, *opt, 0.05f, 128, o.seconds);
  }
  if (wanted("mlp_infer")) {
    nn::Network net(spec_of(mlp, train));
    net.initialize(1);
    nn::Tensor x({1000, 1, 28, 28});
    std::size_t cursor = 0;
    w["mlp_infer"] = measure("samples", o.seconds, [&]() {
      if (cursor + 1000 > test.size) cursor = 0;
      std::copy_n(test.features.data() + cursor * 784, 1000 * 784, x.data());
      net.forward(x, nn::ForwardContext{});
      cursor += 1000;
      return 1000.0;
    });
  }
  if (wanted("lenet_train")) {
    auto opt = nn::make_adam({});
    w["lenet_train"] = train_workload(train, "preset: lenet5\n", *opt, 1e-3f, 64, o.seconds);
  }
  // Quantized workloads on the same (briefly trained is not needed for speed) MLP: int8 inference, DRUM-4
  // inference, and Monte Carlo trials with per-chip bit flips at p = 1e-2 over the full test set.
  if (wanted("mlp_infer_int8") || wanted("drum_infer") || wanted("mc_flip")) {
    nn::Network net(spec_of(mlp, train));
    net.initialize(1);
    const auto codes_net = [&](const char* mult) {
      quant::QuantizeOptions qo;
      qo.multiplier = parse_multiplier(mult, 8);
      return quant::quantize_network(net, train.features.data(), 256, qo);
    };
    std::vector<std::int32_t> logits(1000 * 10), pred(1000);
    auto infer = [&](quant::QuantizedExecutor& ex) {
      std::size_t cursor = 0;
      return measure("samples", o.seconds, [&]() {
        if (cursor + 1000 > test.size) cursor = 0;
        ex.run(test.features.data() + cursor * 784, 1000, cursor, logits.data(), pred.data());
        cursor += 1000;
        return 1000.0;
      });
    };
    if (wanted("mlp_infer_int8")) {
      quant::QuantizedExecutor ex(codes_net("exact"));
      w["mlp_infer_int8"] = infer(ex);
    }
    if (wanted("drum_infer")) {
      quant::QuantizedExecutor ex(codes_net("drum4"));
      w["drum_infer"] = infer(ex);
    }
    if (wanted("mc_flip")) {
      quant::QuantizedExecutor ex(codes_net("exact"));
      quant::FaultInjection f;
      f.seed = 1;
      f.weight_channel = "flip";
      f.weight_rate = 0.01;
      ex.set_faults(f);
      // As quant::monte_carlo does: the inputs quantized and the first layer's fault-free sums computed
      // once per test set (a one-off cost, not per trial); each trial adds its own faults.
      const auto codes = ex.quantize_inputs(test.features.data(), test.size);
      const auto set = ex.prepare_set(codes.data(), test.size);
      std::uint64_t trial = 0;
      w["mc_flip"] = measure("trials", o.seconds, [&]() {
        ex.evaluate_prepared(*set, test.labels.data(), trial++);
        return 1.0;
      });
    }
  }
  nlohmann::json out{{"tool", "axsim"}, {"threads", o.threads}, {"workloads", w}};
  std::cout << out.dump(1) << "\n";
  return 0;
}
