// axsim report end to end: run directories made by the real `axsim train` and `axsim sim` on a tiny MLP, rendered
// into report.html / report.json / CSVs; every number the page shows equals report.json; user strings are
// escaped; bad input is a clear error that writes nothing; the page renders in headless Chromium.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "tests/tools/cli_runner.hpp"

using axsim::testing::read_text;
using axsim::testing::run_axsim;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A run directory name full of HTML: it must appear escaped, never raw.
const std::string kNastyName = "r<b>&'\"x";

class ReportCommand : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(std::string(AXSIM_SOURCE_DIR) + "/data/mnist/t10k-labels-idx1-ubyte")) return;
    dir_ = (fs::temp_directory_path() / ("axsim_report_" + std::to_string(::getpid()))).string();
    fs::create_directories(dir_);
    auto r = run_axsim(
        "train configs/train/mlp-mnist.yaml -p data.limit_train=1000 -p data.limit_test=200 "
        "-p training.epochs=2 -p training.threads=1 -q -o " +
        dir_ + "/train");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string sim = "sim --model " + dir_ +
                            "/train/model.safetensors --hw configs/hw/flexflow-16x16.yaml "
                            "--data mnist:data/mnist:test --inferences 24 -q ";
    r = run_axsim(sim + "-o " + dir_ + "/nominal");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run_axsim(sim + "--trials 4 --schedule configs/schedules/per-layer.yaml -o " + dir_ + "/per-layer");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // A voltage schedule over simulated time: weights at 0.66 V after 20 us, the logic at 0.9 V.
    std::ofstream(dir_ + "/timed.yaml") << "version: 1\nname: timed\ndomains:\n  weight_sram:\n"
                                           "    - {at: 20us, voltage: 0.66V}\n  logic:\n    - {voltage: 0.9V}\n";
    r = run_axsim(sim + "--trials 3 --schedule " + dir_ + "/timed.yaml -o " + dir_ + "/timed");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    fs::copy(dir_ + "/timed", dir_ + "/" + kNastyName, fs::copy_options::recursive);
    // A LaNMax training run (learned per-layer fault rates), when Fashion-MNIST is installed.
    if (fs::exists(std::string(AXSIM_SOURCE_DIR) + "/data/fashion-mnist/t10k-labels-idx1-ubyte")) {
      r = run_axsim(
          "train configs/train/lanmax-fashion.yaml -p data.limit_train=600 -p data.limit_test=200 "
          "-p training.epochs=3 -p training.threads=1 -q -o " +
          dir_ + "/lanmax");
      ASSERT_EQ(r.exit_code, 0) << r.err;
      lanmax_ = " " + dir_ + "/lanmax";
    }
    r = run_axsim("report " + dir_ + "/nominal " + dir_ + "/per-layer " + dir_ + "/timed '" + dir_ +
                  "/r<b>&'\\''\"x' " + dir_ + "/train" + lanmax_ + " -o " + dir_ + "/out/report.html");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    html_ = read_text(dir_ + "/out/report.html");
    report_ = json::parse(read_text(dir_ + "/out/report.json"));
  }
  static void TearDownTestSuite() {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  void SetUp() override {
    if (dir_.empty()) GTEST_SKIP() << "MNIST not installed (tools/setup.sh)";
  }
  static std::string dir_, html_, lanmax_;
  static json report_;
};
std::string ReportCommand::dir_, ReportCommand::html_, ReportCommand::lanmax_;
json ReportCommand::report_;

int count_of(const std::string& text, const std::string& part) {
  int n = 0;
  for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// Parses "12.34 %", "1.234 nJ", "660 mV", "24", "0.001234" back to a value in report.json's units.
double parse_shown(const std::string& text, const std::string& unit) {
  std::size_t used = 0;
  double v = std::stod(text, &used);
  std::string rest = text.substr(used);
  while (!rest.empty() && rest.front() == ' ') rest.erase(0, 1);
  if (unit == "percent") return v / 100;
  if (unit != "si" || rest.empty()) return v;
  static const std::map<std::string, double> prefix{{"f", 1e-15},       {"p", 1e-12}, {"n", 1e-9}, {"u", 1e-6},
                                                    {"\xC2\xB5", 1e-6}, {"m", 1e-3},  {"k", 1e3},  {"M", 1e6},
                                                    {"G", 1e9},         {"T", 1e12}};
  for (const auto& [p, scale] : prefix)
    if (rest.rfind(p, 0) == 0 && rest.size() > p.size()) return v * scale;
  return v;
}

}  // namespace

TEST_F(ReportCommand, WritesThePageTheJsonAndTheCsvs) {
  for (const char* f : {"report.html", "report.json", "report_runs.csv", "report_layers.csv", "report_energy.csv"})
    EXPECT_TRUE(fs::exists(dir_ + "/out/" + f)) << f;
  const std::size_t runs_expected = lanmax_.empty() ? 5 : 6;
  ASSERT_EQ(report_["runs"].size(), runs_expected);
  EXPECT_EQ(report_["format"], "axsim-report");
  // Four simulation runs on the Pareto chart; the train run has no energy.
  EXPECT_EQ(report_["pareto"]["points"].size(), 4u);
  EXPECT_TRUE(report_["runs"][4].contains("train"));
  EXPECT_FALSE(report_["runs"][4].contains("sim"));
  const std::string runs = read_text(dir_ + "/out/report_runs.csv");
  EXPECT_EQ(count_of(runs, "\n"), int(runs_expected) + 1);  // header + one line per run
  EXPECT_EQ(runs.rfind("run,dir,network,hardware,schedule,accuracy,", 0), 0u);
}

