// Energy accounting: the ledger reconciles (layers == components == total, banks == buffers), dynamic energy
// scales with the voltage in force, and leakage is power x simulated time.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "sim/results_io.hpp"
#include "sim/simulate.hpp"
#include "tests/sim/sim_test_util.hpp"

namespace axsim::sim {
namespace {

using namespace testing;

double rel(double a, double b) { return std::fabs(a - b) / std::max(std::fabs(a), std::fabs(b)); }

TEST(SimEnergy, LedgerReconcilesAcrossLayersComponentsAndBanks) {
  const QuantizedNetwork net = small_cnn(61);
  const Dataset data = random_dataset(6, 64, 10, 62, {1, 8, 8});
  const auto r = simulate(net, hw_from(small_hw_yaml("fast", "{channel: flip}")),
                          parse_voltage_schedule("version: 1\ndomains:\n  weight_sram: [{voltage: 0.8V}]\n"), data);
  double by_rows = 0, by_components = 0, by_layers = 0;
  for (const auto& row : r.energy_matrix)
    for (const auto& c : row) by_rows += c.total();
  for (const auto& c : r.energy_by_component) by_components += c.total();
  for (const auto& l : r.layers) by_layers += l.energy_total.total();
  const double io = [&] {
    double e = 0;
    for (const auto& c : r.energy_matrix.back()) e += c.total();
    return e;
  }();
  EXPECT_GT(r.energy_total.total(), 0);
  EXPECT_LT(rel(by_rows, r.energy_total.total()), 1e-12);
  EXPECT_LT(rel(by_components, r.energy_total.total()), 1e-12);
  EXPECT_LT(rel(by_layers + io, r.energy_total.total()), 1e-12);
  EXPECT_EQ(r.energy_rows.back(), "io");
  // Banks add up to their buffer's component.
  double wb_dyn = 0, wb_leak = 0, nb_dyn = 0, nb_leak = 0;
  for (const auto& b : r.banks) {
    (b.buffer == "weight_buffer" ? wb_dyn : nb_dyn) += b.dynamic_j;
    (b.buffer == "weight_buffer" ? wb_leak : nb_leak) += b.leakage_j;
  }
  const auto& wb = r.energy_by_component[std::size_t(EnergyComponent::weight_buffer)];
  const auto& nb = r.energy_by_component[std::size_t(EnergyComponent::neuron_buffer)];
  EXPECT_LT(rel(wb_dyn, wb.dynamic_j), 1e-12);
  EXPECT_LT(rel(wb_leak, wb.leakage_j), 1e-12);
  EXPECT_LT(rel(nb_dyn, nb.dynamic_j), 1e-12);
  EXPECT_LT(rel(nb_leak, nb.leakage_j), 1e-12);
  // Every component that exists spends energy; there is no crossbar here.
  for (EnergyComponent c : {EnergyComponent::weight_buffer, EnergyComponent::neuron_buffer,
                            EnergyComponent::local_store, EnergyComponent::pe_array, EnergyComponent::controller})
    EXPECT_GT(r.energy_by_component[std::size_t(c)].total(), 0) << to_string(c);
  EXPECT_EQ(r.energy_by_component[std::size_t(EnergyComponent::crossbar)].total(), 0);
}

TEST(SimEnergy, DynamicEnergyScalesWithTheVoltageInForce) {
  const QuantizedNetwork net = random_mlp({64, 32, 10}, 63);
  const Dataset data = random_dataset(10, 64, 10, 64);
  const HardwareConfig hw = hw_from(small_hw_yaml());  // reliable cells: same reads at every voltage
  const auto nominal = simulate(net, hw, nominal_schedule(), data);
  const auto low =
      simulate(net, hw, parse_voltage_schedule("version: 1\ndomains:\n  weight_sram: [{voltage: 0.8V}]\n"), data);
  const auto& a = nominal.energy_by_component[std::size_t(EnergyComponent::weight_buffer)];
  const auto& b = low.energy_by_component[std::size_t(EnergyComponent::weight_buffer)];
  const double vnom = hw.technology->nominal_voltage();
  EXPECT_NEAR(b.dynamic_j / a.dynamic_j, std::pow(0.8 / vnom, hw.technology->dynamic_exponent()), 1e-9);
  EXPECT_NEAR(b.leakage_j / a.leakage_j, hw.technology->leakage_scale(0.8), 1e-9);
  // Other components are untouched.
  const auto& pa = nominal.energy_by_component[std::size_t(EnergyComponent::pe_array)];
  const auto& pb = low.energy_by_component[std::size_t(EnergyComponent::pe_array)];
  EXPECT_LT(rel(pa.total(), pb.total()), 1e-12);
}

TEST(SimEnergy, LeakageIsPowerTimesSimulatedTime) {
  const QuantizedNetwork net = random_mlp({64, 32, 10}, 65);
  const Dataset data = random_dataset(10, 64, 10, 66);
  const HardwareConfig hw = hw_from(small_hw_yaml());
  const auto r = simulate(net, hw, nominal_schedule(), data);
  const Technology& t = *hw.technology;
  const double v = t.nominal_voltage();
  const double pes = 16;
  const double power = pes * t.leakage_power(Component::pe(), v) + t.leakage_power(Component::controller(), v) +
                       2 * t.leakage_power(Component::sram(4096), v) + 2 * t.leakage_power(Component::sram(2048), v) +
                       pes * t.leakage_power(Component::sram(16), v);
  EXPECT_LT(rel(r.energy_total.leakage_j, power * r.simulated_seconds), 1e-9);
  EXPECT_NEAR(r.simulated_seconds, double(r.total_cycles) / hw.clock_hz, 1e-12);
}

TEST(SimEnergy, DrumMultipliersCostLessThanExactOnes) {
  const Dataset data = random_dataset(5, 64, 10, 67);
  const auto exact = simulate(random_mlp({64, 32, 10}, 68), hw_from(small_hw_yaml()), nominal_schedule(), data);
  const auto drum = simulate(random_mlp({64, 32, 10}, 68, Multiplier::drum(4, 8)), hw_from(small_hw_yaml()),
                             nominal_schedule(), data);
  EXPECT_LT(drum.energy_by_component[std::size_t(EnergyComponent::pe_array)].dynamic_j,
            exact.energy_by_component[std::size_t(EnergyComponent::pe_array)].dynamic_j);
}

TEST(SimResults, RunDirectoryHoldsJsonCsvAndTheResolvedConfig) {
  const QuantizedNetwork net = random_mlp({32, 16, 10}, 69);
  const Dataset data = random_dataset(8, 32, 10, 70);
  SimOptions o;
  o.trials = 2;
  const auto r =
      simulate(net, hw_from(small_hw_yaml("fast", "{channel: flip}")),
               parse_voltage_schedule("version: 1\ndomains:\n  weight_sram: [{after: 3, voltage: 0.6V}]\n"), data, o);
  const std::string dir = ::testing::TempDir() + "/axsim-sim-run";
  std::filesystem::remove_all(dir);
  write_run_directory(dir, r, RunDescription{"in-code network", "random", "test"});
  for (const char* f : {"results.json", "config.yaml", "hardware.yaml", "schedule.yaml", "layers.csv", "banks.csv",
                        "energy.csv", "trials.csv", "voltage_events.csv"})
    EXPECT_TRUE(std::filesystem::exists(dir + "/" + f)) << f;
  std::ifstream in(dir + "/results.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_EQ(j["accuracy"]["trials"], 2);
  EXPECT_EQ(j["layers"].size(), 2u);
  EXPECT_EQ(j["banks"].size(), 4u);
  EXPECT_DOUBLE_EQ(j["energy"]["total"]["total_j"].get<double>(), r.energy_total.total());
  EXPECT_EQ(j["time"]["total_cycles"].get<std::uint64_t>(), r.total_cycles);
  EXPECT_GT(j["voltage"]["changes"].get<int>(), 0);
  // The resolved hardware file loads again as the same configuration.
  EXPECT_EQ(to_yaml(load_hardware_config(dir + "/hardware.yaml")), r.hardware_yaml);
  EXPECT_EQ(to_yaml(load_voltage_schedule(dir + "/schedule.yaml")), r.schedule_yaml);
  std::ifstream csv(dir + "/banks.csv");
  std::string line;
  int lines = 0;
  while (std::getline(csv, line)) ++lines;
  EXPECT_EQ(lines, 1 + 4);
}

}  // namespace
}  // namespace axsim::sim
