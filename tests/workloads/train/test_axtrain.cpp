// AxTrain: the R-operator Hessian-vector product against finite differences of the backprop gradient,
// the sensitivity S(w) against a brute-force per-weight finite-difference computation, the gradient of
// S against finite differences of S, the gamma rule, and AxTrain-pas's hardware forward weights.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "core/rng.hpp"
#include "models/drum.hpp"
#include "models/fixed_point.hpp"
#include "tests/workloads/train/method_test_util.hpp"
#include "workloads/nn/rop.hpp"
#include "workloads/train/methods/axtrain.hpp"

namespace axsim::train::test {
namespace {

nn::LayerSpec layer(const std::string& type, const std::string& name, int out = 0, int kernel = 0, int stride = 0,
                    int padding = 0) {
  nn::LayerSpec s;
  s.type = type;
  s.name = name;
  s.out = out;
  s.kernel = kernel;
  s.stride = stride;
  s.padding = padding;
  return s;
}

std::unique_ptr<nn::Network> tiny_mlp() {
  nn::NetworkSpec spec{"tiny_mlp",
                       {6},
                       3,
                       {layer("dense", "fc1", 5), layer("relu", "r1"), layer("dense", "fc2", 4), layer("relu", "r2"),
                        layer("dense", "fc3", 3)}};
  auto net = std::make_unique<nn::Network>(spec);
  net->initialize(11);
  return net;
}

// Every layer type of LeNet-5: conv (with padding), relu, max and average pooling, flatten, dense.
std::unique_ptr<nn::Network> tiny_convnet() {
  nn::NetworkSpec spec{"tiny_cnn",
                       {1, 6, 6},
                       3,
                       {layer("conv2d", "c1", 2, 3, 1, 1), layer("relu", "r1"), layer("maxpool", "p1", 0, 2, 2),
                        layer("conv2d", "c2", 3, 2, 1, 0), layer("relu", "r2"), layer("avgpool", "p2", 0, 2, 2),
                        layer("flatten", "f"), layer("dense", "fc", 4), layer("relu", "r3"), layer("dense", "out", 3)}};
  auto net = std::make_unique<nn::Network>(spec);
  net->initialize(5);
  return net;
}

nn::Tensor random_input(const nn::Shape& sample, int n, std::uint64_t seed) {
  nn::Shape s{n};
  s.insert(s.end(), sample.begin(), sample.end());
  nn::Tensor x(s);
  CounterRng rng(seed, 1);
  for (auto& v : x.vec()) v = float(rng.uniform());
  return x;
}

// One sample's input tensor.
nn::Tensor sample_of(const nn::Tensor& x, int n) {
  nn::Shape s = x.shape();
  s[0] = 1;
  nn::Tensor one(s);
  std::copy_n(x.data() + std::size_t(n) * x.sample_size(), x.sample_size(), one.data());
  return one;
}

double output(nn::Network& net, const nn::Tensor& x1, int k) {
  return net.forward(x1, nn::ForwardContext{})[std::size_t(k)];
}

// dO_k/dparam by backprop, per parameter, as doubles.
std::vector<std::vector<double>> output_gradient(nn::Network& net, const nn::Tensor& x1, int k) {
  const nn::Tensor& y = net.forward(x1, nn::ForwardContext{});
  nn::Tensor d(y.shape());
  d[std::size_t(k)] = 1.0f;
  net.backward(d);
  std::vector<std::vector<double>> g;
  for (nn::Parameter* p : net.parameters()) g.emplace_back(p->grad.vec().begin(), p->grad.vec().end());
  return g;
}

double max_abs(const std::vector<std::vector<double>>& t) {
  double m = 0;
  for (const auto& v : t)
    for (double x : v) m = std::max(m, std::fabs(x));
  return m;
}

// H_k v = d/dr grad O_k(w + r v) at r = 0 with v = |w| sign(dO_k/dw) on weights, 0 on biases:
// central differences of the backprop gradient against the R-operator.
void check_hvp(nn::Network& net, const nn::Tensor& x, int n, int k) {
  const nn::Tensor x1 = sample_of(x, n);
  const auto params = net.parameters();
  const auto g0 = output_gradient(net, x1, k);
  std::vector<std::vector<double>> v(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    v[i].assign(params[i]->value.size(), 0.0);
    if (!params[i]->is_weight) continue;
    for (std::size_t j = 0; j < v[i].size(); ++j)
      v[i][j] = std::fabs(params[i]->value[j]) * double((g0[i][j] > 0) - (g0[i][j] < 0));
  }
  const double eps = 1e-3;
  auto shifted_gradient = [&](double r) {
    std::vector<std::vector<float>> saved;
    for (std::size_t i = 0; i < params.size(); ++i) {
      saved.push_back(params[i]->value.vec());
      for (std::size_t j = 0; j < v[i].size(); ++j) params[i]->value[j] += float(r * v[i][j]);
    }
    auto g = output_gradient(net, x1, k);
    for (std::size_t i = 0; i < params.size(); ++i) params[i]->value.vec() = saved[i];
    return g;
  };
  const auto gp = shifted_gradient(eps), gm = shifted_gradient(-eps);
  std::vector<std::vector<double>> fd(params.size());
  for (std::size_t i = 0; i < params.size(); ++i)
    for (std::size_t j = 0; j < gp[i].size(); ++j) fd[i].push_back((gp[i][j] - gm[i][j]) / (2 * eps));

  nn::SensitivityEngine engine(net);
  nn::SensitivityGradient grad;
  const nn::OutputPick pick{n, k};
  engine.compute(x, std::span<const nn::OutputPick>(&pick, 1), &grad);
  const double scale = max_abs(fd);
  ASSERT_GT(scale, 1e-3) << "degenerate test network: no curvature";
  for (std::size_t i = 0; i < params.size(); ++i)
    for (std::size_t j = 0; j < fd[i].size(); ++j)
      EXPECT_NEAR(grad.hvp[i][j], fd[i][j], 2e-3 * scale + 1e-4)
          << params[i]->name << "[" << j << "], sample " << n << ", output " << k;
  // The first term is sign(w) |dO_k/dw| from backprop.
  for (std::size_t i = 0; i < params.size(); ++i)
    for (std::size_t j = 0; j < g0[i].size(); ++j) {
      const double expect = params[i]->is_weight
                                ? double((params[i]->value[j] > 0) - (params[i]->value[j] < 0)) * std::fabs(g0[i][j])
                                : 0.0;
      EXPECT_NEAR(grad.first[i][j], expect, 1e-5 + 1e-4 * std::fabs(expect)) << params[i]->name << "[" << j << "]";
    }
}

// S(w) for one sample by brute force: dO_k/dw_j from central differences of the output, weight by weight.
double brute_force_sensitivity(nn::Network& net, const nn::Tensor& x, int n) {
  const nn::Tensor x1 = sample_of(x, n);
  const int classes = net.spec().classes;
  double s = 0;
  const double eps = 1e-3;
  for (nn::Parameter* p : net.parameters()) {
    if (!p->is_weight) continue;
    for (std::size_t j = 0; j < p->value.size(); ++j) {
      const float w = p->value[j];
      for (int k = 0; k < classes; ++k) {
        p->value[j] = w + float(eps);
        const double up = output(net, x1, k);
        p->value[j] = w - float(eps);
        const double down = output(net, x1, k);
        p->value[j] = w;
        s += std::fabs(w) * std::fabs((up - down) / (2 * eps));
      }
    }
  }
  return s;
}

std::vector<nn::OutputPick> all_outputs(int samples, int classes) {
  std::vector<nn::OutputPick> p;
  for (int n = 0; n < samples; ++n)
    for (int k = 0; k < classes; ++k) p.push_back({n, k});
  return p;
}

TEST(AxTrainRop, HvpMatchesFiniteDifferencesMlp) {
  auto net = tiny_mlp();
  const nn::Tensor x = random_input({6}, 3, 7);
  for (int n = 0; n < 3; ++n)
    for (int k = 0; k < 3; ++k) check_hvp(*net, x, n, k);
}

TEST(AxTrainRop, HvpMatchesFiniteDifferencesConvNet) {
  auto net = tiny_convnet();
  const nn::Tensor x = random_input({1, 6, 6}, 2, 9);
  for (int n = 0; n < 2; ++n)
    for (int k = 0; k < 3; ++k) check_hvp(*net, x, n, k);
}

TEST(AxTrainRop, SensitivityMatchesBruteForce) {
  for (int which = 0; which < 2; ++which) {
    auto net = which == 0 ? tiny_mlp() : tiny_convnet();
    const nn::Tensor x = which == 0 ? random_input({6}, 2, 3) : random_input({1, 6, 6}, 2, 4);
    nn::SensitivityEngine engine(*net);
    const auto picks = all_outputs(2, 3);
    const double s = engine.compute(x, picks, nullptr);
    const double brute = brute_force_sensitivity(*net, x, 0) + brute_force_sensitivity(*net, x, 1);
    ASSERT_GT(brute, 0.0);
    EXPECT_NEAR(s, brute, 2e-3 * brute) << net->spec().name;
  }
}

// dS/dw (first term + H v) against central differences of S along a random direction.
TEST(AxTrainRop, SensitivityGradientMatchesFiniteDifferences) {
  for (int which = 0; which < 2; ++which) {
    auto net = which == 0 ? tiny_mlp() : tiny_convnet();
    const nn::Tensor x = which == 0 ? random_input({6}, 2, 13) : random_input({1, 6, 6}, 2, 14);
    nn::SensitivityEngine engine(*net);
    const auto picks = all_outputs(2, 3);
    nn::SensitivityGradient grad;
    engine.compute(x, picks, &grad);
    const auto params = net->parameters();
    CounterRng rng(21, 2);
    std::vector<std::vector<float>> dir(params.size()), saved(params.size());
    double predicted = 0;
    for (std::size_t i = 0; i < params.size(); ++i) {
      saved[i] = params[i]->value.vec();
      for (std::size_t j = 0; j < params[i]->value.size(); ++j) {
        dir[i].push_back(float(rng.normal()));
        predicted += double(dir[i][j]) * (grad.first[i][j] + grad.hvp[i][j]);
      }
    }
    auto s_at = [&](double r) {
      for (std::size_t i = 0; i < params.size(); ++i)
        for (std::size_t j = 0; j < dir[i].size(); ++j) params[i]->value[j] = saved[i][j] + float(r * dir[i][j]);
      const double s = engine.compute(x, picks, nullptr);
      for (std::size_t i = 0; i < params.size(); ++i) params[i]->value.vec() = saved[i];
      return s;
    };
    const double eps = 1e-3;
    const double fd = (s_at(eps) - s_at(-eps)) / (2 * eps);
    EXPECT_NEAR(predicted, fd, 1e-2 * std::fabs(fd) + 1e-3) << net->spec().name;
    // And the HVP term matters: dropping it would not match.
    double first_only = 0;
    for (std::size_t i = 0; i < params.size(); ++i)
      for (std::size_t j = 0; j < dir[i].size(); ++j) first_only += double(dir[i][j]) * grad.first[i][j];
    EXPECT_GT(std::fabs(first_only - fd), 5e-2 * std::fabs(fd)) << net->spec().name;
  }
}

TEST(AxTrainRop, RejectsUnsupportedLayers) {
  nn::NetworkSpec spec{"bn", {6}, 3, {layer("dense", "fc1", 4), layer("batchnorm", "bn1"), layer("dense", "fc2", 3)}};
  nn::Network net(spec);
  EXPECT_THROW(nn::SensitivityEngine{net}, InputError);
}

TEST(AxTrainGamma, UpWhenBelowWeightedHistoryOrBoundElseDown) {
  PreferenceFactor g(/*initial=*/1.0, /*delta=*/0.25, /*max=*/1.5, /*error_bound=*/0.05);
  EXPECT_EQ(g.update(1.0), 0);  // first epoch: history only
  EXPECT_DOUBLE_EQ(g.value(), 1.0);
  EXPECT_DOUBLE_EQ(g.weighted_history(), 0.5);
  EXPECT_EQ(g.update(0.4), +1);  // 0.4 < 0.5 * 1.0
  EXPECT_DOUBLE_EQ(g.value(), 1.25);
  EXPECT_DOUBLE_EQ(g.weighted_history(), 0.5 * 0.4 + 0.25 * 1.0);
  EXPECT_EQ(g.update(0.4), +1);  // 0.4 < 0.5 * 0.4 + 0.25 * 1.0 = 0.45
}

TEST(AxTrainGamma, RuleSequence) {
  PreferenceFactor g(1.0, 0.25, 1.5, 0.05);
  g.update(1.0);                 // history 0.5
  EXPECT_EQ(g.update(0.6), -1);  // 0.6 > 0.5 -> down to 0.75; history 0.3 + 0.25 = 0.55
  EXPECT_DOUBLE_EQ(g.value(), 0.75);
  EXPECT_EQ(g.update(0.5), +1);   // 0.5 < 0.55 -> up to 1.0
  EXPECT_EQ(g.update(0.04), +1);  // below the bound -> up to 1.25
  EXPECT_EQ(g.update(0.04), +1);  // -> clamped at max 1.5
  EXPECT_EQ(g.update(0.04), +1);
  EXPECT_DOUBLE_EQ(g.value(), 1.5);
  PreferenceFactor low(0.1, 0.25, 1.0, 0.0);
  low.update(1.0);
  low.update(2.0);  // down, clamped at 0
  EXPECT_DOUBLE_EQ(low.value(), 0.0);
}

// AxTrain-pas: forward weights are dequantize(D_k(flip(quantize(w)))) through models/, with p from the
// technology's curve; without faults exactly the DRUM transform of the fixed-point codes.
TEST(AxTrainPas, ForwardWeightsAreDrumTransformedFixedPointCodes) {
  auto net = make_mlp("[32]", 16, 4);
  auto method = method_from("{type: axtrain_pas, pas: {multiplier: drum2, weight_bits: 8}}");
  method->attach(*net);
  BatchContext ctx;
  ctx.seed = 1;
  method->before_batch(*net, ctx);
  for (std::size_t l = 0; l < 2; ++l) {
    nn::Parameter& w = weight(*net, l);
    ASSERT_TRUE(w.use_forward_value);
    float m = 0;
    for (float v : w.value.vec()) m = std::max(m, std::fabs(v));
    const auto fmt = FixedPointFormat::covering(m, 8, true);
    for (std::size_t j = 0; j < w.value.size(); ++j) {
      const double expect = fmt.dequantize(drum_transform_signed(fmt.quantize(w.value[j]), 2));
      ASSERT_FLOAT_EQ(w.forward_value[j], float(expect)) << l << "," << j;
    }
  }
  // Straight-through with eq. 12: large weight gradients are dropped, then the real weights return.
  nn::Parameter& w0 = weight(*net, 0);
  w0.grad.resize(w0.value.shape());
  w0.grad.zero();
  w0.grad[0] = 2.0f;
  w0.grad[1] = 0.5f;
  ctx.inputs = nullptr;
  method->after_backward(*net, ctx, 0.0);
  EXPECT_EQ(w0.grad[0], 0.0f);
  EXPECT_EQ(w0.grad[1], 0.5f);
  EXPECT_FALSE(w0.use_forward_value);
}

TEST(AxTrainPas, VoltageGivesTheCurvesFlipRate) {
  const std::string tech = std::string(AXSIM_SOURCE_DIR) + "/configs/tech/default-65nm.yaml";
  auto net = make_mlp("[64]", 64, 10);
  auto method = method_from("{type: axtrain_pas, pas: {voltage: 0.66V, technology: " + tech + "}}");
  method->attach(*net);
  const auto hw = method->hardware_assignment(*net);
  EXPECT_NEAR(hw["fc1"]["p"].get<double>(), 0.01, 1e-9);
  EXPECT_NEAR(hw["fc1"]["voltage"].get<double>(), 0.66, 1e-12);
  // Flips happen at about that rate: compare to the fault-free codes.
  BatchContext ctx;
  ctx.seed = 3;
  method->before_batch(*net, ctx);
  nn::Parameter& w = weight(*net, 0);
  float m = 0;
  for (float v : w.value.vec()) m = std::max(m, std::fabs(v));
  const auto fmt = FixedPointFormat::covering(m, 8, true);
  std::uint64_t changed = 0;
  for (std::size_t j = 0; j < w.value.size(); ++j)
    changed += fmt.quantize(w.forward_value[j]) != fmt.quantize(w.value[j]);
  // P(word changed) = 1 - (1 - p)^8 for 8 stored bits.
  expect_binomial(changed, w.value.size(), 1 - std::pow(0.99, 8), "changed words");
}

// The fused operand pass (one loop, float or double) against the models' batch functions in turn:
// quantize -> drum_transform_batch -> dequantize, bit for bit, codes included; ties, saturation, NaN,
// negative and subnormal inputs, signed/unsigned, power-of-two and explicit steps.
TEST(AxTrainPas, FusedOperandPassEqualsTheModelsBatchFunctions) {
  CounterRng rng(7, 1);
  std::vector<float> x(3000);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float((rng.uniform() * 2.0 - 1.0) * 1.3);
  for (std::size_t i = 0; i < 200; ++i) x[i] = float(int(i) - 100) / 64.0f;  // exact ties at step 2^-7
  x[200] = std::nanf("");
  x[201] = 1e-42f;  // subnormal
  x[202] = -0.0f;
  x[203] = 50.0f;  // saturates
  for (const FixedPointFormat& format :
       {FixedPointFormat::covering(1.0, 8, true), FixedPointFormat::covering(1.0, 8, false),
        FixedPointFormat::covering(0.01, 6, true), FixedPointFormat::covering(3.0, 16, true),
        FixedPointFormat::power_of_two(8, 200, true), FixedPointFormat::with_step(8, 0.013, true),
        FixedPointFormat::covering(2.0, 9, true), FixedPointFormat::covering(2.0, 9, false),  // widest 8-bit-code path
        FixedPointFormat::covering(2.0, 10, true)}) {
    for (const Multiplier& m :
         {Multiplier::exact(format.bits), Multiplier::drum(2, format.bits), Multiplier::drum(4, format.bits)}) {
      std::vector<std::int32_t> codes(x.size()), transformed(x.size());
      quantize(format, std::span<const float>(x), std::span<std::int32_t>(codes));
      transformed = codes;
      if (!m.is_exact()) drum_transform_batch(std::span<std::int32_t>(transformed), m.transform_k());
      std::vector<float> expect(x.size()), got(x.size(), -7.0f);
      dequantize(format, std::span<const std::int32_t>(transformed), std::span<float>(expect));
      std::vector<std::int16_t> got_codes(x.size());
      quantize_transform_dequantize(format, m, x, got, got_codes);
      for (std::size_t i = 0; i < x.size(); ++i) {
        ASSERT_EQ(std::memcmp(&got[i], &expect[i], sizeof(float)), 0)
            << format.to_string() << " " << m.name() << " x=" << x[i] << ": " << got[i] << " vs " << expect[i];
        ASSERT_EQ(got_codes[i], codes[i]) << format.to_string() << " x=" << x[i];
      }
    }
  }
  std::vector<float> y(5);
  EXPECT_THROW(quantize_transform_dequantize(FixedPointFormat::covering(1.0, 8, true), Multiplier::exact(), x, y),
               std::invalid_argument);
}

// A pas training forward of a one-layer network equals the integer DRUM dot product of the hardware
// codes: acc = sum_i Ds(w_code) Ds(a_code), logits = acc * step_w * step_a + bias.
TEST(AxTrainPas, TrainingForwardIsTheIntegerDrumProduct) {
  auto net = make_mlp("[]", 24, 5);
  auto method = method_from("{type: axtrain_pas, pas: {multiplier: drum3, weight_bits: 8, act_bits: 8}}");
  method->attach(*net);
  nn::Tensor x = random_input({24}, 6, 21);
  for (float& v : x.vec()) v = std::fabs(v);  // unsigned activations, as after ReLU or raw pixels
  BatchContext ctx;
  ctx.seed = 2;
  method->before_batch(*net, ctx);
  const nn::Tensor logits = net->forward(x, nn::ForwardContext{true, 2, 0, 0});
  nn::Parameter& w = weight(*net, 0);
  float wmax = 0, xmax = 0;
  for (float v : w.value.vec()) wmax = std::max(wmax, std::fabs(v));
  for (float v : x.vec()) xmax = std::max(xmax, v);
  const auto wf = FixedPointFormat::covering(wmax, 8, true), xf = FixedPointFormat::covering(xmax, 8, false);
  const nn::Parameter* bias = nullptr;
  for (nn::Parameter* p : net->weight_layers()[0]->parameters())
    if (!p->is_weight) bias = p;
  ASSERT_NE(bias, nullptr);
  for (int n = 0; n < 6; ++n)
    for (int o = 0; o < 5; ++o) {
      std::int64_t acc = 0;
      for (int i = 0; i < 24; ++i)
        acc += drum_multiply(wf.quantize(w.value[std::size_t(o * 24 + i)]), xf.quantize(x[std::size_t(n * 24 + i)]), 3);
      const double expect = double(acc) * wf.step() * xf.step() + bias->value[std::size_t(o)];
      EXPECT_NEAR(logits[std::size_t(n * 5 + o)], expect, 1e-5 * (1 + std::fabs(expect))) << n << "," << o;
    }
  // Evaluation passes compute in float on the real weights once the batch is over.
  method->after_backward(*net, ctx, 0.0);
  const nn::Tensor eval = net->forward(x, nn::ForwardContext{false, 2, 0, 0});
  double exact0 = bias->value[0];
  for (int i = 0; i < 24; ++i) exact0 += double(w.value[std::size_t(i)]) * x[std::size_t(i)];
  EXPECT_NEAR(eval[0], exact0, 1e-5);
}

TEST(AxTrainConfig, ErrorsNameTheKey) {
  EXPECT_NE(input_error_of([] { method_from("{type: axtrain, act: {gamma: -1}}"); }).find("gamma"), std::string::npos);
  EXPECT_NE(input_error_of([] { method_from("{type: axtrain_pas, pas: {multiplier: 'drum:2'}}"); }).find("drum2"),
            std::string::npos);
  EXPECT_NE(input_error_of([] { method_from("{type: axtrain_act, act: {gamm: 1}}"); }).find("gamma"),
            std::string::npos);
}

}  // namespace
}  // namespace axsim::train::test
