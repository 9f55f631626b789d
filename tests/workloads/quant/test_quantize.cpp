// Folding and post-training quantization of float networks, and float evaluation with faults.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"
#include "tests/workloads/quant/quant_test_util.hpp"
#include "workloads/quant/executor.hpp"
#include "workloads/quant/float_eval.hpp"
#include "workloads/quant/quantize.hpp"

namespace axsim::quant {
namespace {

using testing::layer;

nn::NetworkSpec spec(nn::Shape input, int classes, std::vector<nn::LayerSpec> layers) {
  nn::NetworkSpec s;
  s.name = "test";
  s.input = std::move(input);
  s.classes = classes;
  s.layers = std::move(layers);
  return s;
}

// Random inference statistics and affine parameters for every BatchNorm layer.
void randomize_batchnorm(nn::Network& net, std::uint64_t seed) {
  CounterRng rng(seed, 5);
  for (const auto& l : net.layers())
    if (auto* bn = dynamic_cast<nn::BatchNorm*>(l.get()))
      for (int c = 0; c < bn->channels(); ++c) {
        bn->gamma().value[c] = float(0.5 + rng.uniform());
        bn->beta().value[c] = float(rng.uniform() - 0.5);
        bn->running_mean()[c] = float(0.4 * (rng.uniform() - 0.5));
        bn->running_var()[c] = float(0.05 + rng.uniform());
      }
}

std::vector<float> random_inputs(std::size_t n, std::size_t features, std::uint64_t seed) {
  CounterRng rng(seed, 6);
  std::vector<float> x(n * features);
  for (float& v : x) v = float(rng.uniform());
  return x;
}

nn::NetworkSpec conv_bn_spec() {
  return spec({2, 10, 10}, 5,
              {layer("conv2d", "conv1", 4, 3, 1, 1), layer("batchnorm", "bn1"), layer("relu", "relu1"),
               layer("maxpool", "pool1", 0, 2, 2), layer("conv2d", "conv2", 6, 3, 2, 1), layer("batchnorm", "bn2"),
               layer("relu", "relu2"), layer("flatten", "flat"), layer("dense", "fc1", 12), layer("batchnorm", "bn3"),
               layer("relu", "relu3"), layer("dropout", "drop"), layer("dense", "fc2", 5), layer("batchnorm", "bn4")});
}

TEST(FoldNetwork, BatchNormFoldingPreservesFloatOutputs) {
  nn::NetworkSpec s = conv_bn_spec();
  s.layers[12].p = 0.5;  // dropout: identity at inference
  nn::Network net(s);
  net.initialize(3);
  randomize_batchnorm(net, 4);
  const FoldedNetwork folded = fold_network(net);
  ASSERT_EQ(folded.layers.size(), 6u);  // conv1, pool1, conv2, flat, fc1, fc2
  EXPECT_EQ(folded.layers[0].batchnorm, "bn1");
  EXPECT_TRUE(folded.layers[0].relu);
  EXPECT_TRUE(folded.layers.back().is_output);
  EXPECT_FALSE(folded.layers.back().relu);

  const std::size_t n = 16, in = 200;
  const auto x = random_inputs(n, in, 7);
  std::vector<float> folded_logits;
  forward_folded(folded, x.data(), n, folded_logits);
  nn::Tensor input({int(n), 2, 10, 10});
  std::copy(x.begin(), x.end(), input.data());
  const nn::Tensor& expected = net.forward(input, nn::ForwardContext{});
  ASSERT_EQ(folded_logits.size(), expected.size());
  double max_abs = 0.0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(folded_logits[i], expected[i], 1e-5) << i;
    max_abs = std::max(max_abs, double(std::fabs(expected[i])));
  }
  EXPECT_GT(max_abs, 0.1);  // the comparison is not between near-zero outputs
}

TEST(FoldNetwork, UnsupportedLayersAreInputErrorsNamingTheLayer) {
  auto expect_error = [](const nn::NetworkSpec& s, const std::string& name, bool binarize = false) {
    nn::Network net(s);
    FoldOptions o;
    o.binarize_weights = binarize;
    try {
      fold_network(net, o);
      FAIL() << "expected an InputError naming " << name;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("layer " + name), std::string::npos) << e.what();
    }
  };
  nn::LayerSpec block = layer("residual", "block1");
  block.body = {layer("conv2d", "block1.conv", 2, 3, 1, 1), layer("relu", "block1.relu")};
  expect_error(spec({2, 6, 6}, 3, {block, layer("flatten", "f"), layer("dense", "fc", 3)}), "block1");
  expect_error(
      spec({2, 6, 6}, 3,
           {layer("conv2d", "c", 3, 3), layer("relu", "r"), layer("global_avgpool", "gap"), layer("dense", "fc", 3)}),
      "gap");
  expect_error(
      spec({8}, 3, {layer("dense", "fc1", 6), layer("relu", "r"), layer("batchnorm", "bn"), layer("dense", "fc2", 3)}),
      "bn");
  expect_error(spec({8}, 3, {layer("dense", "fc1", 6), layer("dense", "fc2", 3)}), "fc1");  // hidden, no ReLU
  expect_error(
      spec({8}, 3, {layer("dense", "fc1", 6), layer("relu", "r1"), layer("dense", "fc2", 3), layer("relu", "r2")}),
      "fc2");  // ReLU on the logits
  expect_error(
      spec({8}, 3, {layer("dense", "fc1", 6), layer("batchnorm", "bn"), layer("relu", "r"), layer("dense", "fc2", 3)}),
      "fc1", /*binarize=*/true);
}

