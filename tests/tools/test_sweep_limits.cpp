// An experiment file cannot make `axsim sweep` expand more points than it can hold: a grid of a few short
// lists (4^6 combinations here) is an InputError naming the file and the line of the list that crosses
// 10000 points, before any point is built; nothing is written.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/tools/cli_runner.hpp"

using axsim::testing::run_axsim;
namespace fs = std::filesystem;

TEST(SweepLimits, AGridOfMoreThan10000PointsIsRefusedBeforeExpanding) {
  const fs::path dir = fs::temp_directory_path() / ("axsim_sweep_limits_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path exp = dir / "big.yaml";
  std::ofstream(exp) << "version: 1\n"
                        "name: big\n"
                        "train: "
                     << AXSIM_SOURCE_DIR
                     << "/configs/train/mlp-mnist.yaml\n"
                        "grid:\n"
                        "  train.training.epochs: [1, 2, 3, 4]\n"                      // line 5: 4 points
                        "  train.training.batch_size: [16, 32, 64, 128]\n"             // 16
                        "  train.training.optimizer.lr: [0.1, 0.2, 0.3, 0.4]\n"        // 64
                        "  train.seed: [1, 2, 3, 4]\n"                                 // 256
                        "  train.network.hidden.0: [8, 16, 32, 64]\n"                  // 1024
                        "  train.network.hidden.1: [8, 16, 32, 64]\n"                  // line 10: 4096
                        "  train.training.optimizer.momentum: [0, 0.5, 0.9, 0.99]\n";  // line 11: 16384
  const fs::path out = dir / "out";
  const auto r = run_axsim("sweep " + exp.string() + " -o " + out.string());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("big.yaml:line 11"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("at most 10000 points"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("16384 points"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
  fs::remove_all(dir);
}

// Found by tools/fuzz.sh (kept as tests/fuzz/corpus/experiment/new-key-bytes-yaml-cannot-write.yaml): a `set:` key that adds a new leaf
// with bytes YAML cannot write back (here a control character) was accepted and produced a point
// config.yaml that does not parse. New keys must look like every key axsim reads.
TEST(SweepLimits, ANewKeyWithBytesOutsideKeyCharactersIsRefused) {
  const fs::path dir = fs::temp_directory_path() / ("axsim_sweep_keys_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path exp = dir / "keys.yaml";
  std::ofstream(exp) << "version: 1\n"
                        "name: keys\n"
                        "train: "
                     << AXSIM_SOURCE_DIR
                     << "/configs/train/mlp-mnist.yaml\n"
                        "set:\n"
                        "  \"train.training.bad\\x01key\": 1\n";
  const fs::path out = dir / "out";
  const auto r = run_axsim("sweep " + exp.string() + " -o " + out.string());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("keys.yaml:line 5"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("a new key made of letters, digits"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
  fs::remove_all(dir);
}
