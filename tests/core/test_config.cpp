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
