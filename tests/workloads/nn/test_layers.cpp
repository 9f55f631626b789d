// Every layer's backward against central finite differences of a random linear functional of its
// output: L = sum(r * y). Checks dL/dx and dL/dparams. Computed in float, so tolerances are loose
// enough for rounding but far below the size of any real bug (wrong index, missing term).
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <functional>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "workloads/nn/layers.hpp"
#include "workloads/nn/loss.hpp"
#include "workloads/nn/network.hpp"

using namespace axsim;
using namespace axsim::nn;

namespace {

void fill_random(Tensor& t, std::uint64_t stream, float scale = 1.0f) {
  CounterRng r(7, stream);
  for (auto& v : t.vec()) v = float((2 * r.uniform() - 1) * scale);
}

double functional(Layer& l, const Tensor& x, const Tensor& r, const ForwardContext& ctx) {
  Tensor y;
  l.forward(x, y, ctx);
  double s = 0;
  for (std::size_t i = 0; i < y.size(); ++i) s += double(y[i]) * r[i];
  return s;
}

// Compare analytic and numeric gradients on up to `probes` coordinates of each tensor.
void check_layer(Layer& l, Shape in_shape, bool training = true, float eps = 1e-2f, double tol = 2e-2) {
  Tensor x(in_shape);
  fill_random(x, 1);
  for (auto* p : l.parameters()) fill_random(p->value, 2 + std::hash<std::string>{}(p->name) % 100, 0.5f);
  ForwardContext ctx;
  ctx.training = training;
  ctx.seed = 3;
  Tensor y;
  l.forward(x, y, ctx);
  Tensor r(y.shape());
  fill_random(r, 99);
  Tensor dx;
  l.backward(x, y, r, &dx);
  ASSERT_EQ(dx.shape(), x.shape());
  std::vector<std::pair<std::string, std::pair<Tensor*, Tensor*>>> targets;  // name -> (value, analytic grad)
  targets.push_back({"input", {&x, &dx}});
  std::vector<Tensor> grads;
  for (auto* p : l.parameters()) grads.push_back(p->grad);
  std::size_t gi = 0;
  for (auto* p : l.parameters()) targets.push_back({p->name, {&p->value, &grads[gi++]}});
  for (auto& [name, tv] : targets) {
    Tensor& v = *tv.first;
    const Tensor& g = *tv.second;
    const std::size_t step = std::max<std::size_t>(1, v.size() / 40);
    double max_err = 0, max_ref = 0;
    for (std::size_t i = 0; i < v.size(); i += step) {
      const float keep = v[i];
      v[i] = keep + eps;
      const double up = functional(l, x, r, ctx);
      v[i] = keep - eps;
      const double dn = functional(l, x, r, ctx);
      v[i] = keep;
      const double num = (up - dn) / (2 * eps);
      max_err = std::max(max_err, std::abs(num - g[i]));
      max_ref = std::max(max_ref, std::abs(num));
    }
    EXPECT_LE(max_err, tol * std::max(1.0, max_ref)) << l.kind() << " gradient of " << name;
  }
}

}  // namespace

TEST(LayerGradients, Dense) {
  Dense d("fc", 7, 5);
  check_layer(d, {4, 7});
}

TEST(LayerGradients, Conv2dStridePadding) {
  Conv2d c("conv", 2, 3, 3, 2, 1);
  check_layer(c, {2, 2, 7, 6});
  Conv2d c2("conv2", 3, 4, 5, 1, 0, false);
  check_layer(c2, {2, 3, 8, 8});
}

TEST(LayerGradients, Pooling) {
  // Max pooling is piecewise linear: random inputs have no ties, so finite differences are exact.
  Pool2d m("pool", PoolKind::max, 2, 2);
  check_layer(m, {2, 3, 6, 6}, true, 1e-3f);
  Pool2d a("apool", PoolKind::avg, 3, 2);
  check_layer(a, {2, 2, 7, 7});
  GlobalAvgPool g("gap");
  check_layer(g, {3, 4, 3, 3});
}

