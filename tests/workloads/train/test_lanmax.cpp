// LaNMax (Henwood 2020, Algorithm 1): the OLS gradient, the SGD_O step and its bounds, the per-layer
// BSC at the perturbed rates, the schedule (learning until epoch s, fixed p after), checkpoint state,
// and whole training runs on a small synthetic problem through the real Trainer.
#include <gtest/gtest.h>
#include <omp.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/rng.hpp"
#include "method_test_util.hpp"
#include "workloads/train/methods/lanmax.hpp"
#include "workloads/train/methods/ols.hpp"
#include "workloads/train/trainer.hpp"

using namespace axsim;
using namespace axsim::train;
using namespace axsim::train::test;
namespace fs = std::filesystem;

namespace {

BatchContext ctx_at(int epoch, int batch, int batches, std::uint64_t seed = 21, int epochs = 10, float lr = 0.01f) {
  BatchContext c;
  c.seed = seed;
  c.epoch = epoch;
  c.epochs = epochs;
  c.batch_in_epoch = batch;
  c.batches_per_epoch = batches;
  c.step = std::uint64_t(epoch) * std::uint64_t(batches) + std::uint64_t(batch);
  c.lr = lr;
  return c;
}

LanmaxTraining& as_lanmax(std::unique_ptr<TrainingMethod>& m) { return static_cast<LanmaxTraining&>(*m); }

// One epoch of `batches` mini-batches with a synthetic loss computed from the perturbed rates.
template <class LossOfRates>
nlohmann::json run_epoch(TrainingMethod& method, nn::Network& net, int epoch, int batches, LossOfRates&& loss_of,
                         int epochs = 10, float lr = 0.01f) {
  auto& lanmax = static_cast<LanmaxTraining&>(method);
  for (int b = 0; b < batches; ++b) {
    const BatchContext c = ctx_at(epoch, b, batches, 21, epochs, lr);
    binarize(net);
    method.before_batch(net, c);
    method.after_backward(net, c, loss_of(lanmax.perturbed_rates()));
  }
  nlohmann::json record;
  method.end_epoch(net, ctx_at(epoch, batches, batches, 21, epochs, lr), record);
  return record;
}

}  // namespace

// ---- OLS ----

TEST(Ols, ExactLinearFunctionIsRecovered) {
  CounterRng rng(1, 2);
  const std::size_t n = 50, d = 3;
  std::vector<double> x(n * d), y(n);
  for (std::size_t k = 0; k < n; ++k) {
    for (std::size_t j = 0; j < d; ++j) x[k * d + j] = rng.uniform();
    y[k] = 1.5 + 2 * x[k * d] - 3 * x[k * d + 1] + 0.25 * x[k * d + 2];
  }
  const auto b = ols_slopes(x, d, y);
  EXPECT_NEAR(b[0], 2.0, 1e-9);
  EXPECT_NEAR(b[1], -3.0, 1e-9);
  EXPECT_NEAR(b[2], 0.25, 1e-9);
}

TEST(Ols, NoisyLanmaxStyleSamplesRecoverTheSlopes) {
  // Regressors as LaNMax draws them (p + {-h, 0, +h} per layer), Gaussian noise on the response.
  CounterRng rng(3, 4);
  const std::size_t n = 400, d = 5;
  const double h = 0.01, sigma = 0.01;
  const std::vector<double> truth{30, -20, 5, 0, 100}, p{0.01, 0.05, 0.2, 0.01, 0.3};
  std::vector<double> x(n * d), y(n);
  for (std::size_t k = 0; k < n; ++k) {
    y[k] = 7 + sigma * rng.normal();
    for (std::size_t j = 0; j < d; ++j) {
      x[k * d + j] = p[j] + (double(rng.below(3)) - 1) * h;
      y[k] += truth[j] * x[k * d + j];
    }
  }
  const auto b = ols_slopes(x, d, y);
  // Standard error of a slope: sigma / (sqrt(n) * sd(x)), sd(x) = h sqrt(2/3).
  const double se = sigma / (std::sqrt(double(n)) * h * std::sqrt(2.0 / 3.0));
  for (std::size_t j = 0; j < d; ++j) EXPECT_NEAR(b[j], truth[j], 5 * se) << "slope " << j;
}

