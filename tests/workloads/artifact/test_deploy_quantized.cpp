// The deploy artifact stores the quantized network (calibrated on training data at save time), and
// load_deployed returns exactly those integers without re-calibrating; artifacts without one (or made
// with other options) are quantized at load with a notice. Bad stored networks are clear errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "core/config.hpp"
#include "core/error.hpp"
#include "workloads/artifact/deploy.hpp"
#include "workloads/artifact/safetensors.hpp"

namespace axsim::artifact {
namespace {

namespace fs = std::filesystem;

class DeployQuantized : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("axsim_deployq_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    spec_ = nn::parse_network(ConfigNode::parse("preset: mlp\nhidden: [12, 8]\n", "test"), nn::Shape{1, 4, 4}, 3);
    train_ = make_data("train", 40, 1);
    test_ = make_data("test", 30, 2);  // a different distribution: calibrating on it gives other ranges
  }
  void TearDown() override { fs::remove_all(dir_); }

  static Dataset make_data(const std::string& name, std::size_t n, int scale) {
    Dataset d;
    d.name = name;
    d.source = name + ".idx";
    d.sample_shape = {1, 4, 4};
    d.size = n;
    d.num_classes = 3;
    for (std::size_t i = 0; i < n * 16; ++i) d.features.push_back(float((i * 37 % 101) / 100.0 / scale));
    for (std::size_t i = 0; i < n; ++i) d.labels.push_back(std::int32_t(i % 3));
    return d;
  }

  std::string save(bool with_quantized) {
    nn::Network net(spec_);
    net.initialize(7);
    TrainedModelInfo info;
    if (with_quantized) info.calibration = &train_;
    info.calibration_samples = 32;
    const std::string path = (dir_ / (with_quantized ? "q.safetensors" : "plain.safetensors")).string();
    save_trained_model(path, net, info);
    return path;
  }

  QuantizedNetwork expected_from_training_data() {
    nn::Network net(spec_);
    net.initialize(7);
    return quant::quantize_network(net, train_.features.data(), 32, {});
  }

  // Rewrites the artifact with one tensor or metadata value replaced.
  std::string rewrite(const std::string& path,
                      const std::function<void(SafetensorsWriter&, const SafetensorsFile&)>& edit) {
    const SafetensorsFile f = SafetensorsFile::load(path);
    SafetensorsWriter w;
    for (const auto& [name, t] : f.tensors()) w.add(t);
    for (const auto& [key, value] : f.metadata()) w.set_metadata(key, value);
    edit(w, f);
    const std::string out = (dir_ / "edited.safetensors").string();
    w.write(out);
    return out;
  }

  fs::path dir_;
  nn::NetworkSpec spec_;
  Dataset train_, test_;
};

void expect_same_integers(const QuantizedNetwork& a, const QuantizedNetwork& b) {
  ASSERT_EQ(a.layers.size(), b.layers.size());
  EXPECT_EQ(a.input_format, b.input_format);
  EXPECT_EQ(a.classes, b.classes);
  for (std::size_t i = 0; i < a.layers.size(); ++i) {
    const QLayer &x = a.layers[i], &y = b.layers[i];
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.kind, y.kind);
    EXPECT_EQ(x.weights, y.weights) << x.name;
    EXPECT_EQ(x.bias, y.bias) << x.name;
    EXPECT_EQ(x.weight_format, y.weight_format) << x.name;
    EXPECT_EQ(x.input_format, y.input_format) << x.name;
    if (x.has_weights() && !x.is_output) {
      EXPECT_EQ(x.output_format, y.output_format) << x.name;
    }
    EXPECT_EQ(x.relu, y.relu);
    EXPECT_EQ(x.is_output, y.is_output);
    EXPECT_EQ(x.multiplier, y.multiplier) << x.name;
  }
}

