// axsim eval --analog end to end: a small MLP trained with the `analog` method (noise + learned clipping),
// evaluated under the accurate noise model at chosen I_max with Monte Carlo chips; errors for bad
// currents, unknown layers and artifacts without an analog assignment.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/tools/cli_runner.hpp"

using axsim::testing::run_axsim;
namespace fs = std::filesystem;

namespace {

constexpr const char* kRecipe = R"(version: 1
name: analog-mlp-test
seed: 1
data:
  train: mnist:data/mnist:train
  test: mnist:data/mnist:test
  limit_train: 3000
  limit_test: 300
network:
  name: analog_mlp
  layers:
    - {type: flatten, name: flatten}
    - {type: dense, name: fc1, out: 32}
    - {type: relu, name: relu1}
    - {type: dense, name: fc2, out: 10}
    - {type: flatten, name: logits}
training:
  epochs: 1
  batch_size: 64
  threads: 1
  optimizer: {type: adam, lr: 0.002}
method:
  type: analog
  i_max: 10nA
  noise: true
  clip: true
  alpha: 0.01
)";

class EvalAnalog : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(std::string(AXSIM_SOURCE_DIR) + "/data/mnist/t10k-labels-idx1-ubyte")) return;
    dir_ = (fs::temp_directory_path() / ("axsim_eval_analog_" + std::to_string(::getpid()))).string();
    fs::create_directories(dir_);
    std::ofstream(dir_ + "/recipe.yaml") << kRecipe;
    auto r = run_axsim("train " + dir_ + "/recipe.yaml -q -o " + dir_ + "/analog");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run_axsim(
        "train configs/train/mlp-mnist.yaml -p data.limit_train=1000 -p data.limit_test=100 "
        "-p training.epochs=1 -p training.threads=1 -q -o " +
        dir_ + "/plain");
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  void SetUp() override {
    if (dir_.empty()) GTEST_SKIP() << "MNIST not installed (tools/setup.sh)";
  }
  static axsim::testing::CliResult run(const std::string& model, const std::string& args) {
    return run_axsim("eval --analog --model " + dir_ + "/" + model +
                     "/model.safetensors --data mnist:data/mnist:test -q --threads 1 --seed 3 " + args);
  }
  static nlohmann::json eval(const std::string& args) {
    const auto r = run("analog", args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out);
  }
  static std::string dir_;
};
std::string EvalAnalog::dir_;

}  // namespace

TEST_F(EvalAnalog, MonteCarloAtChosenImaxIsDeterministic) {
  const std::string args = "--i-max 5nA --trials 3 --batch 250";
  const auto a = eval(args);
  EXPECT_EQ(a["mode"], "analog");
  EXPECT_EQ(a["result"]["trials"], 3);
  EXPECT_DOUBLE_EQ(a["analog"]["i_max_na"]["fc1"].get<double>(), 5.0);
  EXPECT_DOUBLE_EQ(a["analog"]["i_max_na"]["fc2"].get<double>(), 5.0);
  EXPECT_DOUBLE_EQ(a["analog"]["trained_i_max_na"][0].get<double>(), 10.0);
  EXPECT_TRUE(a["result"]["ci95_half_width"].is_number());
  const double acc = a["result"]["accuracy_mean"].get<double>();
  EXPECT_GT(acc, 0.3);  // a trained network, not chance
  EXPECT_LE(acc, 1.0);
  EXPECT_GT(a["analog"]["total_power_w"].get<double>(), 0.0);
  // Chips are seeded by (seed, trial): the same command gives the same chips; the batch size does not matter.
  const auto b = eval("--i-max 5nA --trials 3 --batch 100");
  EXPECT_EQ(a["analog"]["per_trial_accuracy"], b["analog"]["per_trial_accuracy"]);
  // A per-layer override lands on its layer only.
  const auto c = eval("--i-max 5nA --layer-i-max fc2=20nA --trials 1");
  EXPECT_DOUBLE_EQ(c["analog"]["i_max_na"]["fc1"].get<double>(), 5.0);
  EXPECT_DOUBLE_EQ(c["analog"]["i_max_na"]["fc2"].get<double>(), 20.0);
}

TEST_F(EvalAnalog, NoiseGrowsAsImaxShrinks) {
  // Shot noise relative to the signal scales as 1/sqrt(I_max): a 0.001 nA chip is near chance, a
  // 1000 nA chip near the noise-free accuracy.
  const auto tiny = eval("--i-max 0.001nA --trials 2");
  const auto large = eval("--i-max 1uA --trials 2");
  EXPECT_LT(tiny["result"]["accuracy_mean"].get<double>(), 0.5 * large["result"]["accuracy_mean"].get<double>());
  EXPECT_NEAR(large["result"]["accuracy_mean"].get<double>(), large["noise_free_accuracy"].get<double>(), 0.05);
}

TEST_F(EvalAnalog, ErrorsNameTheProblem) {
  auto r = run("analog", "--i-max 5nV --trials 1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--i-max"), std::string::npos) << r.err;
  r = run("analog", "--layer-i-max fc3=1nA --trials 1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("analog layer"), std::string::npos) << r.err;
  r = run("analog", "--p 0.01 --trials 1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--p"), std::string::npos) << r.err;
  r = run("plain", "--trials 1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("axsim.hardware"), std::string::npos) << r.err;
}
