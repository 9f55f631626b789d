// uniform_noise and erasure training methods, per-layer rate specs, the activation-erasure hook layer
// and the config errors of every method. Fault rates are checked against binomial bounds over the
// weights of each layer (z = 5: a wrong rate or a layer mix-up fails, chance never does).
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>

#include "method_test_util.hpp"
#include "workloads/train/methods/activation_erasure.hpp"
#include "workloads/train/methods/erasure.hpp"
#include "workloads/train/methods/layer_rates.hpp"
#include "workloads/train/methods/uniform_noise.hpp"

using namespace axsim;
using namespace axsim::train;
using namespace axsim::train::test;

namespace {

BatchContext batch(std::uint64_t step, std::uint64_t seed = 11) {
  BatchContext c;
  c.seed = seed;
  c.step = step;
  c.epochs = 10;
  c.batches_per_epoch = 100;
  c.batch_in_epoch = int(step % 100);
  c.epoch = int(step / 100);
  c.lr = 0.01f;
  return c;
}

// Count weights whose forward value differs from sign(value), per layer.
std::vector<std::uint64_t> sign_flips(nn::Network& net) {
  std::vector<std::uint64_t> flips;
  for (std::size_t l = 0; l < net.weight_layers().size(); ++l) {
    const nn::Parameter& w = weight(net, l);
    std::uint64_t k = 0;
    for (std::size_t i = 0; i < w.value.size(); ++i) k += w.forward_value[i] != (w.value[i] >= 0.0f ? 1.0f : -1.0f);
    flips.push_back(k);
  }
  return flips;
}

std::vector<float> forward_copy(nn::Network& net, std::size_t layer) { return weight(net, layer).forward_value.vec(); }

}  // namespace

// ---- per-layer rate specs ----

TEST(LayerRates, NumberMapBlockPatternAndDefault) {
  auto net = make_mlp("[16, 16, 16]");  // fc1..fc4
  auto parse = [](const std::string& text) {
    return LayerRateSpec::parse(ConfigNode::parse("p: " + text, "r.yaml").child("p"), 0.0, 0.5, "a rate");
  };
  EXPECT_EQ(parse("0.02").resolve(*net), (std::vector<double>{0.02, 0.02, 0.02, 0.02}));
  EXPECT_EQ(parse("{fc2: 0.1}").resolve(*net), (std::vector<double>{0, 0.1, 0, 0}));
  EXPECT_EQ(parse("{fc2: 0.1, default: 1%}").resolve(*net), (std::vector<double>{0.01, 0.1, 0.01, 0.01}));
  EXPECT_EQ(parse("{\"fc[34]\": 0.3, fc1: 0.2}").resolve(*net), (std::vector<double>{0.2, 0, 0.3, 0.3}));
}

TEST(LayerRates, ResidualBlockSelectsItsWeightLayers) {
  const ConfigNode node = ConfigNode::parse("preset: wrn\ndepth: 8\n", "net.yaml");
  nn::Network net(nn::parse_network(node, nn::Shape{3, 8, 8}, 10));
  const auto layers = net.weight_layers();
  const auto rates = LayerRateSpec::parse(ConfigNode::parse("p: {block2_1: 0.05, default: 0.001}", "r.yaml").child("p"),
                                          0.0, 0.5, "a rate")
                         .resolve(net);
  ASSERT_EQ(rates.size(), layers.size());
  int in_block = 0;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const bool inside = layers[l]->name().rfind("block2_1.", 0) == 0;
    in_block += inside;
    EXPECT_EQ(rates[l], inside ? 0.05 : 0.001) << layers[l]->name();
  }
  EXPECT_EQ(in_block, 3);  // conv1, conv2 and the projection shortcut
}

