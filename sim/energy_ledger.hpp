// The simulator's energy ledger (DESIGN section 5): every action is counted and charged to
// (row, component, action) at the energy of the voltage in force when it happens; leakage is charged as
// power x simulated time to the row running at that time. Rows are the network's layers plus "io" (input/output
// transfers, weight programming). Totals per row, per component, per action and overall come from the same
// cells, so they reconcile by construction (tests check it anyway).
//
// Stats are declared once, with their units (gem5/SST style): describe(EnergyAction) names each action and the
// unit of its count, ledger_stats() the fields of one tally. results_io writes both declarations next to the
// numbers, so every number in results.json / the CSVs / the report carries its unit.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace axsim {
struct QuantizedNetwork;
}

namespace axsim::sim {

struct HardwareConfig;
struct Program;

enum class EnergyComponent { weight_buffer, neuron_buffer, local_store, pe_array, controller, crossbar };
inline constexpr int kEnergyComponents = 6;
std::string_view to_string(EnergyComponent c);

// What was done. `other` holds charges made through add_dynamic() without an action (kept so an uninstrumented
// caller still reconciles); `leakage` is power x time.
enum class EnergyAction {
  sram_read,
  sram_write,
  multiply,
  add,
  register_access,
  local_store_read,
  local_store_write,
  pool_op,
  crossbar_array,
  adc_conversion,
  other,
  leakage
};
inline constexpr int kEnergyActions = 12;

struct ActionInfo {
  std::string_view name;        // "sram_read"
  std::string_view count_unit;  // what one count is: "word reads"
  std::string_view description;
};
const ActionInfo& describe(EnergyAction a);
std::string_view to_string(EnergyAction a);

// One declared statistic of a tally: its key in results.json / the CSV header, unit and meaning.
struct StatDeclaration {
  std::string_view key, unit, description;
};
const std::vector<StatDeclaration>& ledger_stats();

struct EnergySplit {
  double dynamic_j = 0;
  double leakage_j = 0;
  double total() const { return dynamic_j + leakage_j; }
  EnergySplit& operator+=(const EnergySplit& o) {
    dynamic_j += o.dynamic_j;
    leakage_j += o.leakage_j;
    return *this;
  }
};

// Counts and energy of one (row, component, action) cell. Voltages are count-weighted over the charges that
// named one (leakage charges do not).
struct ActionTally {
  double count = 0;   // in describe(action).count_unit
  double joules = 0;  // at the voltage in force at each charge
  double voltage_weight = 0, voltage_sum = 0;
  double min_voltage = std::numeric_limits<double>::infinity();
  double max_voltage = -std::numeric_limits<double>::infinity();

  double joules_per_count() const { return count > 0 ? joules / count : 0.0; }
  // Count-weighted mean voltage; NaN when no charge named a voltage.
  double mean_voltage() const {
    return voltage_weight > 0 ? voltage_sum / voltage_weight : std::numeric_limits<double>::quiet_NaN();
  }
  ActionTally& operator+=(const ActionTally& o);
};

class EnergyLedger {
 public:
  explicit EnergyLedger(std::vector<std::string> rows);

  int rows() const { return int(rows_.size()); }
  const std::string& row_name(int row) const { return rows_[std::size_t(row)]; }

  // `count` actions costing `joules` in total, done at `volts` (0: not recorded).
  void charge(int row, EnergyComponent c, EnergyAction a, double count, double joules, double volts = 0) {
    cell(row, c).dynamic_j += joules;
    ActionTally& t = tally_ref(row, c, a);
    t.count += count;
    t.joules += joules;
    if (volts > 0 && count > 0) {
      t.voltage_weight += count;
      t.voltage_sum += count * volts;
      if (volts < t.min_voltage) t.min_voltage = volts;
      if (volts > t.max_voltage) t.max_voltage = volts;
    }
  }
  // Energy without an action (charged to EnergyAction::other, count 0).
  void add_dynamic(int row, EnergyComponent c, double joules) { charge(row, c, EnergyAction::other, 0, joules); }

