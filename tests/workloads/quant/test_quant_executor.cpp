// QuantizedExecutor == the naive scalar reference of models/quantized_network.hpp, bit for bit.
#include <gtest/gtest.h>

#include <set>

#include "core/error.hpp"
#include "tests/workloads/quant/quant_test_util.hpp"
#include "workloads/quant/executor.hpp"

namespace axsim::quant {
namespace {

using testing::LayerPlan;
using testing::random_codes;
using testing::random_network;
using testing::reference_logits;

// Runs `inputs` inputs through the executor (batch `batch`) and the reference; expects equal logits.
// Returns the number of distinct logit vectors (a degenerate network maps every input to the same one).
std::size_t expect_matches_reference(const QuantizedNetwork& net, std::size_t inputs, std::uint64_t seed,
                                     int batch = 7) {
  ExecutorOptions options;
  options.batch = batch;
  QuantizedExecutor executor(net, options);
  const std::size_t in = executor.input_size();
  const auto codes = random_codes(inputs * in, net.input_format.max_code(), seed);
  std::vector<std::int32_t> logits(inputs * std::size_t(net.classes)), predictions(inputs);
  executor.run_codes(codes.data(), inputs, 0, logits.data(), predictions.data());
  std::set<std::vector<std::int32_t>> distinct_logits;
  for (std::size_t i = 0; i < inputs; ++i) {
    const auto expected =
        reference_logits(net, std::vector<std::uint8_t>(codes.begin() + std::ptrdiff_t(i * in),
                                                        codes.begin() + std::ptrdiff_t((i + 1) * in)));
    const std::vector<std::int32_t> got(logits.begin() + std::ptrdiff_t(i * net.classes),
                                        logits.begin() + std::ptrdiff_t((i + 1) * net.classes));
    EXPECT_EQ(got, expected) << "input " << i << ", multiplier " << net.layers.back().multiplier.name();
    const auto best = std::max_element(expected.begin(), expected.end()) - expected.begin();  // first maximum
    EXPECT_EQ(predictions[i], best);
    distinct_logits.insert(expected);
  }
  return distinct_logits.size();
}

std::vector<Multiplier> multipliers() {
  std::vector<Multiplier> m{Multiplier::exact(8)};
  for (int k = 3; k <= 8; ++k) m.push_back(Multiplier::drum(k, 8));
  return m;
}

TEST(QuantizedExecutor, DenseMatchesReferenceExactAndDrum) {
  for (const Multiplier& m : multipliers()) {
    const auto net = random_network({{QOpKind::dense, 40}, {QOpKind::dense, 24}, {QOpKind::dense, 10}}, 64, 1, 1, m,
                                    11 + std::uint64_t(m.k));
    EXPECT_GT(expect_matches_reference(net, 40, 5), 20u);  // the inputs exercise the network
  }
}

TEST(QuantizedExecutor, ConvPoolFlattenMatchesReference) {
  for (const Multiplier& m : multipliers()) {
    const std::vector<LayerPlan> plan{{QOpKind::conv2d, 5, 3, 2, 1},  // stride 2, padding 1
                                      {QOpKind::maxpool, 0, 2, 2},
                                      {QOpKind::conv2d, 6, 3, 1, 1},
                                      {QOpKind::avgpool, 0, 2, 1},  // overlapping windows
                                      {QOpKind::flatten},
                                      {QOpKind::dense, 12},
                                      {QOpKind::dense, 7}};
    const auto net = random_network(plan, 2, 15, 13, m, 21 + std::uint64_t(m.k));
    EXPECT_GT(expect_matches_reference(net, 30, 6, 4), 15u);
  }
}

TEST(QuantizedExecutor, ConvOutputLayerAndNineBitActivations) {
  // The last layer is a conv (logits in NCHW order); 9-bit activations use codes up to 255.
  const auto net =
      random_network({{QOpKind::conv2d, 3, 3, 1, 0}, {QOpKind::maxpool, 0, 2, 2}, {QOpKind::conv2d, 2, 2, 1, 1}}, 1, 9,
                     9, Multiplier::drum(4, 8), 31, /*activation_bits=*/9);
  ASSERT_EQ(net.input_format.max_code(), 255);
  EXPECT_GT(expect_matches_reference(net, 25, 7, 3), 12u);
}

TEST(QuantizedExecutor, RandomSmallNetworksMatchReference) {
  CounterRng rng(2024, 1);
  int varied = 0;  // networks whose logits differ between inputs
  for (int trial = 0; trial < 25; ++trial) {
    std::vector<LayerPlan> plan;
    const bool conv = rng.below(3) != 0;
    int size = testing::random_int(rng, 5, 12);
    if (conv) {
      const int layers = testing::random_int(rng, 1, 2);
      for (int i = 0; i < layers && size >= 3; ++i) {
        const int kernel = testing::random_int(rng, 1, 3), stride = testing::random_int(rng, 1, 2);
        const int padding = testing::random_int(rng, 0, kernel / 2 + 1);
        plan.push_back({QOpKind::conv2d, testing::random_int(rng, 1, 6), kernel, stride, padding});
        size = (size + 2 * padding - kernel) / stride + 1;
        if (size >= 2 && rng.below(2)) {
          plan.push_back({rng.below(2) ? QOpKind::maxpool : QOpKind::avgpool, 0, 2, testing::random_int(rng, 1, 2)});
          size = (size - 2) / plan.back().stride + 1;
        }
      }
      plan.push_back({QOpKind::flatten});
    }
    const int hidden = testing::random_int(rng, 0, 2);
    for (int i = 0; i < hidden; ++i) plan.push_back({QOpKind::dense, testing::random_int(rng, 1, 30)});
    plan.push_back({QOpKind::dense, testing::random_int(rng, 2, 10)});
    const int k = testing::random_int(rng, 2, 9);
    const Multiplier m = k == 9 ? Multiplier::exact(8) : Multiplier::drum(k, 8);
    const int weight_bits = testing::random_int(rng, 3, 8);
    const int in_c = testing::random_int(rng, 1, 3);
    const auto net = conv ? random_network(plan, in_c, 12, 12, m, 100 + trial, 8, weight_bits)
                          : random_network(plan, testing::random_int(rng, 1, 50), 1, 1, m, 100 + trial, 8, weight_bits);
    SCOPED_TRACE("random network " + std::to_string(trial) + " with " + m.name());
    varied += expect_matches_reference(net, 12, 200 + trial, testing::random_int(rng, 1, 12)) > 1 ? 1 : 0;
  }
  EXPECT_GE(varied, 15);
}

TEST(QuantizedExecutor, BinaryWeightLayer) {
  auto net = random_network({{QOpKind::dense, 20}, {QOpKind::dense, 5}}, 30, 1, 1, Multiplier::drum(3, 8), 41);
  for (QLayer& l : net.layers) {
    l.binary_weights = true;
    l.weight_format = FixedPointFormat::power_of_two(2, 0, true);
    for (auto& w : l.weights) w = w >= 0 ? 1 : -1;
  }
  net.layers[0].output_format.frac_bits = net.layers[0].weight_format.frac_bits + net.input_format.frac_bits - 3;
  net.layers[1].input_format = net.layers[0].output_format;
  EXPECT_GT(expect_matches_reference(net, 30, 8), 15u);
}

TEST(QuantizedExecutor, FloatInputsAreQuantizedWithTheInputFormat) {
  const auto net = random_network({{QOpKind::dense, 8}, {QOpKind::dense, 4}}, 10, 1, 1, Multiplier::exact(8), 51);
  QuantizedExecutor executor(net);
  std::vector<float> x(10);
  std::vector<std::uint8_t> codes(10);
  for (int i = 0; i < 10; ++i) {
    x[std::size_t(i)] = float(i) / 9.0f;
    codes[std::size_t(i)] = std::uint8_t(net.input_format.quantize(x[std::size_t(i)]));
  }
  std::vector<std::int32_t> from_float(4), from_codes(4);
  executor.run(x.data(), 1, 0, from_float.data(), nullptr);
  executor.run_codes(codes.data(), 1, 0, from_codes.data(), nullptr);
  EXPECT_EQ(from_float, from_codes);
  EXPECT_EQ(codes.back(), 127);  // 1.0 saturates to 127/128 in u8f7
}

TEST(QuantizedExecutor, TiesGoToTheLowestIndex) {
  auto net = random_network({{QOpKind::dense, 6}}, 5, 1, 1, Multiplier::exact(8), 61);
  std::fill(net.layers[0].weights.begin(), net.layers[0].weights.end(), 0);
  net.layers[0].bias = {3, 9, 1, 9, 9, -2};
  QuantizedExecutor executor(net);
  const std::vector<std::uint8_t> codes(5, 100);
  std::int32_t prediction = -1;
  executor.run_codes(codes.data(), 1, 0, nullptr, &prediction);
  EXPECT_EQ(prediction, 1);
}

TEST(QuantizedExecutor, RejectsInvalidNetworksWithTheLayerName) {
  auto net = random_network({{QOpKind::dense, 6}, {QOpKind::dense, 3}}, 5, 1, 1, Multiplier::exact(8), 71);
  auto bad = net;
  bad.layers[1].in_c = 7;
  try {
    QuantizedExecutor executor(bad);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("layer1"), std::string::npos) << e.what();
  }
  bad = net;
  bad.layers[0].weights[2] = -128;  // not a symmetric code
  EXPECT_THROW(QuantizedExecutor{bad}, InputError);
  bad = net;
  bad.layers[0].bias[0] = std::numeric_limits<std::int32_t>::max();  // accumulator could overflow
  EXPECT_THROW(QuantizedExecutor{bad}, InputError);
  bad = net;
  bad.layers[1].input_format = FixedPointFormat::power_of_two(8, 3, false);  // does not chain
  EXPECT_THROW(QuantizedExecutor{bad}, InputError);
  bad = net;
  bad.layers[1].is_output = false;
  EXPECT_THROW(QuantizedExecutor{bad}, InputError);
  const std::vector<std::uint8_t> too_large(5, 200);  // u8f7 codes end at 127
  QuantizedExecutor executor(net);
  EXPECT_THROW(executor.run_codes(too_large.data(), 1, 0, nullptr, nullptr), InputError);
}

}  // namespace
}  // namespace axsim::quant

