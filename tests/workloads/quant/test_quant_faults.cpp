// Fault injection of the quantized executor: measured rates, layouts, reproducibility, and the sparse
// correction paths against the naive reference fed with the same fault draws.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>

#include "core/error.hpp"
#include "tests/workloads/quant/quant_test_util.hpp"
#include "workloads/quant/executor.hpp"

namespace axsim::quant {
namespace {

using testing::LayerPlan;
using testing::random_codes;
using testing::random_network;
using testing::reference_logits;

// |observed - expected| within 5 standard deviations of a binomial(trials, p) count.
void expect_binomial(std::uint64_t observed, std::uint64_t trials, double p) {
  const double mean = double(trials) * p, sigma = std::sqrt(double(trials) * p * (1.0 - p));
  EXPECT_LE(std::fabs(double(observed) - mean), 5.0 * sigma + 1.0)
      << observed << " events in " << trials << " trials, expected " << mean << " (p = " << p << ")";
}

QuantizedNetwork big_dense(Multiplier m = Multiplier::exact(8)) {
  return random_network({{QOpKind::dense, 256}, {QOpKind::dense, 10}}, 400, 1, 1, m, 3);
}

std::uint64_t flipped_bits(std::span<const std::int8_t> a, std::span<const std::int8_t> b) {
  std::uint64_t count = 0;
  for (std::size_t i = 0; i < a.size(); ++i) count += std::popcount(std::uint8_t(a[i] ^ b[i]));
  return count;
}

TEST(QuantFaults, PerTrialFlipRateMatchesP) {
  const auto net = big_dense();
  QuantizedExecutor executor(net);
  FaultInjection faults;
  faults.seed = 9;
  faults.weight_rate = 0.01;
  faults.weight_rates["layer1"] = 0.1;
  executor.set_faults(faults);
  std::uint64_t flips0 = 0, flips1 = 0;
  const int trials = 4;
  std::vector<std::int8_t> first_trial;
  for (int t = 0; t < trials; ++t) {
    executor.begin_trial(std::uint64_t(t));
    flips0 += flipped_bits(executor.stored_weights(0), net.layers[0].weights);
    flips1 += flipped_bits(executor.stored_weights(1), net.layers[1].weights);
    if (t == 0) first_trial.assign(executor.stored_weights(0).begin(), executor.stored_weights(0).end());
    if (t == 1) {
      EXPECT_NE(first_trial,
                std::vector<std::int8_t>(executor.stored_weights(0).begin(), executor.stored_weights(0).end()));
    }
  }
  expect_binomial(flips0, net.layers[0].weights.size() * 8 * trials, 0.01);
  expect_binomial(flips1, net.layers[1].weights.size() * 8 * trials, 0.1);
  // A trial is a chip instance: the same trial draws the same faults again.
  executor.begin_trial(0);
  EXPECT_EQ(first_trial,
            std::vector<std::int8_t>(executor.stored_weights(0).begin(), executor.stored_weights(0).end()));
}

TEST(QuantFaults, ErasureAndBinaryWeightRates) {
  auto net = big_dense();
  QuantizedExecutor executor(net);
  FaultInjection faults;
  faults.weight_channel = "erasure";
  faults.weight_rate = 0.05;
  executor.set_faults(faults);
  executor.begin_trial(3);
  std::uint64_t erased = 0, nonzero = 0;
  for (std::size_t i = 0; i < net.layers[0].weights.size(); ++i) {
    if (net.layers[0].weights[i] == 0) continue;
    ++nonzero;
    erased += executor.stored_weights(0)[i] == 0 ? 1 : 0;
  }
  expect_binomial(erased, nonzero, 0.05);

  // BinaryConnect: one stored bit per weight, a fault flips the sign.
  for (QLayer& l : net.layers) {
    l.binary_weights = true;
    l.weight_format = FixedPointFormat::power_of_two(2, 0, true);
    for (auto& w : l.weights) w = w >= 0 ? 1 : -1;
  }
  net.layers[0].output_format.frac_bits = net.input_format.frac_bits - 4;
  net.layers[1].input_format = net.layers[0].output_format;
  QuantizedExecutor binary(net);
  FaultInjection flips;
  flips.weight_rate = 0.2;
  binary.set_faults(flips);
  binary.begin_trial(1);
  std::uint64_t changed = 0;
  for (std::size_t i = 0; i < net.layers[0].weights.size(); ++i) {
    const int w = binary.stored_weights(0)[i];
    ASSERT_TRUE(w == 1 || w == -1);
    changed += w != net.layers[0].weights[i] ? 1 : 0;
  }
  expect_binomial(changed, net.layers[0].weights.size(), 0.2);
}

TEST(QuantFaults, PerInferenceFlipRateMatchesP) {
  const auto net = big_dense();
  QuantizedExecutor executor(net);
  FaultInjection faults;
  faults.weight_draw = WeightFaultDraw::per_inference;
  faults.weight_rate = 0.003;
  executor.set_faults(faults);
  std::uint64_t flips = 0;
  const int inferences = 50;
  for (int i = 0; i < inferences; ++i)
    for (const WeightFault& f : executor.inference_weight_faults(0, std::uint64_t(i))) {
      EXPECT_NE(f.code, net.layers[0].weights[f.index]);
      flips += std::popcount(std::uint8_t(f.code ^ net.layers[0].weights[f.index]));
    }
  expect_binomial(flips, net.layers[0].weights.size() * 8 * inferences, 0.003);
  // The stored weights themselves stay fault-free in this mode.
  EXPECT_EQ(flipped_bits(executor.stored_weights(0), net.layers[0].weights), 0u);
}

// The sparse per-inference draw reads exactly what the channel makes of a full copy of the weights with
// the documented stream (so it is the models/ channel, only cheaper).
TEST(QuantFaults, PerInferenceDrawEqualsTheChannelOnAFullCopy) {
  auto net = big_dense(Multiplier::drum(4, 8));
  auto binary = net;
  for (QLayer& l : binary.layers) {
    l.binary_weights = true;
    l.weight_format = FixedPointFormat::power_of_two(2, 0, true);
    for (auto& w : l.weights) w = w >= 0 ? 1 : -1;
  }
  binary.layers[0].output_format.frac_bits = binary.input_format.frac_bits - 4;
  binary.layers[1].input_format = binary.layers[0].output_format;
  for (const auto* network : {&net, &binary}) {
    for (std::string_view channel_name : fault_channel_names()) {
      QuantizedExecutor executor(*network);
      FaultInjection faults;
      faults.seed = 31;
      faults.weight_channel = std::string(channel_name);
      faults.weight_draw = WeightFaultDraw::per_inference;
      faults.weight_rate = 0.02;
      executor.set_faults(faults);
      executor.begin_trial(5);
      const auto channel = make_fault_channel(channel_name);
      for (std::size_t layer = 0; layer < 2; ++layer)
        for (std::uint64_t inference : {0ull, 17ull}) {
          std::vector<std::int8_t> dense = network->layers[layer].weights;
          CounterRng rng(31, stream_id({kWeightInferenceStream, 5, layer, inference}));
          channel->apply(std::span<std::int8_t>(dense), network->layers[layer].weight_layout(), 0.02, rng);
          std::vector<std::int8_t> sparse = network->layers[layer].weights;
          const auto faults_read = executor.inference_weight_faults(layer, inference);
          for (const WeightFault& f : faults_read) sparse[f.index] = f.code;
          ASSERT_EQ(sparse, dense) << channel_name << " layer " << layer << " inference " << inference;
          EXPECT_GT(faults_read.size(), 0u);
        }
    }
  }
}

TEST(QuantFaults, ActivationSignBitsNeverFault) {
  const auto net = big_dense();
  QuantizedExecutor executor(net);
  for (const char* channel : {"flip", "stuck_at", "bit_mask"}) {
    FaultInjection faults;
    faults.activation_channel = channel;
    faults.activation_rate = 0.5;
    executor.set_faults(faults);
    std::vector<std::uint64_t> flips_per_bit(8, 0);
    const std::size_t n = 4000;
    for (std::uint64_t inference = 0; inference < 5; ++inference) {
      auto codes = random_codes(n, 127, inference);
      const auto before = codes;
      executor.apply_activation_faults(0, inference, codes);
      for (std::size_t i = 0; i < n; ++i) {
        ASSERT_LE(codes[i], 127) << channel << ": the absent sign bit of an unsigned code faulted";
        for (int b = 0; b < 8; ++b) flips_per_bit[std::size_t(b)] += ((codes[i] ^ before[i]) >> b) & 1u;
      }
    }
    EXPECT_EQ(flips_per_bit[7], 0u);
    if (std::string(channel) == "flip")
      for (int b = 0; b < 7; ++b) expect_binomial(flips_per_bit[std::size_t(b)], 5 * n, 0.5);
  }
  // 9-bit unsigned activations store 8 bits: bit 7 is a value bit and does fault.
  const auto wide = random_network({{QOpKind::dense, 4}}, 4000, 1, 1, Multiplier::exact(8), 4, 9);
  QuantizedExecutor wide_executor(wide);
  FaultInjection faults;
  faults.activation_rate = 0.5;
  wide_executor.set_faults(faults);
  auto codes = random_codes(4000, 255, 1);
  const auto before = codes;
  wide_executor.apply_activation_faults(0, 0, codes);
  std::uint64_t top_flips = 0;
  for (std::size_t i = 0; i < codes.size(); ++i) top_flips += ((codes[i] ^ before[i]) >> 7) & 1u;
  expect_binomial(top_flips, codes.size(), 0.5);
}

// Runs the executor with faults and the reference with the executor's own fault draws.
void expect_faulty_run_matches_reference(const QuantizedNetwork& net, const FaultInjection& faults, std::uint64_t trial,
                                         std::size_t inputs, int batch) {
  ExecutorOptions options;
  options.batch = batch;
  QuantizedExecutor executor(net, options);
  executor.set_faults(faults);
  executor.begin_trial(trial);
  const std::size_t in = executor.input_size();
  const auto codes = random_codes(inputs * in, net.input_format.max_code(), trial + 17);
  std::vector<std::int32_t> logits(inputs * std::size_t(net.classes));
  const std::uint64_t first = 1000;  // indices need not start at 0
  executor.run_codes(codes.data(), inputs, first, logits.data(), nullptr);
  for (std::size_t i = 0; i < inputs; ++i) {
    testing::ReferenceHooks hooks;
    hooks.weights = [&](std::size_t layer) {
      const auto stored = executor.stored_weights(layer);
      std::vector<std::int8_t> w(stored.begin(), stored.end());
      for (const WeightFault& f : executor.inference_weight_faults(layer, first + i)) w[f.index] = f.code;
      return w;
    };
    hooks.activations = [&](std::size_t layer, std::span<std::uint8_t> a) {
      executor.apply_activation_faults(layer, first + i, a);
    };
    const auto expected = reference_logits(
        net,
        std::vector<std::uint8_t>(codes.begin() + std::ptrdiff_t(i * in), codes.begin() + std::ptrdiff_t((i + 1) * in)),
        hooks);
    ASSERT_EQ(std::vector<std::int32_t>(logits.begin() + std::ptrdiff_t(i * net.classes),
                                        logits.begin() + std::ptrdiff_t((i + 1) * net.classes)),
              expected)
        << "input " << i;
  }
}

QuantizedNetwork small_conv_net(Multiplier m) {
  const std::vector<LayerPlan> plan{{QOpKind::conv2d, 4, 3, 1, 1}, {QOpKind::maxpool, 0, 2, 2},
                                    {QOpKind::conv2d, 5, 3, 2, 0}, {QOpKind::flatten},
                                    {QOpKind::dense, 16},          {QOpKind::dense, 6}};
  return random_network(plan, 2, 10, 10, m, 8);
}

TEST(QuantFaults, PerTrialFaultsMatchReference) {
  for (const char* channel : {"flip", "bit_mask", "stuck_at", "erasure", "word_mask"}) {
    FaultInjection faults;
    faults.seed = 5;
    faults.weight_channel = channel;
    faults.activation_channel = channel;
    faults.weight_rate = 0.02;
    faults.activation_rate = 0.01;
    SCOPED_TRACE(channel);
    expect_faulty_run_matches_reference(small_conv_net(Multiplier::drum(4, 8)), faults, 2, 20, 6);
  }
}

TEST(QuantFaults, PerInferenceSparseCorrectionsMatchReference) {
  for (const Multiplier& m : {Multiplier::exact(8), Multiplier::drum(3, 8), Multiplier::drum(6, 8)}) {
    FaultInjection faults;
    faults.seed = 6;
    faults.weight_draw = WeightFaultDraw::per_inference;
    faults.weight_rate = 0.01;
    faults.activation_rate = 0.005;
    SCOPED_TRACE(m.name());
    expect_faulty_run_matches_reference(small_conv_net(m), faults, 1, 20, 7);
    expect_faulty_run_matches_reference(big_dense(m), faults, 4, 10, 3);
  }
}

TEST(QuantFaults, FaultyMinus128WithDrumNeedsNineBitsAndStaysExact) {
  // Many -127 codes: flipping their LSB reads -128, whose DRUM transform (k = 2: -192) does not fit int8.
  auto net = random_network({{QOpKind::dense, 30}, {QOpKind::dense, 5}}, 40, 1, 1, Multiplier::drum(2, 8), 12);
  for (std::size_t i = 0; i < net.layers[0].weights.size(); i += 2) net.layers[0].weights[i] = -127;
  FaultInjection faults;
  faults.weight_rate = 0.05;
  QuantizedExecutor probe(net);
  probe.set_faults(faults);
  probe.begin_trial(0);
  const auto stored = probe.stored_weights(0);
  EXPECT_GT(std::count(stored.begin(), stored.end(), std::int8_t(-128)), 0);
  expect_faulty_run_matches_reference(net, faults, 0, 20, 8);
  faults.weight_draw = WeightFaultDraw::per_inference;
  expect_faulty_run_matches_reference(net, faults, 0, 20, 8);
}

// Full evaluation with every kind of fault, for a given thread count and batch size.
std::vector<std::int32_t> faulty_logits(const QuantizedNetwork& net, WeightFaultDraw draw, int threads, int batch,
                                        std::size_t inputs) {
  ExecutorOptions options;
  options.threads = threads;
  options.batch = batch;
  QuantizedExecutor executor(net, options);
  FaultInjection faults;
  faults.seed = 77;
  faults.weight_draw = draw;
  faults.weight_rate = 0.01;
  faults.activation_rate = 0.01;
  executor.set_faults(faults);
  executor.begin_trial(3);
  const auto codes = random_codes(inputs * executor.input_size(), 127, 42);
  std::vector<std::int32_t> logits(inputs * std::size_t(net.classes));
  executor.run_codes(codes.data(), inputs, 0, logits.data(), nullptr);
  return logits;
}

TEST(QuantFaults, ResultsDoNotDependOnThreadsOrBatchSize) {
  for (WeightFaultDraw draw : {WeightFaultDraw::per_trial, WeightFaultDraw::per_inference}) {
    for (const auto& net : {small_conv_net(Multiplier::drum(5, 8)), big_dense()}) {
      const auto reference = faulty_logits(net, draw, 1, 100, 100);
      EXPECT_EQ(faulty_logits(net, draw, 2, 100, 100), reference) << to_string(draw) << ": 1 vs 2 threads";
      EXPECT_EQ(faulty_logits(net, draw, 2, 1, 100), reference) << to_string(draw) << ": batch 100 vs 1";
      EXPECT_EQ(faulty_logits(net, draw, 1, 33, 100), reference) << to_string(draw) << ": batch 100 vs 33";
    }
  }
}

TEST(QuantFaults, EvaluateIsReproduciblePerTrialAndCountsFaults) {
  const auto net = big_dense();
  QuantizedExecutor executor(net);
  const std::size_t n = 300;
  std::vector<float> x(n * executor.input_size());
  CounterRng rng(1, 2);
  for (float& v : x) v = float(rng.uniform());
  std::vector<std::int32_t> labels(n);
  std::vector<std::int32_t> clean(n);
  executor.run(x.data(), n, 0, nullptr, clean.data());
  labels = clean;  // accuracy 1 without faults
  EXPECT_EQ(executor.evaluate(x.data(), labels.data(), n, 0).accuracy(), 1.0);
  EXPECT_FALSE(executor.has_fault_source());

  FaultInjection faults;
  faults.weight_rate = 0.05;
  faults.activation_rate = 0.02;
  executor.set_faults(faults);
  EXPECT_TRUE(executor.has_fault_source());
  const EvalResult a = executor.evaluate(x.data(), labels.data(), n, 7);
  const EvalResult b = executor.evaluate(x.data(), labels.data(), n, 8);
  executor.set_faults(faults);
  const EvalResult a_again = executor.evaluate(x.data(), labels.data(), n, 7);
  EXPECT_EQ(a.correct, a_again.correct);
  EXPECT_LT(a.accuracy(), 1.0);
  EXPECT_NE(a.correct, b.correct);  // different chips (could tie by chance; these seeds do not)
  const std::uint64_t weight_words = net.layers[0].weights.size() + net.layers[1].weights.size();
  EXPECT_EQ(a.weight_faults.words_read, weight_words);
  expect_binomial(a.weight_faults.faulty_bits, weight_words * 8, 0.05);
  EXPECT_EQ(a.activation_faults.words_read, n * (400 + 256));
  expect_binomial(a.activation_faults.faulty_bits, n * (400 + 256) * 7, 0.02);

  // Back to fault-free: the clean weights are restored.
  executor.set_faults({});
  EXPECT_EQ(executor.evaluate(x.data(), labels.data(), n, 7).accuracy(), 1.0);
}

TEST(QuantFaults, BadFaultSettingsAreInputErrors) {
  QuantizedExecutor executor(big_dense());
  FaultInjection faults;
  faults.weight_channel = "flipp";
  EXPECT_THROW(executor.set_faults(faults), InputError);
  faults = {};
  faults.weight_rates["layr0"] = 0.1;
  try {
    executor.set_faults(faults);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("layer0"), std::string::npos) << e.what();  // closest name
  }
  faults = {};
  faults.weight_rate = 0.7;  // bit-error rates end at 0.5
  EXPECT_THROW(executor.set_faults(faults), InputError);
  faults.weight_channel = "erasure";  // erasure accepts up to 1
  EXPECT_NO_THROW(executor.set_faults(faults));
  EXPECT_THROW(parse_weight_fault_draw("per_chip"), InputError);
  EXPECT_EQ(parse_weight_fault_draw("per_inference"), WeightFaultDraw::per_inference);
}

}  // namespace
}  // namespace axsim::quant
