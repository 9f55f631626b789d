// axsim sweep end to end on a tiny experiment (2 training runs x 2 voltage assignments): outputs, resume after
// an interruption equals an uninterrupted sweep, results independent of --jobs, MPI with 2 ranks equals the local
// sweep, bad experiments are clear errors that write nothing.
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

fs::path tmp_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("axsim_sweep_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(d);
  return d;
}

std::string write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
  return path.string();
}

const std::string kRepo = AXSIM_SOURCE_DIR;

// Small enough for seconds: 2000 training samples, one epoch, a 32-unit MLP, 100 simulated inputs per chip.
std::string tiny_experiment(const fs::path& dir, const std::string& extra = "") {
  return write_file(dir / "tiny.yaml",
                    "version: 1\n"
                    "name: tiny\n"
                    "seed: 3\n"
                    "train: " +
                        kRepo +
                        "/configs/train/mlp-mnist.yaml\n"
                        "set:\n"
                        "  train.data.limit_train: 2000\n"
                        "  train.data.limit_test: 500\n"
                        "  train.training.epochs: 1\n"
                        "  train.network.hidden: [32]\n"
                        "  train.method: {type: erasure, p: 0.01}\n"
                        "sim:\n"
                        "  hw: " +
                        kRepo +
                        "/configs/hw/flexflow-16x16.yaml\n"
                        "  schedule:\n"
                        "    version: 1\n"
                        "    name: weights\n"
                        "    domains:\n"
                        "      weight_sram:\n"
                        "        - {voltage: 1.1V}\n"
                        "  trials: 2\n"
                        "  inferences: 100\n"
                        "grid:\n"
                        "  train.method.p: [0.01, 0.05]\n"
                        "  schedule.domains.weight_sram.0.voltage: [1.1V, 0.66V]\n" +
                        extra);
}

// Results lines by point id (order of results.jsonl depends on which job finished first).
std::map<std::string, nlohmann::json> results_by_point(const fs::path& dir) {
  std::map<std::string, nlohmann::json> out;
  std::ifstream in(dir / "results.jsonl");
  std::string line;
  while (std::getline(in, line))
    if (nlohmann::json::accept(line)) {  // a line cut mid-write (the interruption test) is not a result
      auto j = nlohmann::json::parse(line);
      out[j["point"].get<std::string>()] = j;
    }
  return out;
}

}  // namespace

TEST(SweepCommand, RunsEveryPointAndResumesAfterAnInterruptionWithTheSameResults) {
  if (!have_mnist()) GTEST_SKIP() << "MNIST not installed (tools/setup.sh)";
  const fs::path base = tmp_dir("resume");
  const std::string exp = tiny_experiment(base);
  const fs::path full = base / "full";
  auto r = run_axsim("sweep " + exp + " -o " + full.string() + " --jobs 2 --no-report");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto a = results_by_point(full);
  ASSERT_EQ(a.size(), 4u);
  // Grid order: last key fastest; points with the same recipe share one training run.
  EXPECT_EQ(a.at("p000")["params"]["train.method.p"].get<double>(), 0.01);
  EXPECT_EQ(a.at("p001")["params"]["sim.schedule.domains.weight_sram.0.voltage"], "0.66V");
  EXPECT_EQ(a.at("p000")["train"]["id"], a.at("p001")["train"]["id"]);
  EXPECT_NE(a.at("p000")["train"]["id"], a.at("p002")["train"]["id"]);
  for (const auto& [id, line] : a) {
    EXPECT_TRUE(fs::exists(full / "points" / id / "config.yaml")) << id;
    EXPECT_TRUE(fs::exists(full / "points" / id / "sim" / "results.json")) << id;
    // A configuration without faults is exact in one trial; with faults every requested chip runs.
    EXPECT_EQ(line["sim"]["trials"].get<int>(), line["sim"]["deterministic"].get<bool>() ? 1 : 2);
    EXPECT_EQ(line["sim"]["inferences_per_trial"].get<int>(), 100);
    EXPECT_GT(line["sim"]["accuracy"].get<double>(), 0.3) << id;  // 1 epoch on 2000 samples: far above chance
  }
  // Faults at 0.66 V (1 % bit errors) change the results; nominal voltage is fault-free.
  EXPECT_TRUE(a.at("p000")["sim"]["deterministic"].get<bool>());
  EXPECT_FALSE(a.at("p001")["sim"]["deterministic"].get<bool>());
  EXPECT_LT(a.at("p001")["sim"]["energy_per_inference_j"].get<double>(),
            a.at("p000")["sim"]["energy_per_inference_j"].get<double>());
  // The point's config.yaml is the resolved configuration with the swept value in place.
  const std::string config = read_text((full / "points" / "p003" / "config.yaml").string());
  EXPECT_NE(config.find("0.66V"), std::string::npos) << config;
  EXPECT_NE(config.find("0.05"), std::string::npos) << config;
  EXPECT_TRUE(fs::exists(full / "results.json"));
  EXPECT_TRUE(fs::exists(full / "results.csv"));

  // An interruption after two recorded points, the third line cut mid-write: the rerun (with one job this time)
  // runs only the two missing points and ends with the same results.
  const fs::path cut = base / "cut";
  fs::copy(full, cut, fs::copy_options::recursive);
  {
    std::ifstream in(full / "results.jsonl");
    std::string l1, l2, l3;
    std::getline(in, l1);
    std::getline(in, l2);
    std::getline(in, l3);
    std::ofstream(cut / "results.jsonl", std::ios::trunc) << l1 << "\n" << l2 << "\n" << l3.substr(0, l3.size() / 2);
    fs::remove(cut / "results.json");
    const auto kept = results_by_point(cut);
    ASSERT_EQ(kept.size(), 2u);
  }
  const auto finished_before = results_by_point(cut);
  std::map<std::string, fs::file_time_type> stamps;
  for (const auto& [id, line] : finished_before) stamps[id] = fs::last_write_time(cut / "points" / id / "point.json");
  r = run_axsim("sweep " + exp + " -o " + cut.string() + " --jobs 1 --no-report");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("2 already finished"), std::string::npos) << r.err;
  for (const auto& [id, stamp] : stamps)
    EXPECT_EQ(fs::last_write_time(cut / "points" / id / "point.json"), stamp) << id << " was run again";
  EXPECT_EQ(results_by_point(cut), a);
  EXPECT_EQ(nlohmann::json::parse(read_text((cut / "results.json").string())),
            nlohmann::json::parse(read_text((full / "results.json").string())));

  // A finished sweep started again runs nothing.
  r = run_axsim("sweep " + exp + " -o " + cut.string() + " --no-report");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("4 already finished"), std::string::npos) << r.err;
  fs::remove_all(base);
}

