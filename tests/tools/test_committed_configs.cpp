// Every training recipe committed under configs/train/ must run: strict keys, method options and
// network presets are checked when a run starts, so a recipe with a stale key would otherwise only fail
// in a user's hands (or an hour into an experiment). One epoch on a tiny slice of the data each.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/tools/cli_runner.hpp"

using axsim::testing::read_text;
using axsim::testing::run_axsim;
namespace fs = std::filesystem;

namespace {

bool have_dataset(const std::string& folder, const std::string& file) {
  return fs::exists(std::string(AXSIM_SOURCE_DIR) + "/data/" + folder + "/" + file);
}

}  // namespace

TEST(CommittedConfigs, EveryTrainingRecipeRunsOneSmallEpoch) {
  if (!have_dataset("mnist", "t10k-labels-idx1-ubyte") || !have_dataset("fashion-mnist", "t10k-labels-idx1-ubyte"))
    GTEST_SKIP() << "MNIST / Fashion-MNIST not installed (tools/setup.sh)";
  std::vector<fs::path> recipes;
  for (const auto& entry : fs::directory_iterator(fs::path(AXSIM_SOURCE_DIR) / "configs" / "train"))
    if (entry.path().extension() == ".yaml") recipes.push_back(entry.path());
  std::sort(recipes.begin(), recipes.end());
  ASSERT_GE(recipes.size(), 10u) << "configs/train/ lost its recipes";
  const fs::path out_root = fs::temp_directory_path() / ("axsim_recipes_" + std::to_string(::getpid()));
  for (const auto& recipe : recipes) {
    SCOPED_TRACE(recipe.filename().string());
    const fs::path out = out_root / recipe.stem();
    std::string extra;  // analog recipes evaluate on their own test set after training: keep it small too
    if (read_text(recipe.string()).find("evaluate:") != std::string::npos)
      extra = " -p method.evaluate.limit=128 -p method.evaluate.trials=1";
    const auto r = run_axsim("train " + recipe.string() + " -o " + out.string() +
                             " -p training.epochs=1 -p data.limit_train=256 -p data.limit_test=128"
                             " -p training.threads=1 -q" +
                             extra);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto history = nlohmann::json::parse(read_text((out / "train.json").string()));
    ASSERT_EQ(history.at("epochs").size(), 1u);
    EXPECT_TRUE(fs::exists(out / "model.safetensors"));
  }
  fs::remove_all(out_root);
}
