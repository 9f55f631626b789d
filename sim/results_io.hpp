// Writing a simulation's results (DESIGN section 7, "Results"): results.json, CSV tables and the resolved
// configuration, every file written atomically (temporary file + rename), so a run directory never holds a
// half-written file. Units: JSON keys end in their unit (_j joules, _s seconds, _hz hertz, _w watts, _v volts);
// counts of cycles are clock cycles; accuracies are fractions of inferences.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "sim/simulate.hpp"

namespace axsim::sim {

// Everything the run needs to be reproduced, beyond the hardware and schedule.
struct RunDescription {
  std::string model;  // artifact path or a description
  std::string data;   // dataset spec
  std::string command_line;
};

nlohmann::json to_json(const SimulationResult& result, const RunDescription& run = {});

std::string layers_csv(const SimulationResult& result);
std::string banks_csv(const SimulationResult& result);
std::string energy_csv(const SimulationResult& result);  // ledger: row x component, dynamic and leakage
std::string energy_actions_csv(const SimulationResult& result);     // ledger: row x component x action
std::string energy_layers_csv(const SimulationResult& result);      // per row (layers + io)
std::string energy_components_csv(const SimulationResult& result);  // per component
std::string assignment_csv(const SimulationResult& result);  // per layer: p, voltages, DRUM k, I_max, eta
std::string trials_csv(const SimulationResult& result);
std::string voltage_events_csv(const SimulationResult& result);
// config.yaml: {run: ..., hardware: <resolved>, schedule: <resolved>}.
std::string resolved_config_yaml(const SimulationResult& result, const RunDescription& run);

// Creates `dir` and writes results.json, config.yaml, hardware.yaml, schedule.yaml, layers.csv, banks.csv,
// energy.csv, energy_actions.csv, energy_layers.csv, energy_components.csv, assignment.csv, trials.csv and
// voltage_events.csv. Throws OutputError.
void write_run_directory(const std::string& dir, const SimulationResult& result, const RunDescription& run = {});

}  // namespace axsim::sim