TEST_F(ReportCommand, PageHasEveryChartAndNoScript) {
  for (const char* id :
       {"id=\"accuracy\"", "id=\"energy-components\"", "id=\"pareto\"", "id=\"run0-energy-layers\"",
        "id=\"run0-cycles\"", "id=\"run0-utilization\"", "id=\"run2-voltage\"", "id=\"run4-train-accuracy\""})
    EXPECT_NE(html_.find(id), std::string::npos) << id;
  EXPECT_EQ(html_.find("<script"), std::string::npos);
  EXPECT_EQ(html_.find("http://www.w3.org/2000/svg\""), html_.find("http://"));  // only the SVG namespace, no fetches
  EXPECT_EQ(html_.find("https://"), std::string::npos);
  // Per-layer assignment and per-trial distribution.
  EXPECT_NE(html_.find("weight p"), std::string::npos);
  EXPECT_NE(html_.find("I_max"), std::string::npos);
  EXPECT_GE(count_of(html_, "class=\"mark pareto\""), 1);
  EXPECT_EQ(count_of(html_, "/accuracy/per_trial/"), 1 + 4 + 3 + 3);
  // The per-layer schedule lowers the weight voltage of fc2 to 0.66 V.
  bool found_fc2 = false;
  for (const auto& l : report_["runs"][1]["sim"]["layers"])
    if (l["name"] == "fc2") {
      found_fc2 = true;
      EXPECT_NEAR(l["weight_voltage_v"].get<double>(), 0.66, 1e-9);
      EXPECT_GT(l["weight_fault_rate"].get<double>(), 0.0);
    }
  EXPECT_TRUE(found_fc2);
  // The timed schedule: the weight rail steps down during chip 0.
  const json& w = report_["runs"][2]["sim"]["voltage_schedule"]["domains"]["weight_sram"];
  ASSERT_GE(w.size(), 2u);
  EXPECT_NEAR(w.back()["voltage_v"].get<double>(), 0.66, 1e-9);
}

TEST_F(ReportCommand, TrainRunsShowAccuracyPerEpochAndLearnedFaultRates) {
  const json& t = report_["runs"][4]["train"];
  EXPECT_EQ(t["epochs"].size(), 2u);
  if (lanmax_.empty()) GTEST_SKIP() << "Fashion-MNIST not installed: no LaNMax run";
  const json& l = report_["runs"][5]["train"];
  ASSERT_TRUE(l.contains("p_per_layer"));
  EXPECT_EQ(l["p_per_layer"].size(), 3u);  // fc1, fc2, fc3
  for (const auto& [layer, points] : l["p_per_layer"].items()) EXPECT_EQ(points.size(), 3u) << layer;
  EXPECT_NE(html_.find("id=\"run5-train-p\""), std::string::npos);
  EXPECT_NE(html_.find("/runs/5/train/p_per_layer/fc1/0/p"), std::string::npos);
}

TEST_F(ReportCommand, UserStringsAreEscaped) {
  EXPECT_EQ(html_.find(kNastyName), std::string::npos);
  EXPECT_EQ(html_.find("<b>&"), std::string::npos);
  EXPECT_NE(html_.find("r&lt;b&gt;&amp;&#39;&quot;x"), std::string::npos);
}

TEST_F(ReportCommand, EveryNumberInThePageEqualsReportJson) {
  const std::regex attr("data-ptr=\"([^\"]*)\" data-value=\"([^\"]*)\"");
  int checked = 0;
  for (auto it = std::sregex_iterator(html_.begin(), html_.end(), attr); it != std::sregex_iterator(); ++it) {
    const std::string ptr = (*it)[1], value = (*it)[2];
    const json& j = report_.at(json::json_pointer(ptr));
    ASSERT_TRUE(j.is_number()) << ptr;
    EXPECT_EQ(j.get<double>(), std::stod(value)) << ptr;
    ++checked;
  }
  EXPECT_GT(checked, 100);
  // And the text shown is that value in the stated unit (4 significant digits, percent with 2 decimals).
  const std::regex span(
      "<span class=\"num\" data-ptr=\"([^\"]*)\" data-value=\"([^\"]*)\" data-unit=\"([a-z]*)\">([^<]*)</span>");
  int shown = 0;
  for (auto it = std::sregex_iterator(html_.begin(), html_.end(), span); it != std::sregex_iterator(); ++it) {
    const double v = report_.at(json::json_pointer((*it)[1].str())).get<double>();
    const double s = parse_shown((*it)[4], (*it)[3]);
    const double tol = (*it)[3] == "percent" ? 0.00005 + 1e-12 : std::max(std::abs(v) * 1e-3, 1e-300);
    EXPECT_NEAR(s, v, tol) << (*it)[1] << " shows '" << (*it)[4] << "'";
    ++shown;
  }
  EXPECT_GT(shown, 50);
}

