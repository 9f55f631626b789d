// axsim sensitivity end to end on a small trained MLP: one row per weight layer plus the baseline,
// random weights in one layer hurt, zero rate changes nothing, bad arguments are clear errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/tools/cli_runner.hpp"

using axsim::testing::run_axsim;
namespace fs = std::filesystem;

namespace {

class SensitivityCommand : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(std::string(AXSIM_SOURCE_DIR) + "/data/mnist/t10k-labels-idx1-ubyte")) return;
    dir_ = (fs::temp_directory_path() / ("axsim_sensitivity_" + std::to_string(::getpid()))).string();
    const auto r = run_axsim(
        "train configs/train/mlp-mnist.yaml -p data.limit_train=6000 -p data.limit_test=1000 "
        "-p training.epochs=2 -p training.threads=1 -q -o " +
        dir_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  void SetUp() override {
    if (dir_.empty()) GTEST_SKIP() << "MNIST not installed (tools/setup.sh)";
  }
  static std::string base() {
    return "sensitivity --model " + dir_ + "/model.safetensors --data mnist:data/mnist:test -q --threads 1 ";
  }
  static nlohmann::json sensitivity(const std::string& args, std::string* table = nullptr) {
    const auto r = run_axsim(base() + args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    if (table) *table = r.err;
    return nlohmann::json::parse(r.out);
  }
  static std::string dir_;
};
std::string SensitivityCommand::dir_;

double accuracy(const nlohmann::json& result) { return result["accuracy_mean"].get<double>(); }

}  // namespace

TEST_F(SensitivityCommand, OneRowPerWeightLayerAndRandomWeightsHurtEveryLayer) {
  std::string table;
  const auto j = sensitivity("--random --trials 3", &table);
  const double baseline = accuracy(j["baseline"]);
  EXPECT_TRUE(j["baseline"]["deterministic"].get<bool>());
  EXPECT_GT(baseline, 0.8);
  ASSERT_EQ(j["layers"].size(), 3u);
  const char* names[] = {"fc1", "fc2", "fc3"};
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& row = j["layers"][i];
    EXPECT_EQ(row["layer"], names[i]);
    EXPECT_GT(row["weights"].get<int>(), 0);
    EXPECT_EQ(row["result"]["trials"], 3);
    EXPECT_LT(accuracy(row["result"]), baseline - 0.2) << names[i];
    EXPECT_NE(table.find(names[i]), std::string::npos) << table;
  }
  EXPECT_EQ(j["faults"]["channel"], "flip");
  EXPECT_EQ(j["faults"]["p"], 0.5);
  EXPECT_NE(table.find("baseline"), std::string::npos) << table;
}

TEST_F(SensitivityCommand, ZeroRateLeavesEveryLayerAtTheBaseline) {
  const auto j = sensitivity("--p 0 --trials 2");
  ASSERT_EQ(j["layers"].size(), 3u);
  for (const auto& row : j["layers"]) {
    EXPECT_EQ(row["result"]["accuracy_mean"], j["baseline"]["accuracy_mean"]) << row["layer"];
    EXPECT_TRUE(row["result"]["deterministic"].get<bool>());
  }
}

TEST_F(SensitivityCommand, FaultsAreReproducibleAndWrittenToAFile) {
  const std::string out = dir_ + "/sens.json";
  const auto r = run_axsim(base() + "--p 0.05 --trials 2 -o " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(axsim::testing::read_text(out));
  EXPECT_EQ(j["layers"], sensitivity("--p 0.05 --trials 2")["layers"]);
  EXPECT_GT(j["layers"][0]["result"]["ci95_half_width"].get<double>(), 0.0);
}

TEST_F(SensitivityCommand, BadArgumentsAreClearErrors) {
  auto r = run_axsim(base() + "--channel flop --p 0.1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("flip"), std::string::npos) << r.err;
  r = run_axsim(base() + "--random --p 0.1");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run_axsim("sensitivity --data mnist:data/mnist:test");
  EXPECT_EQ(r.exit_code, 2) << r.err;
}
