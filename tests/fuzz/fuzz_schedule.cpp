// Voltage schedule YAML (sim/schedule.hpp). Oracle: an accepted schedule, written back by to_yaml,
// loads again.
#include "sim/schedule.hpp"
#include "tests/fuzz/fuzz_common.hpp"

extern "C" int AXSIM_FUZZ_ENTRY(const std::uint8_t* data, std::size_t size) {
  const std::string text(axsim::fuzz::as_text(data, size));
  axsim::fuzz::expect_value_or_input_error([&] {
    const auto schedule = axsim::sim::parse_voltage_schedule(text, "fuzz-schedule.yaml");
    const std::string written = axsim::sim::to_yaml(schedule);
    try {
      (void)axsim::sim::parse_voltage_schedule(written, "written.yaml");
    } catch (const axsim::InputError& e) {
      axsim::fuzz::round_trip_failed(std::string(e.what()) + "\n--- written schedule:\n" + written);
    }
  });
  return 0;
}