  // A leaking block (a bank, the PE array, the controller...): its current power is updated on voltage
  // changes; advance() charges every source for the elapsed time.
  int add_leakage_source(EnergyComponent c, double watts);
  void set_leakage_power(int source, double watts) { sources_[std::size_t(source)].watts = watts; }
  double leakage_energy_of(int source) const { return sources_[std::size_t(source)].joules; }
  void advance(int row, double seconds);

  const EnergySplit& at(int row, EnergyComponent c) const {
    return cells_[std::size_t(row) * kEnergyComponents + std::size_t(c)];
  }
  const ActionTally& tally(int row, EnergyComponent c, EnergyAction a) const {
    return tallies_[(std::size_t(row) * kEnergyComponents + std::size_t(c)) * kEnergyActions + std::size_t(a)];
  }
  EnergySplit row_total(int row) const;
  EnergySplit component_total(EnergyComponent c) const;
  ActionTally action_total(EnergyAction a) const;  // over rows and components
  EnergySplit total() const;

 private:
  EnergySplit& cell(int row, EnergyComponent c) {
    return cells_[std::size_t(row) * kEnergyComponents + std::size_t(c)];
  }
  ActionTally& tally_ref(int row, EnergyComponent c, EnergyAction a) {
    return tallies_[(std::size_t(row) * kEnergyComponents + std::size_t(c)) * kEnergyActions + std::size_t(a)];
  }
  struct Source {
    EnergyComponent component;
    double watts = 0;
    double joules = 0;
  };
  std::vector<std::string> rows_;
  std::vector<EnergySplit> cells_;
  std::vector<ActionTally> tallies_;
  std::vector<Source> sources_;
};

// ---------------------------------------------------------------------------------------------------------
// What a run's results need beyond the row x component matrix: the non-empty action cells, the per-layer
// hardware assignment seen by the ledger, DRUM energies and the papers' abstract eta(p) memory energy.

struct ActionRecord {
  std::string row;
  EnergyComponent component = EnergyComponent::pe_array;
  EnergyAction action = EnergyAction::other;
  ActionTally tally;
};

struct LayerEnergyAssignment {
  std::string layer, engine, multiplier;
  int drum_k = 0;          // 0: exact multiplier (or not a PE-array layer)
  int multiply_bits = 0;   // operand width the multiplier is priced at (0: no multiplies)
  double weight_voltage_v = std::numeric_limits<double>::quiet_NaN();    // mean over the layer's weight reads
  double logic_voltage_v = std::numeric_limits<double>::quiet_NaN();     // mean over its multiplies / pool ops
  double crossbar_voltage_v = std::numeric_limits<double>::quiet_NaN();  // mean over its VMMs
  double weight_fault_rate = 0;  // p of the weight memory at weight_voltage_v (0: reliable cells)
  double i_max_na = std::numeric_limits<double>::quiet_NaN();  // crossbar layers
  double parameters = 0;         // weights (n_l of the eta model)
  double eta = 1;                // eta(weight_fault_rate)
  double multiply_nominal_j = 0;        // one multiply at nominal voltage (DRUM-k or exact)
  double multiply_exact_nominal_j = 0;  // the exact multiplier of the same width, at nominal
  double multiply_j = 0;                // mean energy per multiply actually charged (at the voltages in force)
  double crossbar_array_power_w = 0;    // mean supply power of the array during its VMMs (V x I)
};

struct DrumEnergy {
  int bits = 0, k = 0;  // k = 0: exact
  double nominal_j = 0;
};

struct EnergyBreakdown {
  std::vector<ActionRecord> actions;  // non-empty cells, row-major
  std::vector<LayerEnergyAssignment> layers;
  std::vector<DrumEnergy> drum_table;  // every k for each multiplier width the run used
  double eta_a = 0;                    // eta(p) = -ln(p)/a
  int bits_per_parameter = 0;          // zeta: the weight buffer's word width
  double memory_energy_bits = 0;       // E(p) = zeta * sum_l eta(p_l) n_l   (reliable bit reads)
  double memory_energy_normalized = 1; // E(p) / E(0)
};

// Built by simulate() once the simulation has ended.
EnergyBreakdown summarize_energy(const EnergyLedger& ledger, const QuantizedNetwork& network,
                                 const HardwareConfig& hw, const Program& program);

}  // namespace axsim::sim
