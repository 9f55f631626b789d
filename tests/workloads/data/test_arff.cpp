#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "tests/workloads/data/data_test_util.hpp"
#include "workloads/data/arff.hpp"

using namespace axsim;
using axsim::testing_data::expect_input_error;
using axsim::testing_data::ScratchDir;

namespace {

// Numeric, nominal, quoting, comments, odd keyword case, CRLF on some lines, one missing value.
const char* kWeather =
    "% The weather data, slightly mangled.\n"
    "@RELATION 'weather data'\n"
    "\n"
    "@attribute outlook {sunny, overcast, 'light rain'}   % nominal with a quoted value\n"
    "@Attribute \"temp C\" REAL\r\n"
    "@attribute humidity integer\n"
    "@attribute windy{TRUE,FALSE}\n"
    "@attribute play {yes, no}\n"
    "\n"
    "@DATA\n"
    "% a comment among the rows\n"
    "sunny, 29.5, 85, FALSE, no\n"
    "overcast,27,?,FALSE,yes   % trailing comment\r\n"
    "'light rain', 21, 96, TRUE, yes\n"
    "\"sunny\",-1e1,70,TRUE,no\n";

}  // namespace

TEST(Arff, NumericNominalQuotedCommentsAndMissing) {
  ScratchDir dir;
  const std::string path = dir.write("weather.arff", kWeather);
  // Missing values are an error by default, located precisely.
  expect_input_error([&] { load_arff(path); }, {path, "line 13, column 13", "humidity", "1 in total", "impute_mean"});

  DataOptions opts;
  opts.missing = MissingPolicy::impute_mean;
  const Dataset d = load_arff(path, opts);
  EXPECT_EQ(d.name, "weather data");
  EXPECT_EQ(d.size, 4u);
  EXPECT_EQ(d.missing_values, 1u);
  EXPECT_NE(d.first_missing.find(path + ":line 13"), std::string::npos) << d.first_missing;
  const std::vector<std::string> names = {"outlook=sunny", "outlook=overcast", "outlook=light rain", "temp C",
                                          "humidity",      "windy=TRUE",       "windy=FALSE"};
  EXPECT_EQ(d.feature_names, names);
  EXPECT_EQ(d.sample_shape, (std::vector<std::size_t>{7}));
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"yes", "no"}));
  EXPECT_EQ(d.num_classes, 2);
  EXPECT_EQ(d.labels, (std::vector<std::int32_t>{1, 0, 0, 1}));
  const std::vector<float> row0 = {1, 0, 0, 29.5f, 85, 0, 1};
  const std::vector<float> row2 = {0, 0, 1, 21, 96, 1, 0};
  const std::vector<float> row3 = {1, 0, 0, -10, 70, 1, 0};
  EXPECT_EQ(std::vector<float>(d.sample(0).begin(), d.sample(0).end()), row0);
  EXPECT_EQ(std::vector<float>(d.sample(2).begin(), d.sample(2).end()), row2);
  EXPECT_EQ(std::vector<float>(d.sample(3).begin(), d.sample(3).end()), row3);
  // The missing humidity is the mean of the three present ones.
  EXPECT_FLOAT_EQ(d.sample(1)[4], (85.0f + 96.0f + 70.0f) / 3.0f);
}

TEST(Arff, IndexEncodingAndLabelChoice) {
  ScratchDir dir;
  const std::string path = dir.write("weather.arff", kWeather);
  DataOptions opts;
  opts.missing = MissingPolicy::impute_mean;
  opts.nominal = NominalEncoding::index;
  opts.label = "outlook";
  const Dataset d = load_arff(path, opts);
  EXPECT_EQ(d.feature_names, (std::vector<std::string>{"temp C", "humidity", "windy", "play"}));
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"sunny", "overcast", "light rain"}));
  EXPECT_EQ(d.labels, (std::vector<std::int32_t>{0, 1, 2, 0}));
  EXPECT_EQ(d.sample(2)[2], 0.0f);  // windy=TRUE is value 0
  EXPECT_EQ(d.sample(2)[3], 0.0f);  // play=yes is value 0
  EXPECT_EQ(d.sample(3)[3], 1.0f);

  opts.label = "0";  // by index
  EXPECT_EQ(load_arff(path, opts).labels, d.labels);
  opts.label = "-1";  // from the end: play
  EXPECT_EQ(load_arff(path, opts).class_names, (std::vector<std::string>{"yes", "no"}));
  opts.label = "windi";
  expect_input_error([&] { load_arff(path, opts); }, {path, "'windi'", "did you mean 'windy'"});
  opts.label = "7";
  expect_input_error([&] { load_arff(path, opts); }, {path, "[-5, 5)"});
  opts.label = "humidity";  // a row without a class cannot be imputed
  expect_input_error([&] { load_arff(path, opts); }, {path, "line 13, column 13", "class value"});
  opts.label = "temp C";  // 29.5 is not a class
  expect_input_error([&] { load_arff(path, opts); }, {path, "line 12", "whole class number", "'29.5'"});
}

