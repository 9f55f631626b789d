// Hardware YAML (sim/hw_config.hpp). Relative technology paths resolve against configs/hw, as for
// the shipped configs. Oracle: an accepted config, written back by to_yaml, loads again.
#include "core/config.hpp"
#include "sim/hw_config.hpp"
#include "tests/fuzz/fuzz_common.hpp"

extern "C" int AXSIM_FUZZ_ENTRY(const std::uint8_t* data, std::size_t size) {
  const std::string text(axsim::fuzz::as_text(data, size));
  axsim::fuzz::expect_value_or_input_error([&] {
    const auto root = axsim::ConfigNode::parse(text, "fuzz-hw.yaml");
    const auto config = axsim::sim::hardware_config_from(root, AXSIM_SOURCE_DIR "/configs/hw");
    const std::string resolved = axsim::sim::to_yaml(config);
    try {
      (void)axsim::sim::hardware_config_from(axsim::ConfigNode::parse(resolved, "resolved.yaml"), "/");
    } catch (const axsim::InputError& e) {
      axsim::fuzz::round_trip_failed(std::string(e.what()) + "\n--- resolved config:\n" + resolved);
    }
  });
  return 0;
}