TEST(Ols, DegenerateColumnsGetZeroSlope) {
  CounterRng rng(5, 6);
  const std::size_t n = 30, d = 4;
  std::vector<double> x(n * d), y(n);
  for (std::size_t k = 0; k < n; ++k) {
    const double u = rng.uniform(), v = rng.uniform();
    x[k * d + 0] = u;
    x[k * d + 1] = 0.5;  // constant: a rate clamped at a bound all epoch
    x[k * d + 2] = u;    // duplicate of column 0
    x[k * d + 3] = v;
    y[k] = 4 * u - v;
  }
  const auto b = ols_slopes(x, d, y);
  EXPECT_NEAR(b[0] + b[2], 4.0, 1e-9);  // the fit still explains y
  EXPECT_EQ(b[1], 0.0);
  EXPECT_EQ(b[2], 0.0);
  EXPECT_NEAR(b[3], -1.0, 1e-9);
  EXPECT_EQ(ols_slopes(std::vector<double>{1, 2}, 2, std::vector<double>{3}), (std::vector<double>{0, 0}));
  EXPECT_THROW(ols_slopes(std::vector<double>{1, 2, 3}, 2, std::vector<double>{1, 2}), std::invalid_argument);
}

// ---- SGD_O ----

TEST(LanmaxUpdate, NormalizedNesterovStepAndBounds) {
  std::vector<float> p{0.1f, 0.2f}, v{0, 0};
  const std::vector<double> g{3, 4};  // normalized: (0.6, 0.8)
  ASSERT_TRUE(outer_sgd_step(p, v, g, 0.1, 0.2, 1e-4, 0.5));
  EXPECT_NEAR(v[0], 0.6, 1e-7);
  EXPECT_NEAR(p[0], 0.1 - 0.1 * (0.6 + 0.2 * 0.6), 1e-7);
  EXPECT_NEAR(p[1], 0.2 - 0.1 * (0.8 + 0.2 * 0.8), 1e-7);
  ASSERT_TRUE(outer_sgd_step(p, v, g, 0.1, 0.2, 1e-4, 0.5));
  EXPECT_EQ(p[0], 1e-4f);  // would go below p_min
  EXPECT_NEAR(p[1], 0.104 - 0.1 * (0.8 + 0.2 * 0.96), 1e-6);
  std::vector<float> q{0.45f}, w{0};
  ASSERT_TRUE(outer_sgd_step(q, w, std::vector<double>{-1e-9}, 1.0, 0.2, 1e-4, 0.5));  // tiny gradient, unit step
  EXPECT_EQ(q[0], 0.5f);
  EXPECT_FALSE(outer_sgd_step(q, w, std::vector<double>{0.0}, 1.0, 0.2, 1e-4, 0.5));
  EXPECT_FALSE(outer_sgd_step(q, w, std::vector<double>{NAN}, 1.0, 0.2, 1e-4, 0.5));
  EXPECT_EQ(q[0], 0.5f);
}

TEST(LanmaxUpdate, StopEpochIsEightyPercentOfTheEpochs) {
  LanmaxOptions o;
  EXPECT_EQ(lanmax_stop_epoch(o, 200), 160);  // the paper's s = 160 of 200
  EXPECT_EQ(lanmax_stop_epoch(o, 10), 8);
  EXPECT_EQ(lanmax_stop_epoch(o, 1), 1);
  o.stop_epoch = 3;
  EXPECT_EQ(lanmax_stop_epoch(o, 10), 3);
}

// ---- the method, driven like the trainer with a synthetic loss ----