TEST(LayerGradients, BatchNormTrainingAndInference) {
  BatchNorm b("bn", 3);
  check_layer(b, {5, 3, 2, 2}, true, 1e-2f, 3e-2);
  BatchNorm b1("bn1d", 4);
  check_layer(b1, {6, 4}, true, 1e-2f, 3e-2);
  BatchNorm b2("bn_eval", 3);
  check_layer(b2, {4, 3}, false);
}

TEST(LayerGradients, ReluDropoutFlatten) {
  ReLU r("relu");
  check_layer(r, {3, 11}, true, 1e-3f);
  Dropout d("drop", 0.3f);
  check_layer(d, {3, 20});  // the mask depends only on (seed, layer, step): identical across evaluations
  Flatten f("flat");
  check_layer(f, {2, 2, 3, 3});
}

TEST(LayerGradients, ResidualWithProjection) {
  std::vector<LayerPtr> body, sc;
  body.push_back(std::make_unique<Conv2d>("c1", 2, 3, 3, 2, 1));
  body.push_back(std::make_unique<ReLU>("r"));
  body.push_back(std::make_unique<Conv2d>("c2", 3, 3, 3, 1, 1));
  sc.push_back(std::make_unique<Conv2d>("proj", 2, 3, 1, 2, 0));
  Residual res("block", std::move(body), std::move(sc));
  check_layer(res, {2, 2, 6, 6}, true, 1e-3f, 3e-2);
}

TEST(Loss, SoftmaxCrossEntropyGradientAndValue) {
  Tensor z({3, 4});
  fill_random(z, 5, 2.0f);
  const std::int32_t labels[3] = {0, 3, 1};
  Tensor dz;
  const LossResult r = softmax_cross_entropy(z, labels, dz);
  double ref = 0;
  for (int i = 0; i < 3; ++i) {
    double s = 0;
    for (int j = 0; j < 4; ++j) s += std::exp(double(z[i * 4 + j]));
    ref += -(z[i * 4 + labels[i]] - std::log(s));
  }
  EXPECT_NEAR(r.loss, ref / 3, 1e-6);
  for (std::size_t i = 0; i < z.size(); ++i) {
    const float keep = z[i];
    Tensor tmp;
    z[i] = keep + 1e-3f;
    const double up = softmax_cross_entropy(z, labels, tmp).loss;
    z[i] = keep - 1e-3f;
    const double dn = softmax_cross_entropy(z, labels, tmp).loss;
    z[i] = keep;
    EXPECT_NEAR((up - dn) / 2e-3, dz[i], 2e-3);
  }
}

TEST(Network, ShapesMustChainWithClearErrors) {
  auto cfg =
      ConfigNode::parse("layers:\n  - {type: conv2d, out: 4, kernel: 3}\n  - {type: dense, out: 10}\n", "net.yaml");
  try {
    parse_network(cfg, {1, 8, 8}, 10);
    FAIL() << "expected an error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("dense1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("flatten"), std::string::npos) << e.what();
  }
  auto bad = ConfigNode::parse("layers:\n  - {type: dense, out: 10, kernal: 3}\n", "net.yaml");
  EXPECT_THROW(parse_network(bad, {8}, 10), InputError);
  auto wrong_classes = ConfigNode::parse("preset: mlp\nhidden: [16]\n", "net.yaml");
  const auto spec = parse_network(wrong_classes, {1, 4, 4}, 3);
  EXPECT_EQ(spec.layers.back().out, 3);
}

TEST(Network, PresetsBuildAndRoundTripThroughJson) {
  for (const char* yaml : {"preset: mlp\nhidden: [128, 128]\n", "preset: lenet5\n", "preset: klachko_cnn\n",
                           "preset: wrn\ndepth: 8\nwidth: 2\n"}) {
    const auto spec = parse_network(ConfigNode::parse(yaml, "net.yaml"), {1, 28, 28}, 10);
    Network net(network_spec_from_json(to_json(spec), "json"));
    EXPECT_EQ(to_json(net.spec()), to_json(spec));
    net.initialize(1);
    Tensor x({2, 1, 28, 28});
    fill_random(x, 4);
    ForwardContext ctx;
    const Tensor& y = net.forward(x, ctx);
    EXPECT_EQ(y.shape(), (Shape{2, 10})) << yaml;
  }
  const auto lenet = parse_network(ConfigNode::parse("preset: lenet5\n", "n.yaml"), {1, 28, 28}, 10);
  Network net(lenet);
  EXPECT_EQ(net.parameter_count(), 61706u);  // the classic LeNet-5 parameter count on 28x28 with padding 2
  EXPECT_EQ(net.weight_layers().size(), 5u);
  // width: every hidden layer scaled (rounded), the output keeps the class count.
  const auto half = parse_network(ConfigNode::parse("preset: lenet5\nwidth: 0.5\n", "n.yaml"), {1, 28, 28}, 10);
  Network small(half);
  // conv1 3x1x5x5+3, conv2 8x3x5x5+8, fc1 60x(8*5*5)+60, fc2 42x60+42, fc3 10x42+10
  EXPECT_EQ(small.parameter_count(), 78u + 608u + 12060u + 2562u + 430u);
  EXPECT_THROW(parse_network(ConfigNode::parse("preset: lenet5\nwidth: 0\n", "n.yaml"), {1, 28, 28}, 10), InputError);
}

