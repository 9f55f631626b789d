#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/workloads/data/data_test_util.hpp"
#include "workloads/data/csv.hpp"

using namespace axsim;
using axsim::testing_data::expect_input_error;
using axsim::testing_data::ScratchDir;

namespace {

std::vector<float> row(const Dataset& d, std::size_t i) { return {d.sample(i).begin(), d.sample(i).end()}; }

}  // namespace

TEST(Csv, HeaderAndStringLabels) {
  ScratchDir dir;
  const std::string path = dir.write("iris.csv",
                                     "sepal length,sepal width,species\n"
                                     "5.1,3.5,setosa\n"
                                     "7.0,3.2,versicolor\n"
                                     "6.3,3.3,virginica\n"
                                     "4.9,3.0,setosa\n");
  const Dataset d = load_csv(path);
  EXPECT_EQ(d.name, "iris");
  EXPECT_EQ(d.size, 4u);
  EXPECT_EQ(d.sample_shape, (std::vector<std::size_t>{2}));
  EXPECT_EQ(d.feature_names, (std::vector<std::string>{"sepal length", "sepal width"}));
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"setosa", "versicolor", "virginica"}));
  EXPECT_EQ(d.labels, (std::vector<std::int32_t>{0, 1, 2, 0}));
  EXPECT_EQ(row(d, 1), (std::vector<float>{7.0f, 3.2f}));
  EXPECT_EQ(d.missing_values, 0u);
}

TEST(Csv, NoHeaderIntegerLabels) {
  ScratchDir dir;
  const std::string path = dir.write("digits.csv", "3,0.5,1\n0,1.5,2\n7,2.5,3\n");
  DataOptions opts;
  opts.label = "0";
  const Dataset d = load_csv(path, opts);
  EXPECT_EQ(d.size, 3u);  // the first row is data: nothing in it is text
  EXPECT_EQ(d.labels, (std::vector<std::int32_t>{3, 0, 7}));
  EXPECT_EQ(d.num_classes, 8);
  EXPECT_EQ(d.feature_names, (std::vector<std::string>{"col2", "col3"}));
  EXPECT_EQ(row(d, 2), (std::vector<float>{2.5f, 3.0f}));
  // Default label is the last column; forcing a header consumes the first row.
  const Dataset last = load_csv(path);
  EXPECT_EQ(last.labels, (std::vector<std::int32_t>{1, 2, 3}));
  opts.label = "";
  opts.header = HeaderMode::present;
  const Dataset forced = load_csv(path, opts);
  EXPECT_EQ(forced.size, 2u);
  EXPECT_EQ(forced.feature_names, (std::vector<std::string>{"3", "0.5"}));
  opts.num_classes = 3;
  expect_input_error([&] { load_csv(path, opts); }, {path, "line 3, column 3", "[0, 3)", "'3'"});
  // Negative integers are not class indices.
  const std::string signs = dir.write("signs.csv", "x,y\n1,-1\n2,1\n");
  expect_input_error([&] { load_csv(signs); }, {signs, "line 2, column 2 ('y')", "neg/pos", "'-1'"});
  // Fractional labels are a regression target, not classes.
  const std::string reg = dir.write("reg.csv", "x,y\n1,2\n2,0.75\n");
  expect_input_error([&] { load_csv(reg); }, {reg, "line 3", "'0.75'", "regression"});
}

TEST(Csv, LabelByNameAndIndex) {
  ScratchDir dir;
  const std::string path = dir.write("t.csv", "label,a,b\ncat,1,2\ndog,3,4\n");
  DataOptions opts;
  opts.label = "label";
  const Dataset by_name = load_csv(path, opts);
  EXPECT_EQ(by_name.class_names, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(by_name.feature_names, (std::vector<std::string>{"a", "b"}));
  opts.label = "-3";
  EXPECT_EQ(load_csv(path, opts).labels, by_name.labels);
  opts.label = "lable";
  expect_input_error([&] { load_csv(path, opts); }, {path, "'lable'", "did you mean 'label'"});
  opts.label = "3";
  expect_input_error([&] { load_csv(path, opts); }, {path, "[-3, 3)"});
  // Names need a header.
  const std::string bare = dir.write("bare.csv", "1,2,0\n3,4,1\n");
  opts.label = "a";
  expect_input_error([&] { load_csv(bare, opts); }, {bare, "no header", "header=present"});
  // By default the last column is the label, and text elsewhere is an error.
  expect_input_error([&] { load_csv(path); },
                     {path, "line 2, column 1 ('label')", "a number", "'cat'", "column 3 ('b')"});
}

TEST(Csv, QuotedFieldsAndCrlf) {
  ScratchDir dir;
  const std::string path = dir.write("q.csv",
                                     "\xEF\xBB\xBF\"width, cm\",\"the \"\"height\"\"\",kind\r\n"
                                     "\"1.5\", 2 ,\"big, red\"\r\n"
                                     "3,4,\"two\nlines\"\r\n"
                                     "\r\n"
                                     "5,6,plain\r\n");
  const Dataset d = load_csv(path);
  EXPECT_EQ(d.feature_names, (std::vector<std::string>{"width, cm", "the \"height\""}));
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"big, red", "plain", "two\nlines"}));
  EXPECT_EQ(d.labels, (std::vector<std::int32_t>{0, 2, 1}));
  EXPECT_EQ(row(d, 0), (std::vector<float>{1.5f, 2.0f}));
  EXPECT_EQ(row(d, 2), (std::vector<float>{5.0f, 6.0f}));
  // Line numbers stay right after a quoted line break: the bad cell is on line 5.
  const std::string bad = dir.write("bad.csv", "a,b,c\n1,2,\"x\ny\"\n3,4,z\n5,oops,z\n");
  expect_input_error([&] { load_csv(bad); }, {bad, "line 5, column 2 ('b')", "'oops'"});
  const std::string open = dir.write("open.csv", "a,b,c\n1,2,\"never closed\n3,4,z\n");
  expect_input_error([&] { load_csv(open); }, {open, "line 2, character 5", "closing '\"'", "end of file"});
  const std::string after = dir.write("after.csv", "a,b,c\n1,2,\"x\"y\n");
  expect_input_error([&] { load_csv(after); }, {after, "line 2, character 8", "after a closing quote", "'y'"});
}