TEST(Arff, NumericClassAttribute) {
  ScratchDir dir;
  const std::string path = dir.write("n.arff",
                                     "@relation r\n@attribute x real\n@attribute digit integer\n@data\n"
                                     "0.5, 3\n1.5, 0\n2.5, 9\n");
  const Dataset d = load_arff(path);
  EXPECT_EQ(d.labels, (std::vector<std::int32_t>{3, 0, 9}));
  EXPECT_EQ(d.num_classes, 10);
  EXPECT_EQ(d.class_names.back(), "9");
  DataOptions opts;
  opts.num_classes = 5;
  expect_input_error([&] { load_arff(path, opts); }, {path, "line 7, column 6", "[0, 5)", "'9'"});
}

TEST(Arff, SparseRows) {
  ScratchDir dir;
  const std::string path = dir.write("sparse.arff",
                                     "@relation s\n"
                                     "@attribute a numeric\n"
                                     "@attribute b numeric\n"
                                     "@attribute c {x, y, z}\n"
                                     "@attribute class {neg, pos}\n"
                                     "@data\n"
                                     "{0 1.5, 3 pos}\n"
                                     "{1 2, 2 z}\n"
                                     "{}\n"
                                     "0, 0, y, pos\n");
  const Dataset d = load_arff(path);
  ASSERT_EQ(d.size, 4u);
  EXPECT_EQ(std::vector<float>(d.sample(0).begin(), d.sample(0).end()), (std::vector<float>{1.5f, 0, 1, 0, 0}));
  EXPECT_EQ(std::vector<float>(d.sample(1).begin(), d.sample(1).end()), (std::vector<float>{0, 2, 0, 0, 1}));
  EXPECT_EQ(std::vector<float>(d.sample(2).begin(), d.sample(2).end()), (std::vector<float>{0, 0, 1, 0, 0}));
  EXPECT_EQ(d.labels, (std::vector<std::int32_t>{1, 0, 0, 1}));

  const std::string bad =
      dir.write("bad_sparse.arff", "@relation s\n@attribute a numeric\n@attribute class {n, p}\n@data\n{0 1, 5 p}\n");
  expect_input_error([&] { load_arff(bad); }, {bad, "line 5, column 7", "attribute index in [0, 2)", "'5'"});
}

TEST(Arff, MalformedAttributeLines) {
  ScratchDir dir;
  const std::string head = "@relation r\n@attribute a numeric\n";
  const std::string typo = dir.write("typo.arff", head + "@attribute b numerc\n@attribute c {p,q}\n@data\n1,2,p\n");
  expect_input_error([&] { load_arff(typo); }, {typo, "line 3, column 14", "'numerc'", "did you mean 'numeric'"});
  const std::string unclosed = dir.write("unclosed.arff", head + "@attribute c {p, q\n@data\n1,p\n");
  expect_input_error([&] { load_arff(unclosed); }, {unclosed, "line 3", "',' or '}'", "end of line"});
  const std::string quote = dir.write("quote.arff", head + "@attribute 'c d {p}\n@data\n1,p\n");
  expect_input_error([&] { load_arff(quote); }, {quote, "line 3", "closing '", "column 12"});
  const std::string keyword = dir.write("keyword.arff", head + "@atribute c {p}\n@data\n1,p\n");
  expect_input_error([&] { load_arff(keyword); }, {keyword, "line 3, column 1", "did you mean '@attribute'"});
  const std::string dup = dir.write("dup.arff", head + "@attribute a {p}\n@data\n1,p\n");
  expect_input_error([&] { load_arff(dup); }, {dup, "line 3", "'a', already declared on line 2"});
  const std::string no_data = dir.write("nodata.arff", head + "@attribute c {p}\n");
  expect_input_error([&] { load_arff(no_data); }, {no_data, "an @data section", "end of file"});
  const std::string stray = dir.write("stray.arff", "@relation r\nhello\n");
  expect_input_error([&] { load_arff(stray); }, {stray, "line 2", "@attribute", "'hello'"});
}

