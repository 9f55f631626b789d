// The simulator's energy ledger (DESIGN section 5): every action is charged to (row, component) at the
// energy of the voltage in force when it happens; leakage is charged as power x simulated time to the row
// running at that time. Rows are the network's layers plus "io" (input/output transfers, weight programming).
// Totals per row, per component and overall come from the same matrix, so they reconcile by construction.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace axsim::sim {

enum class EnergyComponent { weight_buffer, neuron_buffer, local_store, pe_array, controller, crossbar };
inline constexpr int kEnergyComponents = 6;
std::string_view to_string(EnergyComponent c);

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

class EnergyLedger {
 public:
  explicit EnergyLedger(std::vector<std::string> rows);

  int rows() const { return int(rows_.size()); }
  const std::string& row_name(int row) const { return rows_[std::size_t(row)]; }

  void add_dynamic(int row, EnergyComponent c, double joules) { cell(row, c).dynamic_j += joules; }

  // A leaking block (a bank, the PE array, the controller...): its current power is updated on voltage
  // changes; advance() charges every source for the elapsed time.
  int add_leakage_source(EnergyComponent c, double watts);
  void set_leakage_power(int source, double watts) { sources_[std::size_t(source)].watts = watts; }
  double leakage_energy_of(int source) const { return sources_[std::size_t(source)].joules; }
  void advance(int row, double seconds);

  const EnergySplit& at(int row, EnergyComponent c) const {
    return cells_[std::size_t(row) * kEnergyComponents + std::size_t(c)];
  }
  EnergySplit row_total(int row) const;
  EnergySplit component_total(EnergyComponent c) const;
  EnergySplit total() const;

 private:
  EnergySplit& cell(int row, EnergyComponent c) {
    return cells_[std::size_t(row) * kEnergyComponents + std::size_t(c)];
  }
  struct Source {
    EnergyComponent component;
    double watts = 0;
    double joules = 0;
  };
  std::vector<std::string> rows_;
  std::vector<EnergySplit> cells_;
  std::vector<Source> sources_;
};

}  // namespace axsim::sim