TEST(Csv, SemicolonAndTabDelimiters) {
  ScratchDir dir;
  const std::string semi = dir.write("eu.csv", "a;b;klasse\n1,5;2;x\n3;4,25;y\n");
  EXPECT_EQ(detect_csv_delimiter("a;b;klasse\n1,5;2;x\n"), ';');
  const Dataset d = load_csv(semi);
  EXPECT_EQ(d.feature_names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(row(d, 0), (std::vector<float>{1.5f, 2.0f}));  // decimal comma
  EXPECT_EQ(row(d, 1), (std::vector<float>{3.0f, 4.25f}));
  const std::string tab = dir.write("t.tsv", "a\tb\tc\n1\t2\tx\n");
  EXPECT_EQ(load_csv(tab).feature_names, (std::vector<std::string>{"a", "b"}));
  // An explicit delimiter wins over detection.
  DataOptions opts;
  opts.delimiter = ',';
  expect_input_error([&] { load_csv(semi, opts); }, {semi, "line 1", "at least two columns", "separated by ','"});
  EXPECT_EQ(detect_csv_delimiter("x,y\n\"a;b\",1\n"), ',');  // delimiters inside quotes do not count
}

TEST(Csv, RaggedRowsAndBadCells) {
  ScratchDir dir;
  const std::string ragged = dir.write("ragged.csv", "a,b,c\n1,2,x\n3,4\n5,6,y\n");
  expect_input_error([&] { load_csv(ragged); },
                     {ragged, "line 3", "3 fields separated by ','", "as on line 1", "found 2 fields"});
  const std::string cell = dir.write("cell.csv", "a,b,c\n1,2,x\n3,four,y\n");
  expect_input_error([&] { load_csv(cell); }, {cell, "line 3, column 2 ('b')", "a number", "'four'"});
  const std::string inf = dir.write("inf.csv", "a,b,c\n1,inf,x\n");
  expect_input_error([&] { load_csv(inf); }, {inf, "line 2, column 2", "'inf'"});
  const std::string no_label = dir.write("nolabel.csv", "a,b,c\n1,2,\n");
  expect_input_error([&] { load_csv(no_label); }, {no_label, "line 2, column 3 ('c')", "class label"});
  const std::string empty = dir.write("empty.csv", "\n\n");
  expect_input_error([&] { load_csv(empty); }, {empty, "empty file"});
  const std::string one_col = dir.write("one.csv", "1\n2\n");
  expect_input_error([&] { load_csv(one_col); }, {one_col, "at least two columns"});
  const std::string header_only = dir.write("header.csv", "a,b\n");
  DataOptions opts;
  opts.header = HeaderMode::present;
  expect_input_error([&] { load_csv(header_only, opts); }, {header_only, "at least one data row"});
}

TEST(Csv, MissingValues) {
  ScratchDir dir;
  const std::string path = dir.write("m.csv", "a,b,c\n1,,x\n3,NA,y\n?,6,x\n2,8,y\n");
  expect_input_error([&] { load_csv(path); }, {path, "line 2, column 2 ('b')", "3 in total", "impute_mean"});
  DataOptions opts;
  opts.missing = MissingPolicy::impute_mean;
  const Dataset d = load_csv(path, opts);
  EXPECT_EQ(d.missing_values, 3u);
  EXPECT_EQ(d.first_missing, path + ":line 2, column 2 ('b')");
  EXPECT_EQ(row(d, 0), (std::vector<float>{1, 7}));
  EXPECT_EQ(row(d, 2), (std::vector<float>{2, 6}));
  const std::string hollow = dir.write("hollow.csv", "a,b,c\n1,,x\n3,NaN,y\n");
  expect_input_error([&] { load_csv(hollow, opts); }, {hollow, "feature 'b'", "only missing values"});
}