TEST(Lanmax, PerturbsEachLayerAndSamplesTheBscAtThePerturbedRate) {
  auto net = make_mlp("[64]");  // fc1 4096, fc2 640 weights
  auto method = method_from("{type: lanmax, alpha: 0, lambda: 0}");
  method->attach(*net);
  auto& lanmax = as_lanmax(method);
  const std::vector<double> allowed{1e-4, 0.01, 0.02};  // p = 0.01, h = 0.01, clamped at p_min = 1e-4
  std::vector<std::vector<int>> seen(2, std::vector<int>(3, 0));
  double expected_flips = 0, variance = 0;
  std::uint64_t flips = 0;
  for (int b = 0; b < 60; ++b) {
    const BatchContext c = ctx_at(0, b, 60);
    binarize(*net);
    method->before_batch(*net, c);
    for (std::size_t l = 0; l < 2; ++l) {
      const double pt = lanmax.perturbed_rates()[l];
      // p is held in float (exact checkpoints), so p~ = float(0.01) + delta.
      const auto it = std::find_if(allowed.begin(), allowed.end(), [&](double a) { return std::fabs(a - pt) < 1e-8; });
      ASSERT_NE(it, allowed.end()) << pt;
      ++seen[l][std::size_t(it - allowed.begin())];
      const nn::Parameter& w = weight(*net, l);
      for (std::size_t i = 0; i < w.value.size(); ++i) flips += w.forward_value[i] != (w.value[i] >= 0 ? 1.0f : -1.0f);
      expected_flips += pt * double(w.value.size());
      variance += pt * (1 - pt) * double(w.value.size());
    }
    method->after_backward(*net, c, 1.0);
  }
  EXPECT_LE(std::fabs(double(flips) - expected_flips), 5 * std::sqrt(variance));
  for (std::size_t l = 0; l < 2; ++l)
    for (int count : seen[l]) EXPECT_GT(count, 8);  // each of the three perturbations occurs (1/3 each)
  EXPECT_NE(seen[0], seen[1]);                      // independent draws per layer
}

// Runs one LaNMax epoch on a synthetic loss that grows with fc1's rate and falls with fc2's, equally fast,
// and recomputes Algorithm 1 on the side: L = A^/A* + alpha sqrt(E(p~)) + lambda sum p~, A* = best loss of
// the earlier batches, E = energy_scale * (normalized E). Checks the normalized gradient and the first step.
static void check_lanmax_gradient(const std::string& energy_key, double energy_scale) {
  auto net = make_mlp("[64]");
  auto method = method_from("{type: lanmax, alpha: 0.3, lambda: 0.5, momentum: 0.2" + energy_key + "}");
  method->attach(*net);
  auto& lanmax = as_lanmax(method);
  std::vector<double> rows, objective;
  double best = -1;
  const std::vector<double> n{64.0 * 64, 64.0 * 10};
  const auto record = run_epoch(*method, *net, 0, 200, [&](const std::vector<double>& pt) {
    const double loss = 2.0 + 30 * pt[0] - 30 * pt[1];
    const double a_star = best < 0 ? loss : best;
    rows.insert(rows.end(), pt.begin(), pt.end());
    objective.push_back(loss / a_star + 0.3 * std::sqrt(energy_scale * normalized_memory_energy(pt, n, 12.8)) +
                        0.5 * (pt[0] + pt[1]));
    best = best < 0 ? loss : std::min(best, double(float(loss)));
    best = double(float(best));
    return loss;
  });
  EXPECT_TRUE(record["lanmax"]["active"].get<bool>());
  EXPECT_EQ(record["lanmax"]["samples"].get<int>(), 200);
  std::vector<double> expected = ols_slopes(rows, 2, objective);
  const double norm = std::hypot(expected[0], expected[1]);
  const auto& g = lanmax.last_gradient();
  EXPECT_NEAR(g[0], expected[0] / norm, 1e-9);
  EXPECT_NEAR(g[1], expected[1] / norm, 1e-9);
  // First step: p -= lr (1 + mu) g.
  EXPECT_NEAR(lanmax.rates()[0], 0.01 - 0.01 * 1.2 * g[0], 1e-7);
  EXPECT_NEAR(lanmax.rates()[1], 0.01 - 0.01 * 1.2 * g[1], 1e-7);
  EXPECT_NEAR(record["p"]["fc2"].get<double>(), lanmax.rates()[1], 1e-9);
  // Lowest possible loss: fc1 at p_min, fc2 at p + h.
  EXPECT_NEAR(lanmax.best_loss(), 2.0 + 30 * (1e-4 - (double(float(0.01)) + 0.01)), 1e-5);
}

