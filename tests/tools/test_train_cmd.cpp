// axsim train end to end on a small slice of MNIST: outputs, determinism, resume, bad input.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/tools/cli_runner.hpp"
#include "workloads/artifact/safetensors.hpp"

using axsim::testing::read_text;
using axsim::testing::run_axsim;
namespace fs = std::filesystem;

namespace {

bool have_mnist() { return fs::exists(std::string(AXSIM_SOURCE_DIR) + "/data/mnist/t10k-labels-idx1-ubyte"); }

std::string tmp_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("axsim_train_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(d);
  return d.string();
}

// Same tensors (names, shapes, values); metadata holds wall times, so files differ byte-wise.
bool same_tensors(const std::string& a, const std::string& b) {
  const auto fa = axsim::artifact::SafetensorsFile::load(a), fb = axsim::artifact::SafetensorsFile::load(b);
  if (fa.names() != fb.names()) return false;
  for (const auto& n : fa.names())
    if (fa.tensor(n).shape != fb.tensor(n).shape || fa.tensor(n).bytes != fb.tensor(n).bytes) return false;
  return true;
}

const char* kSmall =
    "train configs/train/mlp-mnist.yaml -p data.limit_train=6000 -p data.limit_test=1000 -p training.threads=1 -q ";

}  // namespace

TEST(TrainCommand, WritesArtifactAndHistoryAndIsDeterministic) {
  if (!have_mnist()) GTEST_SKIP() << "MNIST not installed (tools/setup.sh)";
  const std::string a = tmp_dir("a"), b = tmp_dir("b");
  auto r = run_axsim(std::string(kSmall) + "-p training.epochs=2 -o " + a);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* f : {"model.safetensors", "train.json", "config.yaml", "checkpoint.safetensors"})
    EXPECT_TRUE(fs::exists(fs::path(a) / f)) << f;
  const auto j = nlohmann::json::parse(read_text(a + "/train.json"));
  ASSERT_EQ(j["epochs"].size(), 2u);
  EXPECT_GT(j["final_test_accuracy"].get<double>(), 0.80);  // 6000 samples, 2 epochs: well above chance
  EXPECT_LT(j["epochs"][1]["train_loss"].get<double>(), j["epochs"][0]["train_loss"].get<double>());
  r = run_axsim(std::string(kSmall) + "-p training.epochs=2 -o " + b);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(same_tensors(a + "/model.safetensors", b + "/model.safetensors"));
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST(TrainCommand, ResumeContinuesExactlyWhereItStopped) {
  if (!have_mnist()) GTEST_SKIP() << "MNIST not installed (tools/setup.sh)";
  const std::string full = tmp_dir("full"), part = tmp_dir("part");
  ASSERT_EQ(run_axsim(std::string(kSmall) + "-p training.epochs=2 -o " + full).exit_code, 0);
  ASSERT_EQ(run_axsim(std::string(kSmall) + "-p training.epochs=1 -o " + part).exit_code, 0);
  const auto r = run_axsim(std::string(kSmall) + "-p training.epochs=2 --resume -o " + part);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(same_tensors(full + "/model.safetensors", part + "/model.safetensors"));
  // A different configuration is not silently resumed.
  const auto bad = run_axsim(std::string(kSmall) + "-p training.epochs=3 -p seed=9 --resume -o " + part);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("checkpoint"), std::string::npos) << bad.err;
  fs::remove_all(full);
  fs::remove_all(part);
}

TEST(TrainCommand, BadConfigsAreClearErrorsAndWriteNothing) {
  const std::string out = tmp_dir("bad");
  auto r = run_axsim(std::string(kSmall) + "-p training.epohcs=2 -o " + out);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("did you mean 'epochs'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("mlp-mnist.yaml"), std::string::npos) << r.err;
  r = run_axsim(std::string(kSmall) + "-p network.hidden=[0] -o " + out);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run_axsim(std::string(kSmall) + "-p data.train=csv:/nonexistent.csv -o " + out);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("/nonexistent.csv"), std::string::npos) << r.err;
  r = run_axsim(std::string(kSmall) + "-p training.optimizer.type=adamw -o " + out);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("adam"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
}