TEST_F(ReportCommand, ParetoFrontIsTheNonDominatedRuns) {
  const json& pts = report_["pareto"]["points"];
  int on_front = 0;
  for (const auto& p : pts) {
    bool dominated = false;
    for (const auto& q : pts) {
      const double ep = p["energy_per_inference_j"], ap = p["accuracy"], eq = q["energy_per_inference_j"],
                   aq = q["accuracy"];
      if (eq <= ep && aq >= ap && (eq < ep || aq > ap)) dominated = true;
    }
    EXPECT_EQ(p["on_front"].get<bool>(), !dominated) << p["name"];
    on_front += !dominated;
  }
  EXPECT_GE(on_front, 1);
}

TEST_F(ReportCommand, LedgerTotalsReconcileInTheRunsResults) {
  for (const char* run : {"nominal", "per-layer", "timed"}) {
    const json r = json::parse(read_text(dir_ + "/" + run + "/results.json"));
    const json& rec = r["energy"]["ledger"]["reconciliation"];
    const double total = rec["total_j"];
    EXPECT_GT(total, 0);
    for (const char* k : {"sum_over_rows_j", "sum_over_components_j", "sum_over_actions_j"})
      EXPECT_NEAR(rec[k].get<double>(), total, total * 1e-12) << run << " " << k;
    EXPECT_TRUE(fs::exists(dir_ + "/" + run + "/energy_actions.csv"));
  }
}

TEST_F(ReportCommand, BadInputIsAClearErrorAndWritesNothing) {
  const std::string empty = dir_ + "/empty", out = dir_ + "/bad/report.html";
  fs::create_directories(empty);
  auto r = run_axsim("report " + dir_ + "/nominal " + empty + " -o " + out);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find(empty + "/results.json"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ + "/bad"));

  const std::string broken = dir_ + "/broken";
  fs::create_directories(broken);
  std::ofstream(broken + "/results.json") << "{\"format\": \"axsim-sim-results\", \"accuracy\": {";
  r = run_axsim("report " + broken + " -o " + out);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find(broken + "/results.json"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ + "/bad"));

  std::ofstream(broken + "/results.json") << "{\"format\": \"axsim-sim-results\", \"accuracy\": {\"mean\": 0.5}}";
  r = run_axsim("report " + broken + " -o " + out);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("accuracy.trials"), std::string::npos) << r.err;

  r = run_axsim("report " + dir_ + "/does-not-exist -o " + out);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("does-not-exist"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ + "/bad"));

  // A report over an existing one is replaced whole; a failed one leaves the old files as they were.
  const std::string before = read_text(dir_ + "/out/report.json");
  r = run_axsim("report " + empty + " -o " + dir_ + "/out/report.html");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(read_text(dir_ + "/out/report.json"), before);
}

// The page in a real browser: headless Chromium loads it from disk (no network), the DOM has every chart and
// every data mark, and the console reports no script error.
TEST_F(ReportCommand, RendersInHeadlessChromium) {
  if (std::system("command -v chromium >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "chromium not installed (apt-get install -y chromium)";
  const std::string flags =
      "--headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking "
      "--disable-component-update --disable-sync --enable-logging=stderr --v=0 --user-data-dir=" +
      dir_ + "/chrome ";
  const std::string url = "file://" + dir_ + "/out/report.html";
  const std::string dom = dir_ + "/dom.html", err = dir_ + "/chrome.err", png = dir_ + "/report.png";
  int rc = std::system(("timeout 180 chromium " + flags + "--dump-dom '" + url + "' >" + dom + " 2>" + err).c_str());
  ASSERT_EQ(rc, 0) << read_text(err);
  const std::string d = read_text(dom), e = read_text(err);
  EXPECT_EQ(count_of(d, "<svg"), count_of(html_, "<svg"));
  EXPECT_GE(count_of(d, "<svg"), 8);
  EXPECT_EQ(count_of(d, "data-ptr="), count_of(html_, "data-ptr="));
  for (const char* id : {"id=\"accuracy\"", "id=\"energy-components\"", "id=\"pareto\"", "id=\"run2-voltage\""})
    EXPECT_NE(d.find(id), std::string::npos) << id;
  EXPECT_EQ(e.find("Uncaught"), std::string::npos) << e;
  EXPECT_EQ(e.find("CONSOLE"), std::string::npos) << e;
  rc = std::system(("timeout 180 chromium " + flags + "--window-size=1200,3000 --screenshot=" + png + " '" + url +
                    "' >/dev/null 2>>" + err)
                       .c_str());
  ASSERT_EQ(rc, 0) << read_text(err);
  ASSERT_TRUE(fs::exists(png));
  EXPECT_GT(fs::file_size(png), 20000u);  // a blank page compresses to a few kB
  if (const char* keep = std::getenv("AXSIM_KEEP_SCREENSHOT"))
    fs::copy_file(png, keep, fs::copy_options::overwrite_existing);
}
