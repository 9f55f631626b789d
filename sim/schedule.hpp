// Voltage schedules (configs/schedules/*.yaml, DESIGN section 4 "Voltage schedule").
//
//   version: 1
//   name: undervolt-weights-after-5000
//   settling_time: 10us            # optional regulator settling time (default 0)
//   domains:                       # weight_sram | neuron_sram | local_sram | logic | crossbar
//     weight_sram:
//       - {voltage: 1.1V}                      # no trigger: from the start of every trial (chip)
//       - {after: 5000, voltage: 0.66V}        # from inference 5000 (0-based, counted per trial)
//       - {at: 2ms, voltage: 0.6V}             # from simulated time 2ms after the trial started
//     neuron_sram:
//       - {layers: {fc1: 0.55V, fc2: 0.7V}}    # while these layers run (others: the domain's base voltage)
//
// Semantics (the regulator, sim/regulator.hpp, implements them):
//   * Each domain has a base voltage (the technology's nominal voltage until an entry sets one) and a table of
//     per-layer voltages (empty until an entry sets one). An entry with `voltage` sets the base; an entry with
//     `layers` replaces the table (`layers: {}` clears it); an entry may carry both.
//   * The voltage in force while layer L runs is table[L] if present, else the base.
//   * Entries apply at their trigger, in file order for equal triggers; a new trial (a new chip) starts again
//     from the first entry.
//   * settling_time: a time-triggered change takes effect settling_time after `at` (the rail ramps while the
//     chip keeps working at the old level); a change at an inference or layer boundary stalls the controller
//     for settling_time before that inference/layer runs, so the new level holds from its first access.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "sim/hw_config.hpp"

namespace axsim::sim {

struct LayerVoltage {
  std::string layer;
  double volts = 0;
  std::string location;  // where in the file it was written ("line 7, key domains.x"), for messages
};

struct ScheduleEntry {
  enum class Trigger { start, time, inference };
  Trigger trigger = Trigger::start;
  double at_s = 0;          // Trigger::time
  std::uint64_t after = 0;  // Trigger::inference
  std::optional<double> voltage;
  std::optional<std::vector<LayerVoltage>> layers;
  std::string location;
};

struct VoltageSchedule {
  std::string name = "nominal";
  std::string file = "<built-in nominal schedule>";
  double settling_s = 0;
  std::array<std::vector<ScheduleEntry>, kVoltageDomainCount> domains;

  const std::vector<ScheduleEntry>& entries(VoltageDomain d) const { return domains[std::size_t(d)]; }
  bool empty() const;
  // Throws InputError (file and location of the entry) if an entry names a layer that is not in `layers`.
  void check_layers(const std::vector<std::string>& layers) const;
  // The lowest voltage this schedule can put on domain `d` (the nominal voltage counts: it is the start).
  double lowest_voltage(VoltageDomain d, double nominal_volts) const;
};

// The empty schedule: every domain at the technology's nominal voltage.
VoltageSchedule nominal_schedule();
VoltageSchedule load_voltage_schedule(const std::string& path);
VoltageSchedule parse_voltage_schedule(const std::string& yaml_text, const std::string& name = "<string>");
VoltageSchedule voltage_schedule_from(const ConfigNode& root);

std::string to_yaml(const VoltageSchedule& schedule);

}  // namespace axsim::sim