TEST(Arff, RowsWithWrongContent) {
  ScratchDir dir;
  const std::string head = "@relation r\n@attribute x numeric\n@attribute y numeric\n@attribute c {p, q}\n@data\n";
  const std::string short_row = dir.write("short.arff", head + "1,2,p\n3,q\n");
  expect_input_error([&] { load_arff(short_row); },
                     {short_row, "line 7", "3 comma-separated values (one per @attribute)", "found 2 values"});
  const std::string long_row = dir.write("long.arff", head + "1,2,p,q\n");
  expect_input_error([&] { load_arff(long_row); }, {long_row, "line 6", "found 4 values"});
  const std::string text = dir.write("text.arff", head + "1, abc, p\n");
  expect_input_error([&] { load_arff(text); }, {text, "line 6, column 4", "numeric attribute 'y'", "'abc'"});
  const std::string nominal = dir.write("nominal.arff", head + "1, 2, Q\n");
  expect_input_error([&] { load_arff(nominal); }, {nominal, "line 6, column 7", "{p, q}", "'Q'", "did you mean 'q'"});
  const std::string no_class = dir.write("noclass.arff", head + "1, 2, ?\n");
  expect_input_error([&] { load_arff(no_class); }, {no_class, "line 6, column 7", "class value"});
  const std::string weight = dir.write("weight.arff", head + "1, 2, p, {3}\n");
  expect_input_error([&] { load_arff(weight); }, {weight, "line 6", "instance weights"});
  const std::string empty = dir.write("empty.arff", head);
  expect_input_error([&] { load_arff(empty); }, {empty, "at least one data row"});
}

TEST(Arff, StringAndDateAttributes) {
  ScratchDir dir;
  const std::string path = dir.write("strings.arff",
                                     "@relation r\n"
                                     "@attribute id string\n"
                                     "@attribute when date 'yyyy-MM-dd HH:mm'\n"
                                     "@attribute x numeric\n"
                                     "@attribute c {a, b}\n"
                                     "@data\n"
                                     "'first one', '2024-01-02 10:00', 3.5, b\n");
  expect_input_error([&] { load_arff(path); },
                     {path, "line 2, attribute 'id'", "string", "ignore_unsupported_attributes"});
  DataOptions opts;
  opts.ignore_unsupported_attributes = true;
  const Dataset d = load_arff(path, opts);
  EXPECT_EQ(d.feature_names, (std::vector<std::string>{"x"}));
  EXPECT_EQ(d.features, (std::vector<float>{3.5f}));
  EXPECT_EQ(d.labels, (std::vector<std::int32_t>{1}));
  opts.label = "id";
  expect_input_error([&] { load_arff(path, opts); }, {path, "nominal or numeric class attribute", "string"});
}

TEST(Arff, MissingNominalFeatureIsImputedPerOneHotColumn) {
  ScratchDir dir;
  const std::string path = dir.write("m.arff",
                                     "@relation r\n@attribute c {u, v}\n@attribute k {p, q}\n@data\n"
                                     "u,p\nv,p\n?,q\nu,q\n");
  expect_input_error([&] { load_arff(path); }, {path, "line 7, column 1", "attribute 'c'"});
  DataOptions opts;
  opts.missing = MissingPolicy::impute_mean;
  const Dataset d = load_arff(path, opts);
  EXPECT_FLOAT_EQ(d.sample(2)[0], 2.0f / 3.0f);
  EXPECT_FLOAT_EQ(d.sample(2)[1], 1.0f / 3.0f);
}