TEST(LayerGradients, Conv2dSingleChannelPaddedOddBatch) {
  // LeNet's conv1 shape (1 input channel, 5x5, padding 2) with a batch that is not a whole number of
  // the backward pass's image chunks, so the last partial chunk's dW and db are checked too.
  Conv2d c("conv1", 1, 3, 5, 1, 2);
  check_layer(c, {5, 1, 7, 7});
}

// Network-level gradients against finite differences of the loss: checks that a flatten read in
// place (no copy) and a first trainable layer without an input gradient still give every parameter
// its exact gradient.
TEST(Network, GradientsMatchFiniteDifferencesThroughFlatten) {
  const auto spec = parse_network(ConfigNode::parse("layers:\n  - {type: conv2d, out: 2, kernel: 3, padding: 1}\n"
                                                    "  - {type: relu}\n  - {type: maxpool, kernel: 2}\n"
                                                    "  - {type: flatten}\n  - {type: dense, out: 3}\n",
                                                    "net.yaml"),
                                  {1, 4, 4}, 3);
  Network net(spec);
  net.initialize(5);
  Tensor x({3, 1, 4, 4});
  fill_random(x, 6);
  const std::int32_t labels[3] = {0, 2, 1};
  Tensor dl;
  const ForwardContext ctx{true, 1, 0, 0};
  auto loss = [&]() {
    Tensor d;
    return softmax_cross_entropy(net.forward(x, ctx), labels, d).loss;
  };
  EXPECT_EQ(net.forward(x, ctx).shape(), (Shape{3, 3}));
  softmax_cross_entropy(net.forward(x, ctx), labels, dl);
  net.backward(dl);
  for (Parameter* p : net.parameters()) {
    const Tensor analytic = p->grad;
    for (std::size_t i = 0; i < p->value.size(); ++i) {
      const float keep = p->value[i];
      p->value[i] = keep + 1e-3f;
      const double up = loss();
      p->value[i] = keep - 1e-3f;
      const double dn = loss();
      p->value[i] = keep;
      EXPECT_NEAR((up - dn) / 2e-3, analytic[i], 5e-3) << p->name << "[" << i << "]";
    }
  }
}

// Convolution gradients are summed over fixed image chunks and images run on any thread, so one and
// two threads give bit-identical parameter gradients.
TEST(Network, LeNetGradientsDoNotDependOnThreadCount) {
  const auto spec = parse_network(ConfigNode::parse("preset: lenet5\n", "n.yaml"), {1, 28, 28}, 10);
  std::vector<std::vector<float>> grads[2];
  const int saved_threads = omp_get_max_threads();
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    Network net(spec);
    net.initialize(3);
    Tensor x({9, 1, 28, 28});
    fill_random(x, 8);
    const std::int32_t labels[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    Tensor dl;
    softmax_cross_entropy(net.forward(x, ForwardContext{true, 1, 0, 0}), labels, dl);
    net.backward(dl);
    for (Parameter* p : net.parameters()) grads[threads - 1].push_back(p->grad.vec());
  }
  omp_set_num_threads(saved_threads);
  ASSERT_EQ(grads[0].size(), grads[1].size());
  for (std::size_t i = 0; i < grads[0].size(); ++i) EXPECT_EQ(grads[0][i], grads[1][i]) << "parameter " << i;
}
