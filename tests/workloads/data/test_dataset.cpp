#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/workloads/data/data_test_util.hpp"
#include "workloads/data/dataset.hpp"
#include "workloads/data/idx.hpp"
#include "workloads/data/load.hpp"

using namespace axsim;
using axsim::testing_data::expect_input_error;
using axsim::testing_data::ScratchDir;

namespace {

// n samples of shape {2,3}; sample i holds 100*i + k, label i % 3.
Dataset numbered(std::size_t n) {
  Dataset d;
  d.name = "numbered";
  d.sample_shape = {2, 3};
  d.size = n;
  for (std::size_t i = 0; i < n; ++i) {
    for (int k = 0; k < 6; ++k) d.features.push_back(float(100 * i + k));
    d.labels.push_back(std::int32_t(i % 3));
  }
  d.num_classes = 3;
  d.class_names = {"a", "b", "c"};
  return d;
}

}  // namespace

TEST(Dataset, SampleViewsSliceAndSubset) {
  const Dataset d = numbered(5);
  EXPECT_EQ(d.feature_count(), 6u);
  EXPECT_NO_THROW(d.check_consistent());
  EXPECT_EQ(d.sample(3)[0], 300.0f);
  EXPECT_EQ(d.sample(3)[5], 305.0f);
  EXPECT_EQ(d.sample(3).size(), 6u);

  const Dataset s = d.slice(1, 3);
  EXPECT_EQ(s.size, 3u);
  EXPECT_EQ(s.sample_shape, d.sample_shape);
  EXPECT_EQ(s.class_names, d.class_names);
  EXPECT_EQ(s.sample(0)[0], 100.0f);
  EXPECT_EQ(s.labels, (std::vector<std::int32_t>{1, 2, 0}));
  EXPECT_NO_THROW(s.check_consistent());
  EXPECT_EQ(d.slice(5, 0).size, 0u);
  EXPECT_THROW(d.slice(4, 2), std::out_of_range);

  const std::vector<std::size_t> pick = {4, 0, 4};
  const Dataset p = d.subset(pick);
  EXPECT_EQ(p.size, 3u);
  EXPECT_EQ(p.sample(0)[1], 401.0f);
  EXPECT_EQ(p.sample(1)[1], 1.0f);
  EXPECT_EQ(p.labels, (std::vector<std::int32_t>{1, 0, 1}));
  const std::vector<std::size_t> outside = {5};
  EXPECT_THROW(d.subset(outside), std::out_of_range);

  EXPECT_EQ(d.class_counts(), (std::vector<std::size_t>{2, 2, 1}));
  EXPECT_EQ(d.summary(), "numbered: 5 samples of 2x3, 3 classes");
}

TEST(Dataset, ConsistencyCheckCatchesMismatches) {
  Dataset d = numbered(2);
  d.features.pop_back();
  EXPECT_THROW(d.check_consistent(), std::logic_error);
  d = numbered(2);
  d.labels[1] = 3;
  EXPECT_THROW(d.check_consistent(), std::logic_error);
  d = numbered(2);
  d.class_names.pop_back();
  EXPECT_THROW(d.check_consistent(), std::logic_error);
}

TEST(Dataset, ShuffleIsAReproduciblePermutation) {
  const std::size_t n = 1000;
  const auto a = shuffled_indices(n, 42, 0);
  EXPECT_EQ(a, shuffled_indices(n, 42, 0));
  std::vector<std::size_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::size_t> identity(n);
  std::iota(identity.begin(), identity.end(), std::size_t{0});
  EXPECT_EQ(sorted, identity);
  EXPECT_NE(a, identity);
  EXPECT_NE(a, shuffled_indices(n, 43, 0));
  EXPECT_NE(a, shuffled_indices(n, 42, 1));
  // Roughly uniform: the first position takes each of 4 values about equally often over many seeds.
  std::vector<int> first(4, 0);
  for (std::uint64_t seed = 0; seed < 4000; ++seed) ++first[shuffled_indices(4, seed)[0]];
  for (int c : first) EXPECT_NEAR(c, 1000, 150);
  EXPECT_TRUE(shuffled_indices(0, 1).empty());
  EXPECT_EQ(shuffled_indices(1, 1), (std::vector<std::size_t>{0}));
}

TEST(Dataset, MissingPolicy) {
  Dataset d = numbered(3);
  d.features[0] = NAN;  // sample 0, feature 0
  d.features[7] = NAN;  // sample 1, feature 1
  d.missing_values = 2;
  expect_input_error([&] { apply_missing_policy(d, MissingPolicy::error, "f.csv", "line 2, column 1"); },
                     {"f.csv:line 2, column 1", "2 in total"});
  apply_missing_policy(d, MissingPolicy::impute_mean, "f.csv", "line 2, column 1");
  EXPECT_FLOAT_EQ(d.features[0], 150.0f);  // mean of 100 and 200
  EXPECT_FLOAT_EQ(d.features[7], 101.0f);  // mean of 1 and 201
  EXPECT_EQ(d.missing_values, 2u);         // still reported after imputation
}

