// Technology YAML (energy/technology.hpp), through the same ConfigNode parse Technology::load_file uses.
#include "core/config.hpp"
#include "energy/technology.hpp"
#include "tests/fuzz/fuzz_common.hpp"

extern "C" int AXSIM_FUZZ_ENTRY(const std::uint8_t* data, std::size_t size) {
  const std::string text(axsim::fuzz::as_text(data, size));
  axsim::fuzz::expect_value_or_input_error([&] {
    const auto technology = axsim::Technology::from_config(axsim::ConfigNode::parse(text, "fuzz-tech.yaml"));
    (void)technology.dynamic_scale(technology.nominal_voltage());
    (void)technology.leakage_scale(technology.nominal_voltage());
  });
  return 0;
}