TEST(Lanmax, GradientPointsAgainstTheLossAndStepHasTheLearningRate) {
  // Normalized E in [0, 1]: the accuracy term dominates; the gradient points up the loss for fc1 and
  // down for fc2 (exact value (0.71, -0.71) up to sampling noise).
  check_lanmax_gradient(", energy: normalized", 1.0);
  auto net = make_mlp("[64]");
  auto method = method_from("{type: lanmax, alpha: 0.3, lambda: 0.5, momentum: 0.2, energy: normalized}");
  method->attach(*net);
  run_epoch(*method, *net, 0, 200, [](const std::vector<double>& pt) { return 2.0 + 30 * pt[0] - 30 * pt[1]; });
  EXPECT_GT(as_lanmax(method).last_gradient()[0], 0.5);
  EXPECT_LT(as_lanmax(method).last_gradient()[1], -0.5);
}

TEST(Lanmax, AbsoluteEnergyIsEquationThreeInBitReads) {
  // The default (the paper's eq. 3 in eq. 7): E = zeta sum_l eta(p_l) n_l with zeta = 8 bits per weight
  // for this real-valued net; 4736 weights, so the energy term is sqrt(8 * 4736) ~ 195x the normalized one
  // and now outweighs the accuracy slope: both rates are pushed up.
  check_lanmax_gradient("", 8.0 * (64 * 64 + 64 * 10));
  auto net = make_mlp("[64]");
  auto method = method_from("{type: lanmax, alpha: 0.3, lambda: 0.5, momentum: 0.2}");
  method->attach(*net);
  run_epoch(*method, *net, 0, 200, [](const std::vector<double>& pt) { return 2.0 + 30 * pt[0] - 30 * pt[1]; });
  EXPECT_LT(as_lanmax(method).last_gradient()[0], 0.0);
  EXPECT_LT(as_lanmax(method).last_gradient()[1], 0.0);
}

TEST(Lanmax, EnergyTermPushesLargeLayersHardest) {
  // Constant accuracy term: only alpha sqrt(E(p)) matters; E falls fastest with the rate of the
  // layer holding most weights (fc1: 4096 of 4736).
  auto net = make_mlp("[64]");
  auto method = method_from("{type: lanmax, alpha: 1, lambda: 0}");
  method->attach(*net);
  auto& lanmax = as_lanmax(method);
  run_epoch(*method, *net, 0, 100, [](const std::vector<double>&) { return 1.0; });
  EXPECT_GT(lanmax.rates()[0], 0.01f);
  EXPECT_GT(lanmax.rates()[1], 0.01f);
  EXPECT_GT(lanmax.rates()[0] - 0.01f, 3 * (lanmax.rates()[1] - 0.01f));
}

TEST(Lanmax, RatesStayInTheirBounds) {
  auto net = make_mlp("[64]");
  auto up = method_from("{type: lanmax, alpha: 1, lambda: 0, p_init: 0.49}");
  up->attach(*net);
  for (int e = 0; e < 3; ++e)
    run_epoch(
        *up, *net, e, 50, [](const std::vector<double>&) { return 1.0; }, 10, 0.1f);
  for (float p : as_lanmax(up).rates()) EXPECT_EQ(p, 0.5f);
  auto down = method_from("{type: lanmax, alpha: 0, lambda: 0, p_init: {fc1: 2.0e-4, fc2: 0.3}, p_min: 1.0e-4}");
  down->attach(*net);
  for (int e = 0; e < 5; ++e)
    run_epoch(
        *down, *net, e, 50, [](const std::vector<double>& pt) { return 1.0 + pt[0] + pt[1]; }, 10, 0.1f);
  for (float p : as_lanmax(down).rates()) EXPECT_EQ(p, 1e-4f);
}

