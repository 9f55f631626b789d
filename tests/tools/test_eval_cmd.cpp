// axsim eval end to end on a small trained MLP: quantized vs float, faults with Monte Carlo, errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/tools/cli_runner.hpp"

using axsim::testing::run_axsim;
namespace fs = std::filesystem;

namespace {

class EvalCommand : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(std::string(AXSIM_SOURCE_DIR) + "/data/mnist/t10k-labels-idx1-ubyte")) return;
    dir_ = (fs::temp_directory_path() / ("axsim_eval_" + std::to_string(::getpid()))).string();
    const auto r = run_axsim("train configs/train/mlp-mnist.yaml -p data.limit_train=6000 -p data.limit_test=1000 "
                             "-p training.epochs=2 -p training.threads=1 -q -o " + dir_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  void SetUp() override {
    if (dir_.empty()) GTEST_SKIP() << "MNIST not installed (tools/setup.sh)";
  }
  static nlohmann::json eval(const std::string& args) {
    const auto r = run_axsim("eval --model " + dir_ + "/model.safetensors --data mnist:data/mnist:test -q --threads 1 " + args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out);
  }
  static std::string dir_;
};
std::string EvalCommand::dir_;

}  // namespace

TEST_F(EvalCommand, QuantizedFaultFreeIsDeterministicAndCloseToFloat) {
  const auto q = eval("");
  const auto f = eval("--float");
  EXPECT_EQ(q["result"]["trials"], 1);
  EXPECT_TRUE(q["result"]["deterministic"].get<bool>());
  EXPECT_NEAR(q["result"]["accuracy_mean"].get<double>(), f["result"]["accuracy_mean"].get<double>(), 0.01);
  EXPECT_EQ(q["samples"], 10000);
}

TEST_F(EvalCommand, FaultsLowerAccuracyWithAConfidenceInterval) {
  const auto clean = eval("");
  const auto faulty = eval("--p 0.05 --trials 5");
  EXPECT_EQ(faulty["result"]["trials"], 5);
  EXPECT_LT(faulty["result"]["accuracy_mean"].get<double>(), clean["result"]["accuracy_mean"].get<double>() - 0.02);
  EXPECT_GT(faulty["result"]["ci95_half_width"].get<double>(), 0.0);
  // Same seed, same answer; another seed, other chips.
  EXPECT_EQ(faulty["result"]["per_trial_accuracy"], eval("--p 0.05 --trials 5")["result"]["per_trial_accuracy"]);
  EXPECT_NE(faulty["result"]["per_trial_accuracy"], eval("--p 0.05 --trials 5 --seed 2")["result"]["per_trial_accuracy"]);
}

TEST_F(EvalCommand, BadArgumentsAreClearErrors) {
  auto r = run_axsim("eval --model " + dir_ + "/model.safetensors --data mnist:data/mnist:test --multiplier drum:4");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("drum4"), std::string::npos) << r.err;
  r = run_axsim("eval --model " + dir_ + "/train.json --data mnist:data/mnist:test");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run_axsim("eval --model " + dir_ + "/model.safetensors --data mnist:data/mnist:test --channel flop --p 0.1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("flip"), std::string::npos) << r.err;
}
