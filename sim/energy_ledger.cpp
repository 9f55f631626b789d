#include "sim/energy_ledger.hpp"

namespace axsim::sim {

std::string_view to_string(EnergyComponent c) {
  switch (c) {
    case EnergyComponent::weight_buffer:
      return "weight_buffer";
    case EnergyComponent::neuron_buffer:
      return "neuron_buffer";
    case EnergyComponent::local_store:
      return "local_store";
    case EnergyComponent::pe_array:
      return "pe_array";
    case EnergyComponent::controller:
      return "controller";
    case EnergyComponent::crossbar:
      return "crossbar";
  }
  return "?";
}

EnergyLedger::EnergyLedger(std::vector<std::string> rows)
    : rows_(std::move(rows)), cells_(rows_.size() * kEnergyComponents) {}

int EnergyLedger::add_leakage_source(EnergyComponent c, double watts) {
  sources_.push_back(Source{c, watts, 0});
  return int(sources_.size()) - 1;
}

void EnergyLedger::advance(int row, double seconds) {
  if (seconds <= 0) return;
  for (Source& s : sources_) {
    const double e = s.watts * seconds;
    s.joules += e;
    cell(row, s.component).leakage_j += e;
  }
}

EnergySplit EnergyLedger::row_total(int row) const {
  EnergySplit t;
  for (int c = 0; c < kEnergyComponents; ++c) t += at(row, EnergyComponent(c));
  return t;
}

EnergySplit EnergyLedger::component_total(EnergyComponent c) const {
  EnergySplit t;
  for (int r = 0; r < rows(); ++r) t += at(r, c);
  return t;
}

EnergySplit EnergyLedger::total() const {
  EnergySplit t;
  for (const auto& cell : cells_) t += cell;
  return t;
}

}  // namespace axsim::sim