TEST(Lanmax, AfterEpochSTheRatesAreFixed) {
  auto net = make_mlp("[64]");
  auto method = method_from("{type: lanmax, alpha: 0.5, lambda: 0, stop_epoch: 1}");
  method->attach(*net);
  auto& lanmax = as_lanmax(method);
  auto loss = [](const std::vector<double>& pt) { return 1.0 + pt[0]; };
  run_epoch(*method, *net, 0, 40, loss);
  const std::vector<float> learned = lanmax.rates();
  EXPECT_NE(learned[0], 0.01f);
  const auto record = run_epoch(*method, *net, 1, 40, [&](const std::vector<double>& pt) {
    EXPECT_EQ(pt[0], double(learned[0]));  // no perturbation: BSC at the learned p
    EXPECT_EQ(pt[1], double(learned[1]));
    return loss(pt);
  });
  EXPECT_EQ(lanmax.rates(), learned);
  EXPECT_FALSE(record["lanmax"]["active"].get<bool>());
  EXPECT_NEAR(record["sampled_p"]["fc1"].get<double>(), learned[0], 1e-9);
}

TEST(Lanmax, StateRoundTripsAndHardwareAssignmentUsesLearnedRates) {
  auto net = make_mlp("[64]");
  auto method = method_from("{type: lanmax, alpha: 0.1}");
  method->attach(*net);
  const auto state = method->state();
  ASSERT_EQ(state.size(), 3u);
  EXPECT_EQ(state[0].first, "lanmax.p");
  EXPECT_EQ(state[0].second->size(), 2u);
  *state[0].second = {0.25f, 1e-4f};  // what a checkpoint restore does
  binarize(*net);
  const auto hw = method->hardware_assignment(*net);
  EXPECT_DOUBLE_EQ(hw["fc1"]["p"].get<double>(), double(0.25f));
  EXPECT_EQ(hw["fc1"]["bits"], 1);
  EXPECT_LT(hw["fc1"]["voltage"].get<double>(), hw["fc2"]["voltage"].get<double>());
  EXPECT_NEAR(hw["fc2"]["eta"].get<double>(), -std::log(double(1e-4f)) / 12.8, 1e-9);
}

// ---- through the Trainer on a synthetic problem ----

namespace {

// Four overlapping Gaussian classes in 24 dimensions (class means +-0.3 per coordinate, unit noise): no
// mini-batch is classified perfectly, so A* (the best mini-batch loss) stays well above 0.
std::string write_blobs(const fs::path& dir, const std::string& name, int n, std::uint64_t stream) {
  CounterRng means_rng(77, 1);
  std::vector<double> means(4 * 24);
  for (double& m : means) m = means_rng.uniform() < 0.5 ? -1.0 : 1.0;
  CounterRng rng(77, stream);
  const fs::path path = dir / (name + ".csv");
  std::ofstream out(path);
  for (int i = 0; i < n; ++i) {
    const int c = int(rng.below(4));
    for (int f = 0; f < 24; ++f) out << means[std::size_t(c * 24 + f)] * 0.3 + rng.normal() << ",";
    out << c << "\n";
  }
  return path.string();
}

class LanmaxTrainer : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("axsim_lanmax_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    threads_ = omp_get_max_threads();  // the Trainer sets the process-wide thread count
    train_ = write_blobs(dir_, "train", 4000, 2);
    test_ = write_blobs(dir_, "test", 500, 3);
  }
  void TearDown() override {
    fs::remove_all(dir_);
    omp_set_num_threads(threads_);
  }