TEST(FoldNetwork, ReluAfterMaxPoolIsFused) {
  nn::Network net(spec({1, 6, 6}, 2,
                       {layer("conv2d", "c", 2, 3), layer("maxpool", "p", 0, 2, 2), layer("relu", "r"),
                        layer("flatten", "f"), layer("dense", "fc", 2)}));
  net.initialize(1);
  const FoldedNetwork folded = fold_network(net);
  EXPECT_TRUE(folded.layers[0].relu);
  const auto x = random_inputs(4, 36, 2);
  std::vector<float> logits;
  forward_folded(folded, x.data(), 4, logits);
  nn::Tensor input({4, 1, 6, 6});
  std::copy(x.begin(), x.end(), input.data());
  const nn::Tensor& expected = net.forward(input, nn::ForwardContext{});
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(logits[i], expected[i], 1e-5);
}

TEST(QuantizeNetwork, FormatsCoverWeightsAndCalibratedActivations) {
  nn::Network net(conv_bn_spec());
  net.initialize(5);
  randomize_batchnorm(net, 6);
  const FoldedNetwork folded = fold_network(net);
  const auto calibration = random_inputs(64, 200, 8);
  QuantizeOptions o;
  o.multiplier = Multiplier::drum(5, 8);
  o.layer_multipliers["fc2"] = Multiplier::exact(8);
  const QuantizedNetwork q = quantize_folded(folded, calibration.data(), 64, o);
  ASSERT_EQ(q.layers.size(), folded.layers.size());
  EXPECT_EQ(q.input_format, FixedPointFormat::power_of_two(8, 7, false));
  std::vector<double> max_output(folded.layers.size(), 0.0);
  std::vector<float> logits;
  forward_folded(folded, calibration.data(), 64, logits, [&](std::size_t i, const std::vector<float>& v) {
    for (float x : v) max_output[i] = std::max(max_output[i], double(x));
  });
  for (std::size_t i = 0; i < q.layers.size(); ++i) {
    const QLayer& l = q.layers[i];
    const FoldedLayer& f = folded.layers[i];
    if (!l.has_weights()) continue;
    EXPECT_EQ(l.multiplier, l.name == "fc2" ? Multiplier::exact(8) : Multiplier::drum(5, 8));
    const double step = l.weight_format.step();
    for (std::size_t j = 0; j < f.weights.size(); ++j)
      ASSERT_LE(std::fabs(l.weight_format.dequantize(l.weights[j]) - f.weights[j]), step / 2 + 1e-12) << l.name;
    // Finest step that covers max|w|: one more fractional bit would saturate.
    double max_abs = 0;
    for (float w : f.weights) max_abs = std::max(max_abs, double(std::fabs(w)));
    EXPECT_GE(l.weight_format.max_value(), max_abs);
    EXPECT_LT(l.weight_format.max_value() / 2, max_abs);
    if (!l.is_output) {
      EXPECT_GE(l.output_format.max_value(), max_output[i]) << l.name;
      EXPECT_LT(l.output_format.max_value() / 2, max_output[i]) << l.name;
      EXPECT_FALSE(l.output_format.is_signed);
    }
  }
  // A lower quantile narrows (never widens) the activation ranges.
  o.activation_quantile = 0.9;
  const QuantizedNetwork narrow = quantize_folded(folded, calibration.data(), 64, o);
  bool any_narrower = false;
  for (std::size_t i = 0; i + 1 < q.layers.size(); ++i)
    if (q.layers[i].has_weights()) {
      EXPECT_GE(narrow.layers[i].output_format.frac_bits, q.layers[i].output_format.frac_bits);
      any_narrower |= narrow.layers[i].output_format.frac_bits > q.layers[i].output_format.frac_bits;
    }
  EXPECT_TRUE(any_narrower);
}

