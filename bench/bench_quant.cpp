// Quantized inference and Monte Carlo fault-injection throughput on an MNIST-sized MLP
// (784-128-128-10, random weights and inputs: the cost does not depend on the values).
//   BM_Int8Inference/<multiplier>   samples/s of QuantizedExecutor::run, batch 1000 (exact, DRUM k=4)
//   BM_McTrial                      one Monte Carlo trial: 10k inputs, flip p=1e-2 per_trial on 8-bit weights
//   BM_McTrialPerInference/<p>      one trial with fresh weight faults for every input (sparse corrections), 1k inputs
#include <benchmark/benchmark.h>

#include <vector>

#include "core/rng.hpp"
#include "workloads/nn/network.hpp"
#include "workloads/quant/executor.hpp"
#include "workloads/quant/quantize.hpp"

namespace {

using namespace axsim;

std::vector<float> random_features(std::size_t n, std::uint64_t seed) {
  CounterRng rng(seed, 1);
  std::vector<float> x(n * 784);
  for (float& v : x) v = float(rng.uniform());
  return x;
}

QuantizedNetwork mnist_mlp(const Multiplier& multiplier) {
  nn::NetworkSpec spec;
  spec.name = "mlp";
  spec.input = {784};
  spec.classes = 10;
  for (auto [name, out] : {std::pair{"fc1", 128}, {"fc2", 128}, {"fc3", 10}}) {
    nn::LayerSpec l;
    l.type = "dense";
    l.name = name;
    l.out = out;
    spec.layers.push_back(l);
    if (out != 10) {
      nn::LayerSpec r;
      r.type = "relu";
      r.name = std::string("relu_") + name;
      spec.layers.push_back(r);
    }
  }
  nn::Network net(spec);
  net.initialize(1);
  const auto calibration = random_features(256, 2);
  quant::QuantizeOptions o;
  o.multiplier = multiplier;
  return quant::quantize_network(net, calibration.data(), 256, o);
}

void BM_Int8Inference(benchmark::State& state) {
  const Multiplier m = state.range(0) == 0 ? Multiplier::exact(8) : Multiplier::drum(int(state.range(0)), 8);
  quant::ExecutorOptions options;
  options.batch = 1000;
  quant::QuantizedExecutor executor(mnist_mlp(m), options);
  const std::size_t n = 1000;
  const auto x = random_features(n, 3);
  std::vector<std::int32_t> predictions(n);
  for (auto _ : state) {
    executor.run(x.data(), n, 0, nullptr, predictions.data());
    benchmark::DoNotOptimize(predictions.data());
  }
  state.SetItemsProcessed(state.iterations() * std::int64_t(n));
  state.SetLabel(m.name());
}
BENCHMARK(BM_Int8Inference)->Arg(0)->Arg(4)->Unit(benchmark::kMillisecond)->UseRealTime();

void run_trials(benchmark::State& state, quant::WeightFaultDraw draw, double p, std::size_t n) {
  quant::ExecutorOptions options;
  options.batch = 1000;
  quant::QuantizedExecutor executor(mnist_mlp(Multiplier::exact(8)), options);
  const auto x = random_features(n, 4);
  std::vector<std::int32_t> labels(n);
  executor.run(x.data(), n, 0, nullptr, labels.data());  // fault-free predictions as labels
  quant::FaultInjection faults;
  faults.weight_draw = draw;
  faults.weight_rate = p;
  executor.set_faults(faults);
  std::uint64_t trial = 0;
  double accuracy = 0;
  const auto codes = executor.quantize_inputs(x.data(), n);  // as monte_carlo() does: once per test set
  for (auto _ : state) accuracy += executor.evaluate_codes(codes.data(), labels.data(), n, trial++).accuracy();
  state.SetItemsProcessed(state.iterations());
  state.counters["accuracy_vs_clean"] = accuracy / double(state.iterations());
  state.counters["inputs/s"] = benchmark::Counter(double(state.iterations()) * double(n), benchmark::Counter::kIsRate);
}

void BM_McTrial(benchmark::State& state) { run_trials(state, quant::WeightFaultDraw::per_trial, 1e-2, 10000); }
BENCHMARK(BM_McTrial)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_McTrialPerInference(benchmark::State& state) {
  run_trials(state, quant::WeightFaultDraw::per_inference, 1.0 / double(state.range(0)), 1000);
}
BENCHMARK(BM_McTrialPerInference)->Arg(1000)->Arg(100)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
