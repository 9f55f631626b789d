// axsim run: the default experiment (train hardware-aware, deploy, simulate under voltage assignments, report),
// reduced by -p overrides to seconds.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/tools/cli_runner.hpp"

using axsim::testing::read_text;
using axsim::testing::run_axsim;
namespace fs = std::filesystem;

namespace {

bool have_mnist() { return fs::exists(std::string(AXSIM_SOURCE_DIR) + "/data/mnist/t10k-labels-idx1-ubyte"); }

const char* kReduced =
    " -p train.training.epochs=1 -p train.data.limit_train=3000 -p train.data.limit_test=500"
    " -p sim.inferences=100 -p sim.trials=2";

}  // namespace

TEST(RunCommand, DefaultExperimentTrainsSimulatesAndReports) {
  if (!have_mnist()) GTEST_SKIP() << "MNIST not installed (tools/setup.sh)";
  const fs::path out = fs::temp_directory_path() / ("axsim_run_" + std::to_string(::getpid()));
  fs::remove_all(out);
  // No experiment argument: configs/experiments/default.yaml.
  const auto r = run_axsim("run -o " + out.string() + kReduced);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto results = nlohmann::json::parse(read_text((out / "results.json").string()));
  EXPECT_EQ(results["experiment"], "default");
  ASSERT_EQ(results["points"].size(), 4u);  // four weight-SRAM voltage assignments, one training run
  const auto& nominal = results["points"][0];
  const auto& low = results["points"][3];
  EXPECT_EQ(nominal["train"]["method"], "erasure");
  EXPECT_EQ(nominal["train"]["id"], low["train"]["id"]);
  EXPECT_EQ(nominal["train"]["epochs"].get<int>(), 1);
  EXPECT_FALSE(low["sim"]["deterministic"].get<bool>());  // 0.66 V: 1 % bit errors in the weights
  EXPECT_LT(low["sim"]["energy_per_inference_j"].get<double>(), nominal["sim"]["energy_per_inference_j"].get<double>());
  EXPECT_NE(r.err.find("[4/4]"), std::string::npos) << r.err;  // a progress line per point
#if __has_include("tools/cli/report_render.hpp")
  EXPECT_TRUE(fs::exists(out / "report.html"));
  EXPECT_NE(r.out.find("report.html"), std::string::npos) << r.out;  // where the report is
#endif
  fs::remove_all(out);
}

TEST(RunCommand, MissingExperimentIsAClearError) {
  const auto r = run_axsim("run /nonexistent/experiment.yaml -o /tmp/axsim_run_never");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("/nonexistent/experiment.yaml"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists("/tmp/axsim_run_never"));
}
