#include <gtest/gtest.h>

#include "core/units.hpp"

using namespace axsim;

TEST(Units, ParsesPrefixesAndSymbols) {
  EXPECT_DOUBLE_EQ(parse_quantity("0.66V", Dim::volt), 0.66);
  EXPECT_DOUBLE_EQ(parse_quantity("660 mV", Dim::volt), 0.66);
  EXPECT_DOUBLE_EQ(parse_quantity("250MHz", Dim::hertz), 250e6);
  EXPECT_DOUBLE_EQ(parse_quantity("1nA", Dim::ampere), 1e-9);
  EXPECT_DOUBLE_EQ(parse_quantity("64KiB", Dim::byte), 65536.0);
  EXPECT_DOUBLE_EQ(parse_quantity("2ms", Dim::second), 2e-3);
  EXPECT_DOUBLE_EQ(parse_quantity("3.5pJ", Dim::joule), 3.5e-12);
  EXPECT_DOUBLE_EQ(parse_quantity("12 fJ", Dim::joule), 12e-15);
  EXPECT_DOUBLE_EQ(parse_quantity("10nW", Dim::watt), 10e-9);
  EXPECT_DOUBLE_EQ(parse_quantity("1e-3", Dim::none), 1e-3);
  EXPECT_DOUBLE_EQ(parse_quantity("5%", Dim::none), 0.05);
}

TEST(Units, RejectsMissingOrWrongUnits) {
  EXPECT_THROW(parse_quantity("0.66", Dim::volt), UnitError);
  EXPECT_THROW(parse_quantity("0.66A", Dim::volt), UnitError);
  EXPECT_THROW(parse_quantity("0.66 xV", Dim::volt), UnitError);
  EXPECT_THROW(parse_quantity("V", Dim::volt), UnitError);
  EXPECT_THROW(parse_quantity("", Dim::none), UnitError);
  EXPECT_THROW(parse_quantity("3V", Dim::none), UnitError);
  EXPECT_THROW(parse_quantity("inf", Dim::none), UnitError);
  try {
    parse_quantity("0.66", Dim::volt);
  } catch (const UnitError& e) {
    EXPECT_NE(std::string(e.what()).find("0.66V"), std::string::npos) << e.what();
  }
}

TEST(Units, FormatsEngineeringNotation) {
  EXPECT_EQ(format_quantity(0.66, Dim::volt), "660 mV");
  EXPECT_EQ(format_quantity(250e6, Dim::hertz), "250 MHz");
  EXPECT_EQ(format_quantity(1.5e-12, Dim::joule), "1.5 pJ");
  EXPECT_EQ(parse_quantity(format_quantity(3.25e-9, Dim::ampere), Dim::ampere), 3.25e-9);
}

TEST(Units, AQuantityThatOverflowsAfterItsPrefixIsRefused) {
  // 1e300 fits a double, 1e300 T does not: the product must not come back as infinity.
  EXPECT_THROW(parse_quantity("1e300TV", Dim::volt), UnitError);
  EXPECT_THROW(parse_quantity("1e308TiB", Dim::byte), UnitError);
  EXPECT_DOUBLE_EQ(parse_quantity("1e3TV", Dim::volt), 1e15);
}
