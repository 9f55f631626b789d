// Analog-noise training (Klachko 2019): the injected noise has the model's variance (eqs. 1 and 4,
// recomputed here from the paper's formulas), the learned clipping threshold's gradient matches finite
// differences, thresholds start away from 0, the threshold penalty's gradient is right, and the Monte
// Carlo evaluation restores the network it perturbs.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "core/rng.hpp"
#include "method_test_util.hpp"
#include "workloads/nn/analog.hpp"
#include "workloads/nn/layers.hpp"
#include "workloads/train/methods/analog_eval.hpp"
#include "workloads/train/methods/analog_noise.hpp"

namespace axsim::train::test {
namespace {

constexpr double kTwoQB0 = 2 * 1.602e-19 * 250e6 * 1e9;  // nA

void fill_uniform(std::vector<float>& v, std::uint64_t stream, float lo, float hi) {
  CounterRng rng(7, stream);
  for (float& x : v) x = lo + (hi - lo) * float(rng.uniform());
}

// Runs tap -> layer -> noise `steps` times on x and returns, per output element of one sample, the
// sample mean and variance of (noisy - clean) over batch rows and steps (all rows hold the same sample).
struct Moments {
  std::vector<double> mean, var;
  int count = 0;
};
Moments noise_moments(nn::Layer& layer, nn::AnalogInputTap& tap, nn::AnalogNoise& noise, const nn::Tensor& x,
                      int steps) {
  nn::Tensor tx, y, clean, noisy;
  nn::ForwardContext eval{false, 11, 0, 0};
  tap.forward(x, tx, eval);
  layer.forward(tx, y, eval);
  clean = y;
  const std::size_t per = y.sample_size();
  Moments m;
  m.mean.assign(per, 0.0);
  m.var.assign(per, 0.0);
  std::vector<double> sq(per, 0.0);
  for (int s = 0; s < steps; ++s) {
    nn::ForwardContext train{true, 11, std::uint64_t(s), 0};
    tap.forward(x, tx, train);
    layer.forward(tx, y, train);
    noise.forward(y, noisy, train);
    for (int b = 0; b < y.batch(); ++b)
      for (std::size_t k = 0; k < per; ++k) {
        const double d = double(noisy[std::size_t(b) * per + k]) - clean[std::size_t(b) * per + k];
        m.mean[k] += d;
        sq[k] += d * d;
      }
    m.count += y.batch();
  }
  for (std::size_t k = 0; k < per; ++k) {
    m.mean[k] /= m.count;
    m.var[k] = (sq[k] - m.count * m.mean[k] * m.mean[k]) / (m.count - 1);
  }
  return m;
}

// Sample variance of n normals: relative standard error sqrt(2 / (n - 1)); 5 standard errors.
void expect_variance(double measured, double expected, int n, const std::string& what) {
  const double tol = 5.0 * std::sqrt(2.0 / (n - 1));
  EXPECT_NEAR(measured / expected, 1.0, tol) << what << ": measured " << measured << " expected " << expected;
}

TEST(AnalogNoise, CurrentModeVarianceMatchesEquation4) {
  const int in = 8, out = 3, batch = 250, steps = 16;
  nn::Dense fc("fc", in, out);
  fill_uniform(fc.weight().value.vec(), 1, -0.8f, 0.8f);
  nn::Tensor x({batch, in});
  std::vector<float> sample(in);
  fill_uniform(sample, 2, 0.0f, 2.0f);
  sample[3] = 0.0f;  // a silent input carries no current
  for (int b = 0; b < batch; ++b) std::copy(sample.begin(), sample.end(), x.data() + b * in);
  AnalogLayerParams p;
  p.i_max_na = 1.0;
  p.x_max = 2.5;
  p.first_layer = false;
  nn::AnalogInputTap tap("fc.analog_in", std::nullopt);
  nn::AnalogNoise noise("fc.analog_noise", &fc, &tap, p, 1);
  noise.set_x_max_source(nullptr, false);
  const Moments m = noise_moments(fc, tap, noise, x, steps);
  for (int j = 0; j < out; ++j) {
    double s = 0.0;  // eq. 4: 2qB0 (X_max / I_in,max) sum_i X_i (|W_ij| + W_ij^2)
    for (int i = 0; i < in; ++i) {
      const double w = fc.weight().value[std::size_t(j * in + i)];
      s += sample[std::size_t(i)] * (std::fabs(w) + w * w);
    }
    const double expected = kTwoQB0 * p.x_max / p.i_max_na * s;
    expect_variance(m.var[std::size_t(j)], expected, m.count, "output " + std::to_string(j));
    EXPECT_NEAR(m.mean[std::size_t(j)], 0.0, 5.0 * std::sqrt(expected / m.count));
  }
  // Ten times the current: a tenth of the variance.
  noise.params().i_max_na = 10.0;
  const Moments m10 = noise_moments(fc, tap, noise, x, steps);
  for (int j = 0; j < out; ++j)
    expect_variance(m10.var[std::size_t(j)], m.var[std::size_t(j)] / 10.0, m.count, "10x I");
}

TEST(AnalogNoise, FirstLayerConvVarianceMatchesEquation1) {
  // 1 -> 2 channels, 3x3 kernel, padding 1 on a 5x5 image: border pixels see zero padding.
  const int batch = 200, steps = 20, k = 3, hw = 5;
  nn::Conv2d conv("conv1", 1, 2, k, 1, 1);
  fill_uniform(conv.weight().value.vec(), 3, -0.5f, 0.5f);
  conv.weight().value[4] = 0.9f;  // W_max
  std::vector<float> image(hw * hw);
  CounterRng rng(7, 4);
  for (float& v : image) v = float(rng.below(16)) / 16.0f;  // already 4-bit codes: the DAC keeps them
  nn::Tensor x({batch, 1, hw, hw});
  for (int b = 0; b < batch; ++b) std::copy(image.begin(), image.end(), x.data() + b * hw * hw);
  AnalogLayerParams p;
  p.i_max_na = 0.5;
  p.first_layer = true;
  p.x_max = 1.0;
  nn::AnalogInputTap tap("conv1.analog_in", p);
  nn::AnalogNoise noise("conv1.analog_noise", &conv, &tap, p, 0);
  const Moments m = noise_moments(conv, tap, noise, x, steps);
  const double w_max = 0.9;
  for (int c = 0; c < 2; ++c)
    for (int r = 0; r < hw; ++r)
      for (int col = 0; col < hw; ++col) {
        double s = 0.0;  // eq. 1: 2qB0 (W_max / I_s,max) sum_i X_i |W_ij|
        for (int ki = 0; ki < k; ++ki)
          for (int kj = 0; kj < k; ++kj) {
            const int ih = r - 1 + ki, iw = col - 1 + kj;
            if (ih < 0 || ih >= hw || iw < 0 || iw >= hw) continue;
            s += image[std::size_t(ih * hw + iw)] * std::fabs(conv.weight().value[std::size_t((c * k + ki) * k + kj)]);
          }
        const double expected = kTwoQB0 * w_max / p.i_max_na * s;
        const std::size_t idx = std::size_t((c * hw + r) * hw + col);
        if (expected == 0.0) {
          EXPECT_EQ(m.var[idx], 0.0);
          continue;
        }
        expect_variance(m.var[idx], expected, m.count,
                        "channel " + std::to_string(c) + " pixel " + std::to_string(r) + "," + std::to_string(col));
      }
}

TEST(AnalogNoise, FreshNoiseEveryStepAndReproducible) {
  nn::Dense fc("fc", 4, 2);
  fill_uniform(fc.weight().value.vec(), 5, -1.0f, 1.0f);
  nn::Tensor x({1, 4}, 0.5f), tx, y, a, b, c;
  AnalogLayerParams p;
  p.i_max_na = 0.1;
  nn::AnalogInputTap tap("t", std::nullopt);
  nn::AnalogNoise noise("n", &fc, &tap, p, 2);
  auto run = [&](std::uint64_t step, nn::Tensor& out) {
    nn::ForwardContext ctx{true, 9, step, 0};
    tap.forward(x, tx, ctx);
    fc.forward(tx, y, ctx);
    noise.forward(y, out, ctx);
  };
  run(1, a);
  run(2, b);
  run(1, c);
  EXPECT_NE(a[0], b[0]);
  EXPECT_EQ(a[0], c[0]);
  EXPECT_EQ(a[1], c[1]);
}

TEST(ActivationClip, ThresholdGradientMatchesFiniteDifferences) {
  nn::ActivationClip clip("clip");
  const int n = 400;
  nn::Tensor x({n}), y, dx;
  std::vector<float> c(n);
  CounterRng rng(3, 1);
  for (int i = 0; i < n; ++i) {
    float v = float(2.0 * rng.uniform());
    if (std::fabs(v - 1.0f) < 0.01f) v = 0.5f;  // keep the finite-difference step away from a kink
    x[std::size_t(i)] = v;
    c[std::size_t(i)] = float(rng.uniform() - 0.3);
  }
  clip.set_threshold(1.0f);
  auto loss = [&](float t) {
    clip.set_threshold(t);
    clip.forward(x, y, nn::ForwardContext{});
    double l = 0;
    for (int i = 0; i < n; ++i) l += double(c[std::size_t(i)]) * y[std::size_t(i)];
    return l;
  };
  const float h = 1e-3f;
  const double fd = (loss(1.0f + h) - loss(1.0f - h)) / (2.0 * h);
  loss(1.0f);
  nn::Tensor dy({n});
  std::copy(c.begin(), c.end(), dy.data());
  clip.backward(x, y, dy, &dx);
  EXPECT_NEAR(clip.threshold_parameter().grad[0], fd, 1e-3 * std::max(1.0, std::fabs(fd)));
  double expected = 0;
  for (int i = 0; i < n; ++i) {
    if (x[std::size_t(i)] > 1.0f) expected += c[std::size_t(i)];
    EXPECT_EQ(dx[std::size_t(i)], x[std::size_t(i)] > 1.0f ? 0.0f : c[std::size_t(i)]);
  }
  EXPECT_NEAR(clip.threshold_parameter().grad[0], expected, 1e-4);
}

TEST(ActivationClip, ThresholdStartsAtAPercentileOfTheFirstBatchNotZero) {
  nn::ActivationClip clip("clip", 90.0);
  EXPECT_FALSE(clip.initialized());
  nn::Tensor x({2, 50}), y;
  for (int i = 0; i < 100; ++i) x[std::size_t(i)] = i < 40 ? 0.0f : float(i - 39);  // ReLU-like: many zeros
  clip.forward(x, y, nn::ForwardContext{true, 1, 0, 0});
  EXPECT_TRUE(clip.initialized());
  EXPECT_GT(clip.threshold(), 0.0f);
  EXPECT_EQ(clip.threshold(), nn::percentile(x.data(), x.size(), 90.0));
  EXPECT_NEAR(clip.threshold(), 51.0f, 1.0f);  // rank 89 of 0..99 -> value 50 or 51
  // Later batches do not move it.
  nn::Tensor big({1, 4}, 1000.0f);
  const float t = clip.threshold();
  clip.forward(big, y, nn::ForwardContext{true, 1, 1, 0});
  EXPECT_EQ(clip.threshold(), t);
  EXPECT_EQ(y[0], t);
  // An all-zero first batch still gives a usable (positive) threshold.
  nn::ActivationClip zero("z");
  nn::Tensor zeros({3, 3}, 0.0f);
  zero.forward(zeros, y, nn::ForwardContext{});
  EXPECT_GT(zero.threshold(), 0.0f);
}

std::unique_ptr<nn::Network> small_cnn(bool bn_outputs) {
  std::string layers =
      "layers:\n"
      "  - {type: conv2d, name: conv1, out: 3, kernel: 3}\n"
      "  - {type: batchnorm, name: bn1}\n"
      "  - {type: relu, name: relu1}\n"
      "  - {type: maxpool, name: pool1, kernel: 2, stride: 2}\n"
      "  - {type: flatten, name: flatten}\n"
      "  - {type: dense, name: fc1, out: 6}\n"
      "  - {type: batchnorm, name: bn2}\n"
      "  - {type: relu, name: relu2}\n"
      "  - {type: dense, name: fc2, out: 4}\n";
  layers += bn_outputs ? "  - {type: batchnorm, name: bn3}\n" : "  - {type: flatten, name: logits}\n";
  const ConfigNode node = ConfigNode::parse(layers, "net.yaml");
  auto net = std::make_unique<nn::Network>(nn::parse_network(node, nn::Shape{1, 8, 8}, 4));
  net->initialize(5);
  return net;
}

AnalogNoiseTraining& as_analog(TrainingMethod& m) { return dynamic_cast<AnalogNoiseTraining&>(m); }

TEST(AnalogMethod, InsertsHooksAroundEveryWeightLayer) {
  auto net = small_cnn(true);
  auto method = method_from("{type: analog, i_max: {fc2: 40nA, default: 2nA}, clip: true, alpha: 0.01}");
  method->attach(*net);
  std::vector<std::string> order;
  for (const auto& l : net->layers()) order.push_back(l->name());
  const std::vector<std::string> expected{"conv1.analog_in",
                                          "conv1",
                                          "conv1.analog_noise",
                                          "bn1",
                                          "relu1",
                                          "pool1",
                                          "flatten",
                                          "fc1.input_clip",
                                          "fc1.analog_in",
                                          "fc1",
                                          "fc1.analog_noise",
                                          "bn2",
                                          "relu2",
                                          "fc2.input_clip",
                                          "fc2.analog_in",
                                          "fc2",
                                          "fc2.analog_noise",
                                          "bn3"};
  EXPECT_EQ(order, expected);
  auto& a = as_analog(*method);
  EXPECT_EQ(a.i_max_na(), (std::vector<double>{2.0, 2.0, 40.0}));
  EXPECT_EQ(a.clips()[0], nullptr);
  // The network still trains: forward and backward with hooks.
  nn::Tensor x({4, 1, 8, 8}, 0.3f);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(i % 17) / 17.0f;
  const nn::Tensor& logits = net->forward(x, nn::ForwardContext{true, 1, 0, 0});
  EXPECT_EQ(logits.shape(), (nn::Shape{4, 4}));
  nn::Tensor dl(logits.shape(), 0.1f);
  net->backward(dl);
  const auto hw = method->hardware_assignment(*net);
  EXPECT_EQ(hw["fc2"]["i_max_na"], 40.0);
  EXPECT_EQ(hw["conv1"]["input_bits"], 4);
  EXPECT_GT(hw["fc1"]["clip_threshold"].get<double>(), 0.0);
}

TEST(AnalogMethod, OutputLayerWithoutAFollowerIsAClearError) {
  const ConfigNode node =
      ConfigNode::parse("layers:\n  - {type: flatten, name: f}\n  - {type: dense, name: fc, out: 3}\n", "net.yaml");
  nn::Network net(nn::parse_network(node, nn::Shape{5}, 3));
  auto method = method_from("{type: analog}");
  const std::string msg = input_error_of([&] { method->attach(net); });
  EXPECT_NE(msg.find("fc"), std::string::npos) << msg;
  EXPECT_NE(msg.find("flatten"), std::string::npos) << msg;
  EXPECT_NE(input_error_of([] { method_from("{type: analog, i_max: -1nA}"); }), "");
  EXPECT_NE(input_error_of([] { method_from("{type: analog, clip: true, alhpa: 0.1}"); }).find("alpha"),
            std::string::npos);
}

TEST(AnalogMethod, PenaltyGradientMatchesFiniteDifferences) {
  auto net = small_cnn(false);
  auto method = method_from("{type: analog, i_max: {fc2: 3nA, default: 2nA}, clip: true, alpha: 0.05}");
  method->attach(*net);
  auto& a = as_analog(*method);
  nn::Tensor x({4, 1, 8, 8});
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(i % 13) / 13.0f;
  net->forward(x, nn::ForwardContext{true, 1, 0, 0});
  for (std::size_t l = 1; l < 3; ++l) {
    nn::ActivationClip* clip = a.clips()[l];
    ASSERT_NE(clip, nullptr);
    ASSERT_GT(clip->threshold(), 0.0f);
    const float t = clip->threshold();
    const float h = 1e-3f * t;
    clip->set_threshold(t + h);
    const double up = a.clip_penalty();
    clip->set_threshold(t - h);
    const double down = a.clip_penalty();
    clip->set_threshold(t);
    for (auto* c : a.clips())
      if (c) c->threshold_parameter().grad[0] = 0.0f;
    a.add_penalty_gradient();
    const double fd = (up - down) / (2.0 * double(h));
    EXPECT_NEAR(clip->threshold_parameter().grad[0], fd, 1e-3 * std::fabs(fd) + 1e-7) << "layer " << l;
    const double i = l == 2 ? 3.0 : 2.0;
    EXPECT_NEAR(clip->threshold_parameter().grad[0], 2 * 0.05 * t / (i * i), 1e-6);
  }
}

TEST(AnalogEval, MonteCarloRestoresTheNetworkAndIsReproducible) {
  auto net = small_cnn(true);
  auto method = method_from("{type: analog, i_max: 1nA, clip: true}");
  method->attach(*net);
  auto& a = as_analog(*method);
  Dataset data;
  data.sample_shape = {1, 8, 8};
  data.size = 40;
  data.features.resize(40 * 64);
  data.labels.resize(40);
  for (std::size_t i = 0; i < data.features.size(); ++i) data.features[i] = float((i * 7) % 16) / 16.0f;
  for (std::size_t i = 0; i < 40; ++i) data.labels[i] = std::int32_t(i % 4);
  net->forward(nn::Tensor({2, 1, 8, 8}, 0.5f), nn::ForwardContext{true, 1, 0, 0});  // initialise the clips
  nn::Tensor probe({3, 1, 8, 8});
  for (std::size_t i = 0; i < probe.size(); ++i) probe[i] = float(i % 9) / 9.0f;
  const std::vector<float> before = net->forward(probe, nn::ForwardContext{}).vec();

  AnalogEvalOptions opt;
  opt.batch = 16;  // does not divide 40: results must not depend on the split
  opt.mc.min_trials = opt.mc.max_trials = 3;
  opt.mc.ci_half_width = 0.0;
  const std::vector<double> i_max(3, 0.05);
  const AnalogEvalResult r1 = evaluate_analog(*net, a, data, i_max, {true, true, true}, opt);
  EXPECT_EQ(r1.accuracy.trials, 3);
  EXPECT_GT(r1.total_power_w, 0.0);
  opt.batch = 7;
  const AnalogEvalResult r2 = evaluate_analog(*net, a, data, i_max, {true, true, true}, opt);
  EXPECT_EQ(r1.accuracy.accuracies, r2.accuracy.accuracies);
  for (std::size_t l = 0; l < 3; ++l) EXPECT_NEAR(r2.power_w[l], r1.power_w[l], 1e-6 * r1.power_w[l]);
  // Power is proportional to I_max (exactly for the first layer, whose inputs do not depend on noise).
  // (Without programming noise, which changes W_max.)
  opt.programming_noise = false;
  const AnalogEvalResult r4 = evaluate_analog(*net, a, data, i_max, {true, true, true}, opt);
  const AnalogEvalResult r3 = evaluate_analog(*net, a, data, {0.1, 0.1, 0.1}, {true, true, true}, opt);
  EXPECT_NEAR(r3.power_w[0] / r4.power_w[0], 2.0, 1e-6);
  const AnalogEvalResult clean = evaluate_analog(*net, a, data, i_max, {false, false, false}, opt);
  EXPECT_TRUE(clean.accuracy.deterministic);
  EXPECT_EQ(clean.accuracy.trials, 1);
  const std::vector<float> after = net->forward(probe, nn::ForwardContext{}).vec();
  EXPECT_EQ(before, after);
  EXPECT_EQ(a.i_max_na(), (std::vector<double>{1.0, 1.0, 1.0}));
}

}  // namespace
}  // namespace axsim::train::test