TEST(LayerRates, ErrorsNameKeyAndClosestLayer) {
  auto net = make_mlp("[16]");
  auto resolve = [&](const std::string& text) {
    return input_error_of([&] {
      LayerRateSpec::parse(ConfigNode::parse("p: " + text, "r.yaml").child("p"), 0.0, 0.5, "a rate").resolve(*net);
    });
  };
  const std::string unknown = resolve("{fc3: 0.1}");
  EXPECT_NE(unknown.find("r.yaml"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("'fc3'"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("did you mean 'fc1'"), std::string::npos) << unknown;
  EXPECT_NE(resolve("{\"conv*\": 0.1}").find("matches none"), std::string::npos);
  EXPECT_NE(resolve("{relu1: 0.1}").find("without weights"), std::string::npos);
  EXPECT_NE(resolve("{fc1: 0.1, \"fc*\": 0.2}").find("selected by both"), std::string::npos);
  const std::string range = input_error_of(
      [&] { LayerRateSpec::parse(ConfigNode::parse("p: {fc1: 0.7}", "r.yaml").child("p"), 0.0, 0.5, "a rate"); });
  EXPECT_NE(range.find("in [0, 0.5]"), std::string::npos) << range;
  EXPECT_NE(range.find("found 0.7"), std::string::npos) << range;
}

TEST(LayerRates, NormalizedMemoryEnergy) {
  const std::vector<double> n{100, 300};
  EXPECT_DOUBLE_EQ(normalized_memory_energy(std::vector<double>{0, 0}, n, 12.8), 1.0);
  const double e = normalized_memory_energy(std::vector<double>{0.01, 1e-4}, n, 12.8);
  EXPECT_NEAR(e, (100 * std::log(100.0) / 12.8 + 300 * std::log(1e4) / 12.8) / 400, 1e-12);
}

// ---- uniform_noise ----

TEST(UniformNoise, BscFlipsEachBinaryLayerAtItsRate) {
  auto net = make_mlp("[256, 128]");  // fc1 16384, fc2 32768, fc3 1280 weights
  auto method = method_from("{type: uniform_noise, p: {fc1: 0.05, fc2: 0.2, fc3: 0.01}}");
  method->attach(*net);
  const std::vector<double> p{0.05, 0.2, 0.01};
  std::vector<std::uint64_t> flips(3, 0), draws(3, 0);
  for (std::uint64_t step = 0; step < 20; ++step) {
    binarize(*net);
    method->before_batch(*net, batch(step));
    const auto f = sign_flips(*net);
    for (std::size_t l = 0; l < 3; ++l) {
      flips[l] += f[l];
      draws[l] += weight(*net, l).value.size();
    }
    method->after_backward(*net, batch(step), 1.0);
  }
  for (std::size_t l = 0; l < 3; ++l) expect_binomial(flips[l], draws[l], p[l], "layer " + std::to_string(l));
  // The method's own counts agree with the flips seen in the forward weights.
  nlohmann::json record;
  method->end_epoch(*net, batch(20), record);
  EXPECT_NEAR(record["measured_p"]["fc2"].get<double>(), double(flips[1]) / double(draws[1]), 1e-12);
  EXPECT_EQ(record["p"]["fc1"].get<double>(), 0.05);
  EXPECT_GT(record["memory_energy"].get<double>(), 0.0);
  EXPECT_LT(record["memory_energy"].get<double>(), 1.0);
  // BinaryConnect forward weights stay in use (the trainer re-binarizes before evaluation).
  EXPECT_TRUE(weight(*net, 0).use_forward_value);
}

TEST(UniformNoise, ReproducibleForSeedStepAndThreadCount) {
  auto net = make_mlp("[1100]", 64, 10);  // fc1: 70400 weights = two fault chunks
  auto method = method_from("{type: uniform_noise, p: 0.2}");
  method->attach(*net);
  auto draw = [&](std::uint64_t step, std::uint64_t seed, int threads) {
    const int before = omp_get_max_threads();
    omp_set_num_threads(threads);
    binarize(*net);
    method->before_batch(*net, batch(step, seed));
    omp_set_num_threads(before);
    return forward_copy(*net, 0);
  };
  const auto a = draw(5, 11, 1);
  EXPECT_EQ(a, draw(5, 11, 2));  // same faults for any thread count
  EXPECT_EQ(a, draw(5, 11, 1));
  EXPECT_NE(a, draw(6, 11, 1));  // fresh faults every mini-batch
  EXPECT_NE(a, draw(5, 12, 1));  // and per seed
}

TEST(UniformNoise, RealValuedNetsCorruptFixedPointWordsThenRelease) {
  auto net = make_mlp("[64]");
  // p = 0: the forward weights are the 8-bit fixed-point weights (covering format per layer).
  auto clean = method_from("{type: uniform_noise, p: 0, channel: flip, bits: 8}");
  clean->attach(*net);
  clean->before_batch(*net, batch(0));
  for (std::size_t l = 0; l < 2; ++l) {
    nn::Parameter& w = weight(*net, l);
    ASSERT_TRUE(w.use_forward_value);
    float max_abs = 0;
    for (float v : w.value.vec()) max_abs = std::max(max_abs, std::fabs(v));
    const auto format = FixedPointFormat::covering(max_abs, 8, true);
    for (std::size_t i = 0; i < w.value.size(); ++i)
      ASSERT_EQ(w.forward_value[i], float(format.dequantize(format.quantize(w.value[i]))));
  }
  clean->after_backward(*net, batch(0), 1.0);
  EXPECT_FALSE(weight(*net, 0).use_forward_value);  // evaluation uses the real weights

  // flip at p on 8-bit words: every stored bit of every weight flips with probability p. Recover the
  // flipped bits from the forward weights: clean code XOR read code.
  auto noisy = method_from("{type: uniform_noise, p: 0.1, channel: flip}");
  noisy->attach(*net);
  std::uint64_t flipped_bits = 0, stored_bits = 0;
  for (std::uint64_t step = 0; step < 10; ++step) {
    noisy->before_batch(*net, batch(step));
    EXPECT_FALSE(static_cast<UniformNoiseTraining&>(*noisy).faults().binary());
    const nn::Parameter& w = weight(*net, 0);
    float max_abs = 0;
    for (float v : w.value.vec()) max_abs = std::max(max_abs, std::fabs(v));
    const auto format = FixedPointFormat::covering(max_abs, 8, true);
    for (std::size_t i = 0; i < w.value.size(); ++i) {
      const auto clean = std::uint32_t(format.quantize(w.value[i]));
      const auto read = std::uint32_t(std::int32_t(std::lround(w.forward_value[i] * format.inverse_step())));
      flipped_bits += std::uint64_t(__builtin_popcount((clean ^ read) & 0xFFu));
    }
    stored_bits += 8 * w.value.size();
    noisy->after_backward(*net, batch(step), 1.0);
  }
  expect_binomial(flipped_bits, stored_bits, 0.1, "fc1 bits");
  const auto& faults = static_cast<UniformNoiseTraining&>(*noisy).faults();
  EXPECT_EQ(faults.stats()[0].bits_read, stored_bits);
  EXPECT_EQ(faults.stats()[0].faulty_bits, flipped_bits);
  const auto hw = noisy->hardware_assignment(*net);
  EXPECT_EQ(hw["fc1"]["bits"], 8);
  EXPECT_EQ(hw["fc1"]["channel"], "flip");
}

TEST(UniformNoise, HardwareAssignmentGivesVoltageForP) {
  auto net = make_mlp("[16]");
  auto method = method_from("{type: uniform_noise, p: {fc1: 0.01, fc2: 0}}");
  method->attach(*net);
  binarize(*net);
  const auto hw = method->hardware_assignment(*net);
  EXPECT_EQ(hw["fc1"]["bits"], 1);
  EXPECT_EQ(hw["fc1"]["channel"], "flip");
  EXPECT_NEAR(hw["fc1"]["voltage"].get<double>(), 0.66, 1e-6);  // default curve: 1 % at 0.66 V
  EXPECT_NEAR(hw["fc1"]["eta"].get<double>(), std::log(100.0) / 12.8, 1e-12);
  EXPECT_NEAR(hw["fc2"]["voltage"].get<double>(), 1.1, 1e-9);  // reliable: nominal voltage
  EXPECT_EQ(hw["fc2"]["eta"].get<double>(), 1.0);
}

// ---- erasure ----

TEST(Erasure, ErasesWeightsAtTwiceTheBitErrorRate) {
  auto net = make_mlp("[256]");
  auto method = method_from("{type: erasure, p: {fc1: 0.05, fc2: 0.1}}");
  method->attach(*net);
  std::vector<std::uint64_t> zeros(2, 0), n(2, 0);
  for (std::uint64_t step = 0; step < 10; ++step) {
    method->before_batch(*net, batch(step));  // real-valued net: erasure on a float copy
    for (std::size_t l = 0; l < 2; ++l) {
      const nn::Parameter& w = weight(*net, l);
      for (std::size_t i = 0; i < w.value.size(); ++i) {
        if (w.forward_value[i] == 0.0f)
          ++zeros[l];
        else
          ASSERT_EQ(w.forward_value[i], w.value[i]);  // survivors are untouched (no rescaling)
      }
      n[l] += w.value.size();
    }
    method->after_backward(*net, batch(step), 1.0);
  }
  expect_binomial(zeros[0], n[0], 0.1, "fc1 p_e");
  expect_binomial(zeros[1], n[1], 0.2, "fc2 p_e");
  nlohmann::json record;
  method->end_epoch(*net, batch(10), record);
  EXPECT_EQ(record["p_e"]["fc2"].get<double>(), 0.2);
  EXPECT_EQ(record["p"]["fc2"].get<double>(), 0.1);
  const auto hw = method->hardware_assignment(*net);
  EXPECT_EQ(hw["fc1"]["channel"], "bit_mask");
  EXPECT_EQ(hw["fc1"]["p"].get<double>(), 0.05);
}

TEST(Erasure, ActivationsOfEveryWeightLayerButTheFirstAreErased) {
  auto net = make_mlp("[256]");
  const auto spec_before = nn::to_json(net->spec());
  const std::size_t layers_before = net->layers().size();
  auto method = method_from("{type: erasure, p_e: 0.3, activations: true}");
  method->attach(*net);
  // One hook, before fc2 (the network input feeding fc1 is data, not a stored activation).
  ASSERT_EQ(net->layers().size(), layers_before + 1);
  EXPECT_EQ(nn::to_json(net->spec()), spec_before);  // hooks are not architecture
  EXPECT_EQ(net->weight_layers().size(), 2u);
  std::size_t hook = 0;
  for (std::size_t i = 0; i < net->layers().size(); ++i)
    if (net->layers()[i]->kind() == "activation_erasure") hook = i;
  ASSERT_GT(hook, 0u);
  EXPECT_EQ(net->layers()[hook + 1]->name(), "fc2");
  EXPECT_THROW(net->insert_before("fc9", std::make_unique<nn::ReLU>("x")), InputError);
}

TEST(Erasure, BinaryWeightsAreErasedToZero) {
  auto net = make_mlp("[128]");
  auto method = method_from("{type: erasure, p_e: 0.3}");
  method->attach(*net);
  binarize(*net);
  method->before_batch(*net, batch(0));
  const nn::Parameter& w = weight(*net, 0);
  std::uint64_t zeros = 0;
  for (std::size_t i = 0; i < w.value.size(); ++i) {
    if (w.forward_value[i] == 0.0f)
      ++zeros;
    else
      ASSERT_EQ(w.forward_value[i], w.value[i] >= 0 ? 1.0f : -1.0f);
  }
  expect_binomial(zeros, w.value.size(), 0.3, "fc1");
}

// ---- activation erasure hook ----

TEST(ActivationErasure, ErasesInTrainingOnlyAndMasksTheGradient) {
  ActivationErasure layer("erase1", 0.25);
  nn::Tensor x(nn::Shape{64, 100}), y, dy(nn::Shape{64, 100}, 1.0f), dx;
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = (i % 7 == 0) ? 0.0f : float(i % 13) + 1.0f;
  nn::ForwardContext ctx{true, 5, 3, 2};
  layer.forward(x, y, ctx);
  layer.backward(x, y, dy, &dx);
  std::uint64_t erased = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    ASSERT_TRUE(dx[i] == 0.0f || dx[i] == 1.0f);
    if (dx[i] == 0.0f) {
      ++erased;
      ASSERT_EQ(y[i], 0.0f);
    } else {
      ASSERT_EQ(y[i], x[i]);
    }
  }
  expect_binomial(erased, x.size(), 0.25, "activations");
  nn::Tensor y2;
  layer.forward(x, y2, ctx);
  EXPECT_EQ(y.vec(), y2.vec());  // same (seed, step, layer) -> same erasures
  ctx.training = false;
  layer.forward(x, y2, ctx);
  EXPECT_EQ(y2.vec(), x.vec());
}

// ---- config errors ----

TEST(MethodConfig, UnknownMethodNamesTheClosest) {
  const std::string e = input_error_of([] { method_from("{type: lanmx, alpha: 0.1}"); });
  EXPECT_NE(e.find("recipe.yaml"), std::string::npos) << e;
  EXPECT_NE(e.find("'lanmx'"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'lanmax'"), std::string::npos) << e;
  EXPECT_NE(e.find("uniform_noise"), std::string::npos) << e;  // lists the valid methods
}

TEST(MethodConfig, BadValuesAreClearErrors) {
  auto err = [](const std::string& yaml) { return input_error_of([&] { method_from(yaml); }); };
  EXPECT_NE(err("{type: uniform_noise, p: 0.7}").find("in [0, 0.5]"), std::string::npos);
  EXPECT_NE(err("{type: uniform_noise, p: -0.1}").find("found -0.1"), std::string::npos);
  EXPECT_NE(err("{type: uniform_noise}").find("'p'"), std::string::npos);
  EXPECT_NE(err("{type: uniform_noise, p: 0.1, chanel: flip}").find("did you mean 'channel'"), std::string::npos);
  EXPECT_NE(err("{type: uniform_noise, p: 0.1, channel: flpi}").find("flip"), std::string::npos);
  EXPECT_NE(err("{type: uniform_noise, p: 0.1, bits: 40}").find("bits"), std::string::npos);
  EXPECT_NE(err("{type: erasure, p: 0.1, p_e: 0.2}").find("not both"), std::string::npos);
  EXPECT_NE(err("{type: erasure}").find("p_e"), std::string::npos);
  EXPECT_NE(err("{type: erasure, p: 0.6}").find("in [0, 0.5]"), std::string::npos);
  EXPECT_NE(err("{type: lanmax}").find("'alpha'"), std::string::npos);
  EXPECT_NE(err("{type: lanmax, alpah: 0.1}").find("did you mean 'alpha'"), std::string::npos);
  EXPECT_NE(err("{type: lanmax, alpha: -1}").find(">= 0"), std::string::npos);
  EXPECT_NE(err("{type: lanmax, alpha: 0.1, p_min: 0.3, p_max: 0.2}").find("p_min < p_max"), std::string::npos);
  EXPECT_NE(err("{type: lanmax, alpha: 0.1, p_min: 0}").find("p_min > 0"), std::string::npos);
  EXPECT_NE(err("{type: lanmax, alpha: 0.1, p_max: 0.6}").find("p_max <= 0.5"), std::string::npos);
  EXPECT_NE(err("{type: lanmax, alpha: 0.1, p_init: 0.9}").find("[p_min, p_max]"), std::string::npos);
  EXPECT_NE(err("{type: lanmax, alpha: 0.1, stop_fraction: 0.5, stop_epoch: 3}").find("not both"), std::string::npos);
  EXPECT_NE(err("{type: lanmax, alpha: 0.1, h: 0}").find("perturbation step"), std::string::npos);
  EXPECT_NE(err("{type: none, p: 0.1}").find("'p'"), std::string::npos);
}

TEST(MethodConfig, UnknownLayerInPerLayerMapFailsAtAttach) {
  auto net = make_mlp("[16, 16]");
  auto method = method_from("{type: uniform_noise, p: {fc1: 0.01, fc_2: 0.02}}");
  const std::string e = input_error_of([&] { method->attach(*net); });
  EXPECT_NE(e.find("recipe.yaml:line 1"), std::string::npos) << e;
  EXPECT_NE(e.find("method.p.fc_2"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'fc2'"), std::string::npos) << e;
}
