#include <gtest/gtest.h>

#include <sstream>

#include "tests/tools/cli_runner.hpp"

using axsim::testing::run_axsim;

TEST(ModelCommands, DrumMatchesTheDefinition) {
  // D(100, 4): 100 = 0b1100100, keep 4 bits from the leading one (1100), force LSB: 1101 << 3 = 104.
  const auto r = run_axsim("model drum --k 4 --bits 8", "100 100\n-77 45\n3 5\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // -77 -> 77 = 0b1001101 -> 1001|1 = 1001 << 3 = 72; 45 = 0b101101 -> 1011 << 2 = 44; -72*44 = -3168.
  EXPECT_EQ(r.out, "10816\n-3168\n15\n");
  const auto t = run_axsim("model drum --k 4 --transform", "100\n");
  EXPECT_EQ(t.out, "104\n");
  const auto exact = run_axsim("model drum --k 8", "100 100\n");
  EXPECT_EQ(exact.out, "10000\n");
}

TEST(ModelCommands, BerAndItsInverse) {
  auto r = run_axsim("model ber --vdd 0.66V");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "0.01\n");
  r = run_axsim("model ber --p 0.001");
  EXPECT_EQ(r.out, "0.85\n");
  r = run_axsim("model ber", "0.40V\n1.1V\n");
  EXPECT_EQ(r.out, "0.1\n0\n");
}

TEST(ModelCommands, FaultChannelCorruptsWordsReproducibly) {
  std::string words;
  for (int i = 0; i < 2000; ++i) words += std::to_string(i % 128) + "\n";
  const auto a = run_axsim("model fault --channel bit_mask --bits 8 --p 0.05 --seed 3 --unsigned", words);
  const auto b = run_axsim("model fault --channel bit_mask --bits 8 --p 0.05 --seed 3 --unsigned", words);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  std::istringstream in(a.out);
  int v, i = 0, changed = 0;
  while (in >> v) {
    const int orig = i++ % 128;
    EXPECT_GE(v, 0);
    EXPECT_LE(v, orig);  // bit masking only moves values toward zero
    changed += v != orig;
  }
  EXPECT_EQ(i, 2000);
  EXPECT_GT(changed, 100);
}

TEST(ModelCommands, SweepPrintsATable) {
  const auto r = run_axsim("model sweep --from 0.4V --to 1.1V --step 0.35V");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("400 mV"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("750 mV"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1.1 V"), std::string::npos) << r.out;
}

TEST(CliErrors, BadInputIsAClearErrorWithExitCode2) {
  auto r = run_axsim("model ber --vdd 0.66A");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("expected a voltage"), std::string::npos) << r.err;
  r = run_axsim("modle");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("did you mean 'model'"), std::string::npos) << r.err;
  r = run_axsim("model ber --vdf 1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("did you mean '--vdd'"), std::string::npos) << r.err;
  r = run_axsim("model fault --channel flipp --p 0.1", "1\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("flip"), std::string::npos) << r.err;
  r = run_axsim("model drum --k 4", "1 x\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("line 1"), std::string::npos) << r.err;
  r = run_axsim("model ber --tech /nonexistent.yaml --vdd 1V");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("/nonexistent.yaml"), std::string::npos) << r.err;
}

TEST(CliErrors, HelpForEveryCommand) {
  for (const char* c : {"model ber", "model eta", "model sweep", "model drum", "model fault", "model analog", "train"}) {
    const auto r = run_axsim(std::string(c) + " --help");
    EXPECT_EQ(r.exit_code, 0) << c;
    EXPECT_NE(r.out.find("usage: axsim"), std::string::npos) << c;
  }
}
