// A deploy artifact's network metadata is a claim made by someone else's tool: before anything is
// allocated, load_trained_model works out what the network would allocate (network_footprint) and refuses
// a network larger than the tensors the file holds or with an activation over kMaxActivationValues, even
// when every size on its own is in range. network_spec_from_json refuses sizes that are not integers,
// layers without the sizes they need, and residual blocks nested too deep to build by recursion.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/config.hpp"
#include "core/error.hpp"
#include "workloads/artifact/deploy.hpp"
#include "workloads/artifact/safetensors.hpp"

namespace axsim::artifact {
namespace {

namespace fs = std::filesystem;

class DeployBounds : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("axsim_deploybounds_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // An artifact with the given network JSON and float tensors (name, shape) filled with zeros.
  std::string write_artifact(const nlohmann::json& network,
                             const std::vector<std::pair<std::string, std::vector<std::int64_t>>>& tensors) {
    SafetensorsWriter w;
    for (const auto& [name, shape] : tensors) {
      std::int64_t n = 1;
      for (auto d : shape) n *= d;
      const std::vector<float> zeros(std::size_t(n), 0.0f);
      w.add(name, shape, std::span<const float>(zeros));
    }
    w.set_metadata("axsim.format", "1");
    w.set_metadata("axsim.network", network.dump());
    w.set_metadata("axsim.binary_connect", "false");
    w.set_metadata("axsim.hardware", "{}");
    w.set_metadata("axsim.training", "{}");
    const std::string path = (dir_ / "a.safetensors").string();
    w.write(path);
    return path;
  }

  // The message of the InputError load_trained_model throws ("" if it throws none).
  static std::string load_error(const std::string& path) {
    try {
      (void)load_trained_model(path);
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  }

  fs::path dir_;
};

std::uint64_t values_allocated(nn::Network& net) {
  std::uint64_t n = 0;
  for (auto* p : net.parameters()) n += p->value.size();
  for (auto& [name, t] : net.buffers()) n += t->size();
  return n;
}

nn::NetworkSpec spec_from_yaml(const std::string& yaml, const nn::Shape& input, int classes) {
  return nn::parse_network(ConfigNode::parse(yaml, "test"), input, classes);
}

TEST_F(DeployBounds, FootprintMatchesTheBuiltNetwork) {
  const std::vector<nn::NetworkSpec> specs = {
      spec_from_yaml("preset: mlp\nhidden: [12, 8]\nbatchnorm: true\n", {1, 6, 6}, 3),
      spec_from_yaml("preset: lenet5\n", {1, 28, 28}, 10), spec_from_yaml("preset: klachko_cnn\n", {1, 28, 28}, 10),
      spec_from_yaml("preset: wrn\ndepth: 8\n", {3, 8, 8}, 10),
      spec_from_yaml("layers:\n"
                     "  - {type: conv2d, out: 4, kernel: 3, stride: 2, padding: 1, bias: false}\n"
                     "  - {type: avgpool, kernel: 2}\n"
                     "  - {type: batchnorm}\n"
                     "  - {type: flatten}\n"
                     "  - {type: dropout, p: 0.5}\n"
                     "  - {type: dense, out: 5, bias: false}\n",
                     {2, 9, 9}, 5)};
  for (const auto& spec : specs) {
    SCOPED_TRACE(nn::to_json(spec).dump());
    nn::Network net(spec);
    const NetworkFootprint fp = network_footprint(spec);
    EXPECT_TRUE(fp.shapes_chain);
    EXPECT_EQ(fp.parameter_values, values_allocated(net));
  }
  // LeNet-5's largest per-sample buffer is conv1's unfolded input: 1 channel x 5x5 taps x 28x28 pixels.
  const NetworkFootprint lenet = network_footprint(specs[1]);
  EXPECT_EQ(lenet.largest_activation, 25u * 28 * 28);
  EXPECT_EQ(lenet.largest_activation_layer, "conv1");
  EXPECT_EQ(lenet.largest_layer, "fc1");  // 400 x 120 + 120
  EXPECT_EQ(lenet.largest_layer_values, 400u * 120 + 120);
}

TEST_F(DeployBounds, AnArtifactWhoseTensorsHoldTheNetworkLoads) {
  const nlohmann::json network = {{"name", "n"},
                                  {"input", {6}},
                                  {"classes", 2},
                                  {"layers", nlohmann::json::array({{{"type", "dense"}, {"name", "fc"}, {"out", 2}}})}};
  const std::string path = write_artifact(network, {{"fc.weight", {2, 6}}, {"fc.bias", {2}}});
  EXPECT_EQ(load_error(path), "");
  EXPECT_EQ(network_footprint(load_trained_model(path).network->spec()).parameter_values, 14u);
}

// Input 1024x256x256 (2^26 values, the largest accepted) into a 2^20-wide dense layer: every size is in
// range, the product is 2^46 weights; the file holds 8 values. Without the check this is a 256 TiB request.
TEST_F(DeployBounds, InRangeSizesWhoseProductIsHugeAreRefusedBeforeAllocating) {
  const nlohmann::json network = {
      {"name", "n"},
      {"input", {1024, 256, 256}},
      {"classes", 1 << 20},
      {"layers", nlohmann::json::array({{{"type", "flatten"}, {"name", "flat"}},
                                        {{"type", "dense"}, {"name", "fc"}, {"out", 1 << 20}}})}};
  const std::string path = write_artifact(network, {{"fc.weight", {2, 3}}, {"fc.bias", {2}}});
  const std::string error = load_error(path);
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("its tensors hold 8 values"), std::string::npos) << error;
  EXPECT_NE(error.find("layer 'fc' alone 70368745226240"), std::string::npos) << error;  // 2^46 + 2^20
}

// A 1x1 convolution of 4096 channels with padding 64 on a 16x16 image: 8192 parameters (all in the file),
// but 4096 x 144 x 144 = 84.9 million values per sample in its output.
TEST_F(DeployBounds, AnActivationOverTheBoundIsRefused) {
  const nlohmann::json network = {
      {"name", "n"},
      {"input", {1, 16, 16}},
      {"classes", 3},
      {"layers",
       nlohmann::json::array({{{"type", "conv2d"}, {"name", "conv"}, {"out", 4096}, {"kernel", 1}, {"padding", 64}},
                              {{"type", "global_avgpool"}, {"name", "gap"}},
                              {{"type", "dense"}, {"name", "fc"}, {"out", 3}}})}};
  const std::string path = write_artifact(
      network, {{"conv.weight", {4096, 1, 1, 1}}, {"conv.bias", {4096}}, {"fc.weight", {3, 4096}}, {"fc.bias", {3}}});
  const std::string error = load_error(path);
  EXPECT_NE(error.find("layer 'conv'"), std::string::npos) << error;
  EXPECT_NE(error.find("84934656 values per sample"), std::string::npos) << error;
  // The same network with padding 0 fits.
  nlohmann::json small = network;
  small["layers"][0].erase("padding");
  EXPECT_EQ(load_error(write_artifact(
                small,
                {{"conv.weight", {4096, 1, 1, 1}}, {"conv.bias", {4096}}, {"fc.weight", {3, 4096}}, {"fc.bias", {3}}})),
            "");
}

TEST_F(DeployBounds, SizesThatAreNotIntegersOrMissingAreRefused) {
  const nlohmann::json good = {{"name", "n"},
                               {"input", {1, 4, 4}},
                               {"classes", 2},
                               {"layers", nlohmann::json::array({{{"type", "maxpool"}, {"name", "pool"}, {"kernel", 2}},
                                                                 {{"type", "flatten"}, {"name", "flat"}},
                                                                 {{"type", "dense"}, {"name", "fc"}, {"out", 2}}})}};
  const auto expect_refused = [&](const nlohmann::json& network, const std::string& fragment) {
    SCOPED_TRACE(network.dump());
    try {
      (void)nn::network_spec_from_json(network, "a.safetensors");
      ADD_FAILURE() << "accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  EXPECT_NO_THROW((void)nn::network_spec_from_json(good, "a.safetensors"));
  nlohmann::json j = good;
  j["classes"] = 1e12;  // a float: converting it to int would be undefined behaviour
  expect_refused(j, "a class count in [1, 2^20]");
  j = good;
  j["input"] = {1, 4.5, 4};
  expect_refused(j, "dimensions in [1, 65536]");
  j = good;
  j["layers"][0].erase("kernel");  // a pooling window of 0 divided by zero when built
  expect_refused(j, "'kernel' (a positive size) for a maxpool layer");
  j = good;
  j["layers"][2].erase("out");
  expect_refused(j, "'out' (a positive width) for a dense layer");
  // Residual blocks 17 deep: refused before the recursive reader and builder see them.
  nlohmann::json nested = {{"type", "relu"}, {"name", "r"}};
  for (int depth = 0; depth < 17; ++depth)
    nested = {{"type", "residual"}, {"name", "b" + std::to_string(depth)}, {"body", nlohmann::json::array({nested})}};
  j = good;
  j["layers"].insert(j["layers"].begin(), nested);
  expect_refused(j, "nested at most 16 deep");
}

}  // namespace
}  // namespace axsim::artifact
