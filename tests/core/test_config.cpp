#include <gtest/gtest.h>

#include "core/config.hpp"
#include "core/error.hpp"

using namespace axsim;

namespace {
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Config, ReadsTypedValuesWithUnits) {
  auto c = ConfigNode::parse("version: 1\nsram:\n  vdd: 0.66V\n  size: 64KiB\n  banks: 4\n  faults: true\n", "hw.yaml");
  auto s = c.child("sram");
  EXPECT_DOUBLE_EQ(s.quantity("vdd", Dim::volt), 0.66);
  EXPECT_DOUBLE_EQ(s.quantity("size", Dim::byte), 65536);
  EXPECT_EQ(s.integer("banks"), 4);
  EXPECT_TRUE(s.boolean("faults"));
  EXPECT_DOUBLE_EQ(s.quantity("freq", Dim::hertz, 1e9), 1e9);
}

TEST(Config, UnknownKeyNamesFileLineAndClosestKey) {
  auto c = ConfigNode::parse("sram:\n  vdd: 0.66V\n  bnaks: 4\n", "hw.yaml");
  const std::string msg = error_of([&] { c.child("sram").expect_keys({"vdd", "banks", "size"}); });
  EXPECT_NE(msg.find("hw.yaml:line 3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("sram.bnaks"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'banks'"), std::string::npos) << msg;
}

TEST(Config, WrongUnitAndMissingKeyAreClear) {
  auto c = ConfigNode::parse("vdd: 0.66A\n", "s.yaml");
  std::string msg = error_of([&] { c.quantity("vdd", Dim::volt); });
  EXPECT_NE(msg.find("key vdd"), std::string::npos) << msg;
  EXPECT_NE(msg.find("voltage"), std::string::npos) << msg;
  msg = error_of([&] { c.integer("banks"); });
  EXPECT_NE(msg.find("banks"), std::string::npos) << msg;
  msg = error_of([&] { ConfigNode::parse("a: [1, 2\n", "bad.yaml"); });
  EXPECT_NE(msg.find("bad.yaml:line"), std::string::npos) << msg;
  msg = error_of([&] { ConfigNode::parse("k: 3\n", "c.yaml").choice("k", {"fast", "cycle"}); });
  EXPECT_NE(msg.find("fast, cycle"), std::string::npos) << msg;
}

TEST(Config, OverridesCreateAndReplaceValues) {
  auto c = ConfigNode::parse("a:\n  b: 1\n", "x.yaml");
  YAML::Node root = c.yaml();
  apply_override(root, "a.b=2");
  apply_override(root, "a.c.d=0.5V");
  ConfigNode o(root, "x.yaml", "");
  EXPECT_EQ(o.child("a").integer("b"), 2);
  EXPECT_DOUBLE_EQ(o.child("a").child("c").quantity("d", Dim::volt), 0.5);
  EXPECT_THROW(apply_override(root, "novalue"), InputError);
  EXPECT_THROW(apply_override(root, "a.b.x=1"), InputError);
}

TEST(Config, IntegersAreDecimalOrHexNeverOctal) {
  auto c = ConfigNode::parse("a: 010\nb: 0x10\nc: -9223372036854775808\nd: 9223372036854775808\ne: 12abc\nf: -0x1\n",
                             "i.yaml");
  EXPECT_EQ(c.integer("a"), 10);  // base-0 parsing read this as octal 8
  EXPECT_EQ(c.integer("b"), 16);
  EXPECT_EQ(c.integer("c"), INT64_MIN);
  EXPECT_EQ(c.integer("f"), -1);
  std::string msg = error_of([&] { c.integer("d"); });
  EXPECT_NE(msg.find("i.yaml:line 4, key d"), std::string::npos) << msg;
  msg = error_of([&] { c.integer("e"); });
  EXPECT_NE(msg.find("expected an integer, found '12abc'"), std::string::npos) << msg;
}

// Found while writing tests/fuzz: a list or mapping used as a key escaped as yaml-cpp's own
// exception (an "internal error", exit 1) instead of an InputError naming the file and line.
TEST(Config, ComplexKeysAreAnInputError) {
  const auto c = ConfigNode::parse("ok: 1\n? [a, b]\n: 2\n", "k.yaml");
  std::string msg = error_of([&] { c.expect_keys({"ok"}); });
  EXPECT_NE(msg.find("k.yaml:line 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("a list used as a key"), std::string::npos) << msg;
  msg = error_of([&] { ConfigNode::parse("{x: 1}: 2\n", "m.yaml").entries(); });
  EXPECT_NE(msg.find("a mapping used as a key"), std::string::npos) << msg;
}