namespace axsim::quant {
namespace {

TEST(RequantizeBatch, EqualsTheScalarDefinition) {
  CounterRng rng(8, 8);
  std::vector<std::int32_t> acc(4000);
  for (std::size_t i = 0; i < acc.size(); ++i) {
    const int magnitude_bits = int(rng.below(32));  // values of every size, both signs
    acc[i] =
        std::int32_t(std::int64_t(rng.next_u64() >> (64 - magnitude_bits - 1)) - (std::int64_t(1) << magnitude_bits));
  }
  acc[0] = std::numeric_limits<std::int32_t>::max();
  acc[1] = std::numeric_limits<std::int32_t>::min();
  acc[2] = 0;
  acc[3] = -1;
  acc[4] = 1 << 9;  // exact halves
  acc[5] = -(1 << 9);
  for (const FixedPointFormat& format :
       {FixedPointFormat::power_of_two(8, 5, false), FixedPointFormat::power_of_two(9, 0, false),
        FixedPointFormat::power_of_two(3, 2, false)})
    for (int shift : {-5, -1, 0, 1, 2, 7, 10, 16, 30, 31, 32, 40})
      for (bool relu : {false, true}) {
        std::vector<std::uint8_t> codes(acc.size());
        requantize_batch(acc, shift, format, relu, codes);
        for (std::size_t i = 0; i < acc.size(); ++i)
          ASSERT_EQ(codes[i], requantize(acc[i], shift, format, relu))
              << "acc " << acc[i] << " shift " << shift << " " << format.to_string();
      }
  std::vector<std::uint8_t> wrong_size(3);
  EXPECT_THROW(requantize_batch(acc, 3, FixedPointFormat::power_of_two(8, 5, false), true, wrong_size),
               std::invalid_argument);
}

}  // namespace
}  // namespace axsim::quant