TEST_F(DeployQuantized, StoredNetworkIsLoadedWithoutRecalibrating) {
  const std::string path = save(true);
  const DeployedNetwork d = load_deployed(path, test_);  // evaluated on other data: must not matter
  EXPECT_TRUE(d.stored);
  EXPECT_TRUE(d.notice.empty());
  expect_same_integers(d.network, expected_from_training_data());
  // The same integers whatever data the caller passes.
  expect_same_integers(load_deployed(path, train_).network, d.network);
  ASSERT_TRUE(read_quantized_network(path).has_value());
}

TEST_F(DeployQuantized, MultipliersAreAppliedToTheStoredNetwork) {
  const std::string path = save(true);
  quant::QuantizeOptions o;
  o.multiplier = Multiplier::drum(4, 8);
  o.layer_multipliers["fc3"] = Multiplier::exact(8);
  const DeployedNetwork d = load_deployed(path, test_, o);
  ASSERT_TRUE(d.stored);
  for (const QLayer& l : d.network.layers)
    if (l.has_weights()) {
      EXPECT_EQ(l.multiplier, l.name == "fc3" ? Multiplier::exact(8) : Multiplier::drum(4, 8));
    }
  o.layer_multipliers = {{"fc9", Multiplier::exact(8)}};
  EXPECT_THROW(load_deployed(path, test_, o), InputError);
}

TEST_F(DeployQuantized, ArtifactsWithoutOneOrWithOtherOptionsAreQuantizedAtLoadWithANotice) {
  const DeployedNetwork plain = load_deployed(save(false), test_);
  EXPECT_FALSE(plain.stored);
  EXPECT_NE(plain.notice.find("stores no quantized network"), std::string::npos) << plain.notice;
  EXPECT_NE(plain.notice.find(test_.source), std::string::npos);
  quant::QuantizeOptions nine;
  nine.activation_bits = 9;
  const DeployedNetwork other = load_deployed(save(true), test_, nine);
  EXPECT_FALSE(other.stored);
  EXPECT_NE(other.notice.find("other options"), std::string::npos) << other.notice;
}

TEST_F(DeployQuantized, BadStoredNetworksAreClearErrors) {
  const std::string path = save(true);
  auto expect_error = [&](const std::string& bad, const std::string& fragment) {
    try {
      load_deployed(bad, test_);
      ADD_FAILURE() << "no error, expected one mentioning " << fragment;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  // A weight tensor of the wrong dtype.
  expect_error(rewrite(path,
                       [](SafetensorsWriter& w, const SafetensorsFile& f) {
                         const Tensor& t = f.tensor("quantized.fc1.weight");
                         std::vector<std::int32_t> wide(t.as_int32());
                         SafetensorsWriter fresh;
                         for (const auto& [name, other] : f.tensors())
                           if (name != t.name) fresh.add(other);
                         fresh.add(t.name, t.shape, std::span<const std::int32_t>(wide));
                         for (const auto& [key, value] : f.metadata()) fresh.set_metadata(key, value);
                         w = fresh;
                       }),
               "quantized.fc1.weight");
  // Metadata that is not JSON, and a layer list without the kind.
  expect_error(
      rewrite(path, [](SafetensorsWriter& w, const SafetensorsFile&) { w.set_metadata("axsim.quantized", "{"); }),
      "axsim.quantized");
  expect_error(rewrite(path,
                       [](SafetensorsWriter& w, const SafetensorsFile& f) {
                         auto j = nlohmann::json::parse(f.metadata_value("axsim.quantized"));
                         j["layers"][1].erase("kind");
                         w.set_metadata("axsim.quantized", j.dump());
                       }),
               "kind");
  // A geometry that no longer chains (models::validate names the layer).
  expect_error(rewrite(path,
                       [](SafetensorsWriter& w, const SafetensorsFile& f) {
                         auto j = nlohmann::json::parse(f.metadata_value("axsim.quantized"));
                         j["classes"] = 4;
                         w.set_metadata("axsim.quantized", j.dump());
                       }),
               "class");
}

}  // namespace
}  // namespace axsim::artifact
