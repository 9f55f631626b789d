// Per-layer fault rates end to end on a small LaNMax-trained BinaryConnect MLP with batch norm (the network
// that can only be evaluated in float): `axsim eval --p-from-model` applies the rates the training wrote
// into the artifact, `--layer-p` sets rates by hand, `axsim sensitivity --float` faults one layer at a time.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/tools/cli_runner.hpp"

using axsim::testing::run_axsim;
namespace fs = std::filesystem;

namespace {

class LayerRateCommands : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(std::string(AXSIM_SOURCE_DIR) + "/data/mnist/t10k-labels-idx1-ubyte")) return;
    dir_ = (fs::temp_directory_path() / ("axsim_layer_rates_" + std::to_string(::getpid()))).string();
    const auto r = run_axsim(
        "train configs/train/lanmax-fashion.yaml -p data.train=mnist:data/mnist:train -p "
        "data.test=mnist:data/mnist:test "
        "-p data.limit_train=4000 -p data.limit_test=1000 -p network.hidden=[32,32] -p training.epochs=3 "
        "-p training.threads=1 -p method.alpha=0.1 -q -o " +
        dir_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  void SetUp() override {
    if (dir_.empty()) GTEST_SKIP() << "MNIST not installed (tools/setup.sh)";
  }
  static std::string model() { return dir_ + "/model.safetensors"; }
  static std::string eval_base() {
    return "eval --float --model " + model() + " --data mnist:data/mnist:test -q --threads 1 ";
  }
  static nlohmann::json run_json(const std::string& args) {
    const auto r = run_axsim(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json();
  }
  static std::string dir_;
};
std::string LayerRateCommands::dir_;

double accuracy(const nlohmann::json& result) { return result["accuracy_mean"].get<double>(); }

}  // namespace

TEST_F(LayerRateCommands, PFromModelAppliesTheLearnedRatesOfTheArtifact) {
  std::ifstream in(dir_ + "/train.json");
  const auto learned = nlohmann::json::parse(in)["epochs"].back()["p"];
  const auto j = run_json(eval_base() + "--channel flip --p-from-model --trials 2");
  ASSERT_EQ(j["faults"]["layer_p"].size(), 3u);
  for (const auto& [layer, p] : learned.items())
    EXPECT_NEAR(j["faults"]["layer_p"][layer].get<double>(), p.get<double>(), 1e-6) << layer;
  // The measured accuracy comes from faulty chips: it is not deterministic unless every rate is 0.
  EXPECT_FALSE(j["result"]["deterministic"].get<bool>());
}

TEST_F(LayerRateCommands, LayerPFaultsOnlyTheNamedLayers) {
  const auto clean = run_json(eval_base() + "--trials 1");
  const auto zero = run_json(eval_base() + "--channel flip --layer-p fc1=0 --trials 2");
  EXPECT_EQ(accuracy(zero["result"]), accuracy(clean["result"]));
  const auto random_fc1 = run_json(eval_base() + "--channel flip --layer-p fc1=0.5 --trials 3");
  EXPECT_LT(accuracy(random_fc1["result"]), accuracy(clean["result"]) - 0.2);
  EXPECT_EQ(random_fc1["faults"]["layer_p"]["fc1"], 0.5);
  // Later flags win over the artifact's rates for the layers they name.
  const auto overridden = run_json(eval_base() + "--channel flip --p-from-model --layer-p fc1=0.5 --trials 1");
  EXPECT_EQ(overridden["faults"]["layer_p"]["fc1"], 0.5);
}

TEST_F(LayerRateCommands, BadLayerRatesAreClearErrors) {
  for (const char* bad : {"--layer-p fc1", "--layer-p fc1=2", "--layer-p =0.1", "--layer-p fc1=0.1x"}) {
    const auto r = run_axsim(eval_base() + "--channel flip " + bad);
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_NE(r.err.find("--layer-p"), std::string::npos) << r.err;
  }
  const auto unknown = run_axsim(eval_base() + "--channel flip --layer-p fcx=0.1");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("did you mean 'fc1'"), std::string::npos) << unknown.err;
}

TEST_F(LayerRateCommands, FloatSensitivityFaultsOneLayerAtATime) {
  const auto j = run_json("sensitivity --float --random --trials 3 --model " + model() +
                          " --data mnist:data/mnist:test -q --threads 1");
  EXPECT_EQ(j["mode"], "float");
  const double baseline = accuracy(j["baseline"]);
  EXPECT_GT(baseline, 0.5);
  ASSERT_EQ(j["layers"].size(), 3u);
  for (const auto& row : j["layers"]) {
    EXPECT_GT(row["weights"].get<int>(), 0);
    EXPECT_LT(accuracy(row["result"]), baseline - 0.1) << row["layer"];
  }
  const auto none = run_json("sensitivity --float --p 0 --trials 2 --model " + model() +
                             " --data mnist:data/mnist:test -q --threads 1");
  for (const auto& row : none["layers"]) EXPECT_EQ(accuracy(row["result"]), accuracy(none["baseline"]));
}