TEST(QuantizeNetwork, BadOptionsAreInputErrors) {
  nn::Network net(spec({8}, 3, {layer("dense", "fc1", 6), layer("relu", "r"), layer("dense", "fc2", 3)}));
  net.initialize(1);
  const auto x = random_inputs(4, 8, 1);
  QuantizeOptions o;
  o.layer_multipliers["fc3"] = Multiplier::drum(4, 8);
  EXPECT_THROW(quantize_network(net, x.data(), 4, o), InputError);
  o = {};
  o.weight_bits = 9;
  EXPECT_THROW(quantize_network(net, x.data(), 4, o), InputError);
  o = {};
  o.activation_bits = 10;
  EXPECT_THROW(quantize_network(net, x.data(), 4, o), InputError);
  o = {};
  EXPECT_THROW(quantize_network(net, x.data(), 0, o), InputError);
}

// Fraction of inputs on which the quantized and the float network predict the same class.
double agreement(const QuantizedNetwork& q, const testing::ToyData& test, const std::vector<int>& float_predictions) {
  QuantizedExecutor executor(q);
  std::vector<std::int32_t> predictions(test.n);
  executor.run(test.x.data(), test.n, 0, nullptr, predictions.data());
  std::size_t same = 0;
  for (std::size_t i = 0; i < test.n; ++i) same += predictions[i] == float_predictions[i] ? 1 : 0;
  return double(same) / double(test.n);
}

double accuracy(const std::vector<int>& predictions, const testing::ToyData& d) {
  std::size_t correct = 0;
  for (std::size_t i = 0; i < d.n; ++i) correct += predictions[i] == d.y[i] ? 1 : 0;
  return double(correct) / double(d.n);
}

TEST(QuantizeNetwork, TrainedMlpWithBatchNormAgreesWithFloat) {
  const auto train_set = testing::make_blobs(2000, 20, 4, 1);
  const auto test_set = testing::make_blobs(500, 20, 4, 2);
  nn::Network net(spec({20}, 4,
                       {layer("dense", "fc1", 32), layer("batchnorm", "bn1"), layer("relu", "r1"),
                        layer("dense", "fc2", 16), layer("relu", "r2"), layer("dense", "fc3", 4)}));
  net.initialize(11);
  testing::train(net, train_set, 300, 0.05f, 12);
  const auto float_predictions = testing::float_predictions(net, test_set);
  ASSERT_GT(accuracy(float_predictions, test_set), 0.9);  // the toy problem was learned
  const QuantizedNetwork q = quantize_network(net, train_set.x.data(), 256);
  EXPECT_GE(agreement(q, test_set, float_predictions), 0.9);
  QuantizeOptions drum;
  drum.multiplier = Multiplier::drum(6, 8);
  EXPECT_GE(agreement(quantize_network(net, train_set.x.data(), 256, drum), test_set, float_predictions), 0.9);
}

TEST(QuantizeNetwork, TrainedLeNetLikeAgreesWithFloat) {
  const auto train_set = testing::make_bars(1500, 12, 4, 3);
  const auto test_set = testing::make_bars(400, 12, 4, 4);
  nn::Network net(spec({1, 12, 12}, 4,
                       {layer("conv2d", "conv1", 4, 3, 1, 1), layer("relu", "r1"), layer("maxpool", "pool1", 0, 2, 2),
                        layer("conv2d", "conv2", 8, 3, 1, 0), layer("batchnorm", "bn2"), layer("relu", "r2"),
                        layer("avgpool", "pool2", 0, 2, 2), layer("flatten", "flat"), layer("dense", "fc1", 16),
                        layer("relu", "r3"), layer("dense", "fc2", 4)}));
  net.initialize(21);
  testing::train(net, train_set, 250, 0.05f, 22);
  const auto float_predictions = testing::float_predictions(net, test_set);
  ASSERT_GT(accuracy(float_predictions, test_set), 0.9);
  const QuantizedNetwork q = quantize_network(net, train_set.x.data(), 256);
  EXPECT_GE(agreement(q, test_set, float_predictions), 0.9);
}