TEST(DataSpec, ParsesEveryForm) {
  ScratchDir dir;
  const std::string csv = dir.write("t.csv", "a,b,y\n1,2,u\n3,4,v\n");
  const std::string arff = dir.write("t.arff", "@relation t\n@attribute a numeric\n@attribute y {u,v}\n@data\n1,u\n");
  const std::string colon = dir.write("odd:name.csv", "a,b\n1,0\n");

  DataSpec s = parse_data_spec("mnist:some/dir");
  EXPECT_EQ(s.format, "mnist");
  EXPECT_EQ(s.paths, (std::vector<std::string>{"some/dir"}));
  EXPECT_EQ(s.split, "train");
  EXPECT_EQ(parse_data_spec("mnist:some/dir:test").split, "test");
  EXPECT_EQ(parse_data_spec("MNIST:some/dir:t10k").split, "test");
  s = parse_data_spec("idx:a.idx,b.idx");
  EXPECT_EQ(s.format, "idx");
  EXPECT_EQ(s.paths, (std::vector<std::string>{"a.idx", "b.idx"}));
  s = parse_data_spec("csv:" + csv + ":y");
  EXPECT_EQ(s.paths, (std::vector<std::string>{csv}));
  EXPECT_EQ(s.label, "y");
  s = parse_data_spec("arff:" + arff);
  EXPECT_EQ(s.paths, (std::vector<std::string>{arff}));
  EXPECT_EQ(s.label, "");
  EXPECT_EQ(parse_data_spec(csv).format, "csv");
  EXPECT_EQ(parse_data_spec(arff).format, "arff");
  EXPECT_EQ(parse_data_spec(dir.path().string()).format, "mnist");
  EXPECT_EQ(parse_data_spec("csv:" + colon).paths, (std::vector<std::string>{colon}));  // ':' in the path
  EXPECT_EQ(parse_data_spec(colon).format, "csv");

  expect_input_error([&] { parse_data_spec("mnst:data/mnist"); }, {"<data spec>", "'mnst'", "did you mean 'mnist'"});
  expect_input_error([&] { parse_data_spec("idx:only-one-file"); }, {"idx:IMAGES,LABELS"});
  expect_input_error([&] { parse_data_spec("mnist:dir:validation"); }, {"split 'validation'"});
  expect_input_error([&] { parse_data_spec("data.parquet"); }, {"'data.parquet'", "no such file"});
  expect_input_error([&] { parse_data_spec("train-images-idx3-ubyte"); }, {"idx:IMAGES,LABELS"});
  expect_input_error([&] { parse_data_spec(""); }, {"an empty string"});
  expect_input_error([&] { parse_data_spec("csv:"); }, {"a path after 'csv:'"});
}

TEST(DataSpec, LoadsThroughTheSpec) {
  ScratchDir dir;
  const std::string csv = dir.write("t.csv", "y,a,b\nu,1,2\nv,3,4\n");
  const Dataset by_name = load_dataset("csv:" + csv + ":y");
  EXPECT_EQ(by_name.class_names, (std::vector<std::string>{"u", "v"}));
  EXPECT_EQ(by_name.sample(1)[1], 4.0f);
  EXPECT_EQ(load_dataset("csv:" + csv + ":0").labels, by_name.labels);
  expect_input_error([&] { load_dataset("csv:" + csv); }, {csv, "line 2, column 1 ('y')"});

  const std::vector<std::size_t> image_dims = {2, 2, 2}, label_dims = {2};
  write_idx(dir.file("img"), IdxType::u8, image_dims, std::vector<double>{0, 51, 102, 153, 204, 255, 0, 0});
  write_idx(dir.file("lab"), IdxType::u8, label_dims, std::vector<double>{1, 0});
  const Dataset idx = load_dataset("idx:" + dir.file("img") + "," + dir.file("lab"));
  EXPECT_EQ(idx.sample(0)[1], 0.2f);
  EXPECT_EQ(idx.labels, (std::vector<std::int32_t>{1, 0}));

  const std::string arff = dir.write("t.arff", "@relation t\n@attribute y {u,v}\n@attribute a numeric\n@data\nv,1\n");
  DataOptions opts;
  opts.label = "a";  // overridden by the spec's label
  EXPECT_EQ(load_dataset("arff:" + arff + ":y", opts).labels, (std::vector<std::int32_t>{1}));
  expect_input_error([&] { load_dataset("arff:" + dir.file("none.arff")); }, {"none.arff", "no such file"});
}