  // Trains and returns train.json.
  nlohmann::json train(const std::string& method, int epochs, const std::string& out, bool resume = false) {
    const std::string yaml = "version: 1\nseed: 5\ndata: {train: 'csv:" + train_ + "', test: 'csv:" + test_ +
                             "'}\nnetwork: {preset: mlp, hidden: [16], batchnorm: true}\n"
                             "training: {epochs: " +
                             std::to_string(epochs) +
                             ", batch_size: 40, threads: 1, binary_connect: true, optimizer: {type: adam, lr: 0.01}}\n"
                             "method: " +
                             method + "\n";
    Trainer trainer(TrainConfig::from(ConfigNode::parse(yaml, "lanmax-test.yaml")));
    EXPECT_TRUE(trainer.run((dir_ / out).string(), resume));
    std::ifstream in(dir_ / out / "train.json");
    return nlohmann::json::parse(in);
  }

  fs::path dir_;
  std::string train_, test_;
  int threads_ = 1;
};

std::vector<double> final_rates(const nlohmann::json& j) {
  std::vector<double> p;
  for (const auto& [name, v] : j["epochs"].back()["p"].items()) p.push_back(v.get<double>());
  return p;
}

}  // namespace

TEST_F(LanmaxTrainer, WithoutEnergyTermRatesDoNotGrowButEnergyTermRaisesThem) {
  // A larger perturbation (h = 0.05) than the paper's makes the accuracy slope measurable in 100
  // mini-batches per epoch on this small problem; p starts at 0.1 so it can move both ways.
  const std::string common = "lambda: 0, h: 0.05, p_init: 0.1, lr_scale: 3, energy: normalized";
  const auto accuracy_only = train("{type: lanmax, alpha: 0, " + common + "}", 10, "a0");
  const auto energy = train("{type: lanmax, alpha: 5, " + common + "}", 10, "a5");
  for (const auto& e : accuracy_only["epochs"])
    for (const auto& [name, p] : e["p"].items()) EXPECT_LE(p.get<double>(), 0.1) << "epoch " << e["epoch"];
  const auto p0 = final_rates(accuracy_only), p5 = final_rates(energy);
  EXPECT_LT(p0[0], 0.01);  // the accuracy term alone drives the fault rates down
  EXPECT_LT(p0[1], 0.01);
  EXPECT_GT(p5[0], 0.2);  // the energy term raises them, most for fc1 (384 of the 448 weights)
  EXPECT_GT(p5[0], p5[1]);
  EXPECT_LT(energy["epochs"].back()["memory_energy"].get<double>(),
            accuracy_only["epochs"].back()["memory_energy"].get<double>() / 2);
  EXPECT_GT(accuracy_only["final_test_accuracy"].get<double>(), 0.5);  // it learns (chance: 0.25)
  // p is learned until epoch s = 8 (80 % of 10), then fixed.
  EXPECT_TRUE(energy["epochs"][7]["lanmax"]["active"].get<bool>());
  EXPECT_FALSE(energy["epochs"][8]["lanmax"]["active"].get<bool>());
  EXPECT_EQ(energy["epochs"][7]["p"], energy["epochs"][9]["p"]);
}

TEST_F(LanmaxTrainer, ResumeRestoresRatesMomentumAndBestLoss) {
  const std::string method = "{type: lanmax, alpha: 0.5, lr_scale: 2, stop_epoch: 3}";
  const auto full = train(method, 3, "full");
  train(method, 2, "part");
  const auto resumed = train(method, 3, "part", /*resume=*/true);
  ASSERT_EQ(resumed["epochs"].size(), 3u);
  EXPECT_EQ(resumed["epochs"][2]["p"], full["epochs"][2]["p"]);
  EXPECT_EQ(resumed["epochs"][2]["train_loss"], full["epochs"][2]["train_loss"]);
  EXPECT_EQ(resumed["epochs"][2]["lanmax"]["best_loss"], full["epochs"][2]["lanmax"]["best_loss"]);
}