TEST(QuantizeNetwork, BinaryConnectWeightsMatchTheFloatBinaryNetwork) {
  const auto train_set = testing::make_blobs(2000, 20, 4, 5);
  const auto test_set = testing::make_blobs(400, 20, 4, 6);
  nn::Network net(spec({20}, 4, {layer("dense", "fc1", 64), layer("relu", "r1"), layer("dense", "fc2", 4)}));
  net.initialize(31);
  testing::train(net, train_set, 200, 0.05f, 32);
  QuantizeOptions o;
  o.weight_bits = 1;
  const QuantizedNetwork q = quantize_network(net, train_set.x.data(), 256, o);
  for (const QLayer& l : q.layers) {
    EXPECT_TRUE(l.binary_weights);
    EXPECT_EQ(l.weight_layout(), kBinaryWeightLayout);
    for (std::size_t j = 0; j < l.weights.size(); ++j) ASSERT_TRUE(l.weights[j] == 1 || l.weights[j] == -1);
  }
  EXPECT_EQ(q.layers[0].weights[0], binarize(dynamic_cast<nn::Dense*>(net.find("fc1"))->weight().value[0]));
  FloatEvalOptions binary;
  binary.binary_weights = true;
  FloatEvaluator evaluator(net, binary);
  std::vector<std::int32_t> float_binary(test_set.n);
  evaluator.predict(test_set.x.data(), test_set.n, 0, 0, float_binary.data());
  EXPECT_GE(agreement(q, test_set, std::vector<int>(float_binary.begin(), float_binary.end())), 0.9);
}

TEST(FloatEvaluator, FaultFreeMatchesTheNetworkAndRestoresItsWeights) {
  const auto data = testing::make_blobs(300, 20, 4, 7);
  nn::Network net(spec({20}, 4, {layer("dense", "fc1", 16), layer("relu", "r1"), layer("dense", "fc2", 4)}));
  net.initialize(41);
  FloatEvaluator evaluator(net, {false, 64});
  std::vector<std::int32_t> predictions(data.n);
  evaluator.predict(data.x.data(), data.n, 0, 0, predictions.data());
  const auto expected = testing::float_predictions(net, data);
  EXPECT_EQ(std::vector<int>(predictions.begin(), predictions.end()), expected);
  for (nn::Parameter* p : net.parameters()) EXPECT_FALSE(p->use_forward_value);
}

TEST(FloatEvaluator, BinaryConnectSignFlipsAtRateP) {
  const auto data = testing::make_blobs(200, 20, 4, 8);
  nn::Network net(spec({20}, 4, {layer("dense", "fc1", 200), layer("relu", "r1"), layer("dense", "fc2", 4)}));
  net.initialize(51);
  FloatEvaluator evaluator(net, {true, 64});
  FloatFaultInjection faults;
  faults.rate = 0.1;
  faults.rates["fc2"] = 0.0;
  evaluator.set_faults(faults);
  EXPECT_TRUE(evaluator.has_fault_source());
  const EvalResult r = evaluator.evaluate(data.x.data(), data.y.data(), data.n, 0);
  EXPECT_EQ(r.weight_faults.words_read, 4000u);  // fc1 only has a nonzero rate
  const double sigma = std::sqrt(4000 * 0.1 * 0.9);
  EXPECT_NEAR(double(r.weight_faults.words_changed), 400.0, 5 * sigma);
  // Reproducible per trial; per_inference gives every input fresh flips and is batch independent.
  EXPECT_EQ(evaluator.evaluate(data.x.data(), data.y.data(), data.n, 0).correct, r.correct);
  faults.draw = WeightFaultDraw::per_inference;
  evaluator.set_faults(faults);
  std::vector<std::int32_t> all(data.n), split(data.n);
  evaluator.predict(data.x.data(), data.n, 0, 2, all.data());
  evaluator.predict(data.x.data(), 50, 0, 2, split.data());
  evaluator.predict(data.x.data() + 50 * 20, data.n - 50, 50, 2, split.data() + 50);
  EXPECT_EQ(all, split);
  // flip needs BinaryConnect weights; unknown channels and layers are named.
  FloatEvaluator real(net, {false, 64});
  FloatFaultInjection flip;
  flip.rate = 0.01;
  EXPECT_THROW(real.set_faults(flip), InputError);
  flip.channel = "erasure";
  EXPECT_NO_THROW(real.set_faults(flip));
  flip.channel = "stuck_at";
  EXPECT_THROW(real.set_faults(flip), InputError);
  flip.channel = "erasure";
  flip.rates["fc9"] = 0.1;
  EXPECT_THROW(real.set_faults(flip), InputError);
}

}  // namespace
}  // namespace axsim::quant