TEST(SweepCommand, MpiWithTwoRanksGivesTheLocalResults) {
  if (!have_mnist()) GTEST_SKIP() << "MNIST not installed (tools/setup.sh)";
  if (std::system("command -v mpirun >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "mpirun not installed (Debian: openmpi-bin libopenmpi-dev)";
  const fs::path base = tmp_dir("mpi");
  const std::string exp = tiny_experiment(base);
  const fs::path local = base / "local", mpi = base / "mpi";
  auto r = run_axsim("sweep " + exp + " -o " + local.string() + " --jobs 2 --no-report -q");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string log = (base / "mpi.log").string();
  const std::string cmd = "cd " + kRepo + " && mpirun --allow-run-as-root --oversubscribe -np 2 " + AXSIM_BIN +
                          " sweep " + exp + " -o " + mpi.string() + " --no-report >" + log + " 2>&1";
  const int status = std::system(cmd.c_str());
  ASSERT_EQ(status, 0) << read_text(log);
  const std::string out = read_text(log);
  if (out.find("built without MPI") != std::string::npos) GTEST_SKIP() << "this axsim was built without MPI";
  EXPECT_NE(out.find("2 MPI ranks"), std::string::npos) << out;
  EXPECT_NE(out.find("(rank 1)"), std::string::npos) << out;  // rank 1 trained one of the two networks
  EXPECT_EQ(results_by_point(mpi), results_by_point(local));
  for (const char* id : {"p000", "p001", "p002", "p003"})
    EXPECT_TRUE(fs::exists(mpi / "points" / id / "sim" / "results.json")) << id;
  fs::remove_all(base);
}

TEST(SweepCommand, BadExperimentsAreClearErrorsAndWriteNothing) {
  const fs::path base = tmp_dir("bad");
  const fs::path out = base / "out";
  // A swept key the base configuration does not have.
  auto exp = tiny_experiment(base / "a", "  train.method.pp: [1, 2]\n");
  auto r = run_axsim("sweep " + exp + " -o " + out.string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("tiny.yaml:line 24"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("did you mean 'train.method.p'"), std::string::npos) << r.err;
  // A misspelled section of the path.
  exp = tiny_experiment(base / "b", "  sim.hw.pe_aray.rows: [8]\n");
  r = run_axsim("sweep " + exp + " -o " + out.string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("did you mean 'sim.hw.pe_array'"), std::string::npos) << r.err;
  // A value the consumer rejects: the error names the recipe key and the point.
  exp = tiny_experiment(base / "c", "  train.training.epochs: [0]\n");
  r = run_axsim("sweep " + exp + " -o " + out.string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("training.epochs"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("point p000"), std::string::npos) << r.err;
  // Unknown top-level key, malformed YAML, missing file.
  exp = write_file(base / "d.yaml", "version: 1\ntrain: x.yaml\ngird: {seed: [1]}\n");
  r = run_axsim("sweep " + exp + " -o " + out.string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("did you mean 'grid'"), std::string::npos) << r.err;
  exp = write_file(base / "e.yaml", "version: 1\ngrid: {seed: [1, 2}\n");
  r = run_axsim("sweep " + exp + " -o " + out.string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("e.yaml:line 2"), std::string::npos) << r.err;
  r = run_axsim("sweep " + (base / "missing.yaml").string() + " -o " + out.string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("missing.yaml"), std::string::npos) << r.err;
  r = run_axsim("sweep " + tiny_experiment(base / "f") + " -o " + out.string() + " -p sim.trails=3");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("trials"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
  // A directory of another experiment is not resumed.
  fs::create_directories(out);
  write_file(out / "plan.json",
             R"({"experiment": "other", "points": [{"point": "p000", "config_hash": "0", "params": {}}]})");
  r = run_axsim("sweep " + tiny_experiment(base / "g") + " -o " + out.string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("plan.json"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out / "results.jsonl"));
  fs::remove_all(base);
}
