// The energy ledger per (layer, component, action): counts match what the dataflow did, energies are priced at
// the voltage in force, totals reconcile over layers, components and actions, and results.json / the CSVs carry
// the declared stats with their units.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "energy/eta.hpp"
#include "sim/energy_ledger.hpp"
#include "sim/results_io.hpp"
#include "sim/simulate.hpp"
#include "tests/sim/sim_test_util.hpp"

namespace axsim::sim {
namespace {

using namespace testing;

double rel(double a, double b) {
  const double m = std::max(std::fabs(a), std::fabs(b));
  return m == 0 ? 0.0 : std::fabs(a - b) / m;
}

ActionTally sum_actions(const SimulationResult& r, const std::string& row, EnergyComponent c, EnergyAction a) {
  ActionTally t;
  for (const auto& rec : r.energy_breakdown.actions)
    if ((row.empty() || rec.row == row) && rec.component == c && rec.action == a) t += rec.tally;
  return t;
}

TEST(EnergyLedger, ChargesCountsEnergyAndVoltagePerCell) {
  EnergyLedger ledger({"fc1", "io"});
  ledger.charge(0, EnergyComponent::pe_array, EnergyAction::multiply, 10, 5e-12, 1.0);
  ledger.charge(0, EnergyComponent::pe_array, EnergyAction::multiply, 30, 9e-12, 0.6);
  ledger.add_dynamic(1, EnergyComponent::controller, 2e-12);
  const int leak = ledger.add_leakage_source(EnergyComponent::weight_buffer, 1e-3);
  ledger.advance(1, 2e-6);
  const ActionTally& m = ledger.tally(0, EnergyComponent::pe_array, EnergyAction::multiply);
  EXPECT_EQ(m.count, 40);
  EXPECT_DOUBLE_EQ(m.joules, 14e-12);
  EXPECT_DOUBLE_EQ(m.mean_voltage(), (10 * 1.0 + 30 * 0.6) / 40);
  EXPECT_DOUBLE_EQ(m.min_voltage, 0.6);
  EXPECT_DOUBLE_EQ(m.max_voltage, 1.0);
  EXPECT_DOUBLE_EQ(ledger.tally(1, EnergyComponent::controller, EnergyAction::other).joules, 2e-12);
  const ActionTally& l = ledger.tally(1, EnergyComponent::weight_buffer, EnergyAction::leakage);
  EXPECT_DOUBLE_EQ(l.joules, 2e-9);
  EXPECT_DOUBLE_EQ(l.count, 2e-6);
  EXPECT_TRUE(std::isnan(l.mean_voltage()));
  EXPECT_DOUBLE_EQ(ledger.leakage_energy_of(leak), 2e-9);
  EXPECT_DOUBLE_EQ(ledger.at(1, EnergyComponent::weight_buffer).leakage_j, 2e-9);
  double by_actions = 0;
  for (int a = 0; a < kEnergyActions; ++a) by_actions += ledger.action_total(EnergyAction(a)).joules;
  EXPECT_DOUBLE_EQ(by_actions, ledger.total().total());
  EXPECT_DOUBLE_EQ(ledger.row_total(0).total() + ledger.row_total(1).total(), ledger.total().total());
}

TEST(EnergyLedger, EveryActionAndStatIsDeclaredWithAUnit) {
  for (int a = 0; a < kEnergyActions; ++a) {
    const ActionInfo& info = describe(EnergyAction(a));
    EXPECT_FALSE(info.name.empty());
    EXPECT_FALSE(info.count_unit.empty()) << info.name;
    EXPECT_FALSE(info.description.empty()) << info.name;
  }
  for (const auto& s : ledger_stats()) EXPECT_FALSE(s.unit.empty()) << s.key;
}

// A CNN on the 4x4 array with faulty weight SRAM at 0.8 V and the logic at 0.9 V.
SimulationResult undervolted_cnn(const std::string& multiplier = "") {
  const QuantizedNetwork net = small_cnn(61);
  const Dataset data = random_dataset(4, 64, 10, 62, {1, 8, 8});
  std::string hw = small_hw_yaml("fast", "{channel: flip}");
  if (!multiplier.empty()) hw.replace(hw.find("multiplier_stages"), 0, "multiplier: " + multiplier + ", ");
  SimOptions o;
  o.trials = 2;
  return simulate(net, hw_from(hw),
                  parse_voltage_schedule("version: 1\ndomains:\n  weight_sram: [{voltage: 0.8V}]\n"
                                         "  logic: [{voltage: 0.9V}]\n"),
                  data, o);
}

TEST(EnergyLedgerSim, TotalsReconcileOverLayersComponentsAndActions) {
  const auto r = undervolted_cnn();
  const double total = r.energy_total.total();
  double by_layers = 0, by_components = 0, by_actions = 0;
  for (const auto& row : r.energy_matrix)
    for (const auto& c : row) by_layers += c.total();
  for (const auto& c : r.energy_by_component) by_components += c.total();
  for (const auto& rec : r.energy_breakdown.actions) by_actions += rec.tally.joules;
  EXPECT_GT(total, 0);
  EXPECT_LT(rel(by_layers, total), 1e-12);
  EXPECT_LT(rel(by_components, total), 1e-12);
  EXPECT_LT(rel(by_actions, total), 1e-12);
  // Every charge of the instrumented simulator names its action.
  for (const auto& rec : r.energy_breakdown.actions) EXPECT_NE(rec.action, EnergyAction::other) << rec.row;
}

TEST(EnergyLedgerSim, CountsAreTheActionsTheDataflowPerformed) {
  const auto r = undervolted_cnn();
  const double inferences = double(r.inferences_total);
  for (const auto& l : r.layers) {
    if (l.engine != "pe_array") continue;
    EXPECT_EQ(sum_actions(r, l.name, EnergyComponent::pe_array, EnergyAction::multiply).count,
              double(l.macs) * inferences)
        << l.name;
    EXPECT_EQ(sum_actions(r, l.name, EnergyComponent::pe_array, EnergyAction::add).count, double(l.macs) * inferences);
    EXPECT_EQ(sum_actions(r, l.name, EnergyComponent::weight_buffer, EnergyAction::sram_read).count,
              double(l.weight_reads) * inferences)
        << l.name;
    EXPECT_EQ(sum_actions(r, l.name, EnergyComponent::neuron_buffer, EnergyAction::sram_read).count,
              double(l.neuron_reads) * inferences)
        << l.name;
  }
  // Buffer reads and writes over all rows equal the banks' counters.
  double reads = 0, writes = 0;
  for (const auto& b : r.banks)
    if (b.buffer == "weight_buffer") {
      reads += double(b.reads);
      writes += double(b.writes);
    }
  EXPECT_EQ(sum_actions(r, "", EnergyComponent::weight_buffer, EnergyAction::sram_read).count, reads);
  EXPECT_EQ(sum_actions(r, "", EnergyComponent::weight_buffer, EnergyAction::sram_write).count, writes);
}

TEST(EnergyLedgerSim, PricesAtTheVoltageInForceAndAssignsPerLayer) {
  const auto r = undervolted_cnn();
  const Technology tech = Technology::load_file(technology_path());
  const double logic_scale = std::pow(0.9 / 1.1, 2), sram_scale = std::pow(0.8 / 1.1, 2);
  for (const auto& a : r.energy_breakdown.layers) {
    if (a.engine != "pe_array") continue;
    EXPECT_NEAR(a.weight_voltage_v, 0.8, 1e-12) << a.layer;
    EXPECT_NEAR(a.logic_voltage_v, 0.9, 1e-12) << a.layer;
    EXPECT_EQ(a.drum_k, 0);
    EXPECT_LT(rel(a.multiply_j, a.multiply_nominal_j * logic_scale), 1e-12) << a.layer;
    const double p = tech.bit_error_curve(MemoryDomain::weight_sram).p_at(0.8);
    EXPECT_LT(rel(a.weight_fault_rate, p), 1e-12);
    EXPECT_LT(rel(a.eta, eta(p)), 1e-12);
  }
  // One weight word read at 0.8 V costs the nominal read energy scaled by (0.8/1.1)^2.
  const ActionTally reads = sum_actions(r, "", EnergyComponent::weight_buffer, EnergyAction::sram_read);
  const BankResult& bank = r.banks.front();
  const double nominal = tech.energy_at_nominal(Action::sram_read(bank.capacity_bytes, bank.word_bits));
  EXPECT_LT(rel(reads.joules_per_count(), nominal * sram_scale), 1e-12);
  EXPECT_NEAR(reads.mean_voltage(), 0.8, 1e-12);
  // The eta model over the layers with weights, normalized to the reliable network.
  std::vector<double> p, n;
  for (const auto& a : r.energy_breakdown.layers)
    if (a.parameters > 0) {
      p.push_back(a.weight_fault_rate);
      n.push_back(a.parameters);
    }
  EXPECT_LT(rel(r.energy_breakdown.memory_energy_normalized, memory_energy_normalized(p, n, 8)), 1e-12);
  EXPECT_LT(r.energy_breakdown.memory_energy_normalized, 1.0);
}

TEST(EnergyLedgerSim, DrumMultipliesCostTheirKAndWidth) {
  const auto exact = undervolted_cnn();
  const auto drum = undervolted_cnn("drum4");
  const Technology tech = Technology::load_file(technology_path());
  for (const auto& a : drum.energy_breakdown.layers) {
    if (a.engine != "pe_array") continue;
    EXPECT_EQ(a.drum_k, 4);
    EXPECT_DOUBLE_EQ(a.multiply_nominal_j, tech.energy_at_nominal(Action::multiply_drum(a.multiply_bits, 4)));
    EXPECT_LT(a.multiply_nominal_j, a.multiply_exact_nominal_j);
  }
  EXPECT_LT(sum_actions(drum, "", EnergyComponent::pe_array, EnergyAction::multiply).joules,
            sum_actions(exact, "", EnergyComponent::pe_array, EnergyAction::multiply).joules);
  // The table: every k of the width used, cheaper than exact below the width.
  bool found = false;
  for (const auto& d : drum.energy_breakdown.drum_table)
    if (d.k == 4) {
      found = true;
      EXPECT_DOUBLE_EQ(d.nominal_j, tech.energy_at_nominal(Action::multiply_drum(d.bits, 4)));
    }
  EXPECT_TRUE(found);
}

TEST(EnergyLedgerSim, CrossbarPowerComesFromTheCurrents) {
  const QuantizedNetwork net = random_mlp({64, 32, 10}, 81);
  const Dataset data = random_dataset(8, 64, 10, 82);
  auto run = [&](const std::string& i_max) {
    const std::string xb = "crossbar: {layers: [fc1], i_max: " + i_max + ", rows: 32, cols: 16, adc_bits: 10}\n";
    return simulate(net, hw_from(small_hw_yaml("fast", "", "", xb)), nominal_schedule(), data);
  };
  const auto lo = run("10nA"), hi = run("1uA");
  const ActionTally vmm = sum_actions(hi, "fc1", EnergyComponent::crossbar, EnergyAction::crossbar_array);
  EXPECT_EQ(vmm.count, double(hi.crossbar_vmms));
  EXPECT_EQ(sum_actions(hi, "fc1", EnergyComponent::crossbar, EnergyAction::adc_conversion).count,
            double(hi.crossbar_vmms) * 32 * 2);  // 32 outputs x ceil(64 / 32) row tiles
  const auto& a_hi = hi.energy_breakdown.layers.front();
  const auto& a_lo = lo.energy_breakdown.layers.front();
  EXPECT_EQ(a_hi.engine, "crossbar");
  EXPECT_DOUBLE_EQ(a_hi.i_max_na, 1000.0);
  EXPECT_GT(a_hi.crossbar_array_power_w, 0);
  // Larger currents, more power (cell currents scale with I_max).
  EXPECT_GT(a_hi.crossbar_array_power_w, 10 * a_lo.crossbar_array_power_w);
}

TEST(EnergyLedgerSim, ResultsJsonAndCsvsCarryTheLedgerWithUnits) {
  const auto r = undervolted_cnn();
  const nlohmann::json j = to_json(r);
  const auto& ledger = j["energy"]["ledger"];
  ASSERT_TRUE(ledger.contains("stats"));
  for (const auto& s : ledger["stats"]) EXPECT_FALSE(s["unit"].get<std::string>().empty());
  const auto& rec = ledger["reconciliation"];
  const double total = rec["total_j"].get<double>();
  EXPECT_LT(rel(rec["sum_over_rows_j"].get<double>(), total), 1e-12);
  EXPECT_LT(rel(rec["sum_over_components_j"].get<double>(), total), 1e-12);
  EXPECT_LT(rel(rec["sum_over_actions_j"].get<double>(), total), 1e-12);
  EXPECT_EQ(ledger["cells"].size(), r.energy_breakdown.actions.size());
  EXPECT_FALSE(j["energy"].contains("by_action"));  // lives under energy.ledger
  EXPECT_TRUE(ledger["by_action"].contains("multiply"));
  EXPECT_EQ(j["assignment"].size(), r.layers.size());
  EXPECT_LT(j["energy"]["eta_model"]["memory_energy_normalized"].get<double>(), 1.0);
  const std::string actions = energy_actions_csv(r);
  EXPECT_EQ(actions.rfind("row,component,action,count,count_unit,energy_j", 0), 0u);
  EXPECT_NE(actions.find(",multiply,"), std::string::npos);
  EXPECT_EQ(energy_components_csv(r).rfind("component,dynamic_j,leakage_j,total_j,per_inference_j", 0), 0u);
  EXPECT_EQ(energy_layers_csv(r).rfind("row,dynamic_j", 0), 0u);
  EXPECT_EQ(assignment_csv(r).rfind("layer,engine,multiplier,drum_k", 0), 0u);
}

}  // namespace
}  // namespace axsim::sim
