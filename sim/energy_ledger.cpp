#include "sim/energy_ledger.hpp"

#include <algorithm>
#include <cmath>

#include "energy/eta.hpp"
#include "models/fault_channel.hpp"
#include "models/quantized_network.hpp"
#include "sim/hw_config.hpp"
#include "sim/program.hpp"

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

const ActionInfo& describe(EnergyAction a) {
  static const std::array<ActionInfo, kEnergyActions> table{{
      {"sram_read", "word reads", "buffer SRAM read of one word"},
      {"sram_write", "word writes", "buffer SRAM write of one word"},
      {"multiply", "multiplies", "one product in a PE (exact or DRUM-k, at the layer's operand width)"},
      {"add", "adds", "adder-tree / accumulator add of one product"},
      {"register_access", "operand latches", "operand register of a PE (neuron, or weight when not reused locally)"},
      {"local_store_read", "word reads", "PE weight local-store read of one word"},
      {"local_store_write", "word writes", "PE weight local-store write of one word"},
      {"pool_op", "compares/adds", "one compare (max) or add (average) of the pooling unit"},
      {"crossbar_array", "VMMs", "analog array supply energy of one vector-matrix multiply: V x I x latency"},
      {"adc_conversion", "conversions", "one ADC conversion of a crossbar column (per row tile)"},
      {"other", "-", "energy charged without an action (uninstrumented caller)"},
      {"leakage", "block-seconds", "leakage power x simulated time (count: leaking blocks x seconds)"},
  }};
  return table[std::size_t(a)];
}

std::string_view to_string(EnergyAction a) { return describe(a).name; }

const std::vector<StatDeclaration>& ledger_stats() {
  static const std::vector<StatDeclaration> stats{
      {"count", "see count_unit", "actions counted (unit per action: count_unit)"},
      {"energy_j", "J", "energy of these actions at the voltages in force when they happened, whole run"},
      {"energy_per_count_j", "J", "energy_j / count"},
      {"mean_voltage_v", "V", "count-weighted mean supply voltage of the charges (null: not recorded)"},
      {"min_voltage_v", "V", "lowest supply voltage of a charge"},
      {"max_voltage_v", "V", "highest supply voltage of a charge"},
  };
  return stats;
}

ActionTally& ActionTally::operator+=(const ActionTally& o) {
  count += o.count;
  joules += o.joules;
  voltage_weight += o.voltage_weight;
  voltage_sum += o.voltage_sum;
  min_voltage = std::min(min_voltage, o.min_voltage);
  max_voltage = std::max(max_voltage, o.max_voltage);
  return *this;
}

EnergyLedger::EnergyLedger(std::vector<std::string> rows)
    : rows_(std::move(rows)),
      cells_(rows_.size() * kEnergyComponents),
      tallies_(rows_.size() * kEnergyComponents * kEnergyActions) {}

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
    ActionTally& t = tally_ref(row, s.component, EnergyAction::leakage);
    t.count += seconds;
    t.joules += e;
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

ActionTally EnergyLedger::action_total(EnergyAction a) const {
  ActionTally t;
  for (int r = 0; r < rows(); ++r)
    for (int c = 0; c < kEnergyComponents; ++c) t += tally(r, EnergyComponent(c), a);
  return t;
}

EnergySplit EnergyLedger::total() const {
  EnergySplit t;
  for (const auto& cell : cells_) t += cell;
  return t;
}

// ---------------------------------------------------------------------------------------------------------

namespace {

// The operand width a PE-array layer's multiplies are priced at: the wider of the weight and activation
// formats (the controller prices them the same way, Controller::energies()).
int multiply_width(const QLayer& l, const LayerPlan& plan) {
  return std::max(l.weight_format.bits, plan.input.format.bits);
}

Action multiply_action(const Multiplier& m, int width) {
  return m.kind == Multiplier::Kind::drum && m.k < width ? Action::multiply_drum(width, m.k)
                                                         : Action::multiply_exact(width);
}

// Fault rate of the weight memory at `volts`, as the SRAM model applies it (sram.cpp, SramBuffer::rate_at):
// a fixed rate when the config gives one, else the technology's bit-error curve capped at the channel's maximum.
double weight_fault_rate(const HardwareConfig& hw, double volts) {
  const BufferConfig& b = hw.weight_buffer;
  if (!b.fault) return 0.0;
  if (b.fault->fixed_rate) return *b.fault->fixed_rate;
  if (!std::isfinite(volts)) volts = hw.technology->nominal_voltage();
  const double p = hw.technology->bit_error_curve(memory_domain(b.domain)).p_at(volts);
  return std::min(p, make_fault_channel(b.fault->channel)->max_rate());
}

}  // namespace

EnergyBreakdown summarize_energy(const EnergyLedger& ledger, const QuantizedNetwork& network, const HardwareConfig& hw,
                                 const Program& program) {
  EnergyBreakdown out;
  for (int r = 0; r < ledger.rows(); ++r)
    for (int c = 0; c < kEnergyComponents; ++c)
      for (int a = 0; a < kEnergyActions; ++a) {
        const ActionTally& t = ledger.tally(r, EnergyComponent(c), EnergyAction(a));
        if (t.count != 0 || t.joules != 0)
          out.actions.push_back(ActionRecord{ledger.row_name(r), EnergyComponent(c), EnergyAction(a), t});
      }

  const Technology& tech = *hw.technology;
  out.eta_a = kDefaultReliabilityExponent;
  out.bits_per_parameter = hw.weight_buffer.word_bits;
  std::vector<double> p_per_layer, params_per_layer;
  std::vector<int> widths;
  for (const LayerPlan& plan : program.layers) {
    const QLayer& l = network.layers[std::size_t(plan.index)];
    LayerEnergyAssignment a;
    a.layer = plan.name;
    a.engine = std::string(to_string(plan.engine));
    const int row = plan.index;
    a.weight_voltage_v = ledger.tally(row, EnergyComponent::weight_buffer, EnergyAction::sram_read).mean_voltage();
    const ActionTally& mul = ledger.tally(row, EnergyComponent::pe_array, EnergyAction::multiply);
    const ActionTally& pool = ledger.tally(row, EnergyComponent::pe_array, EnergyAction::pool_op);
    a.logic_voltage_v = mul.count > 0 ? mul.mean_voltage() : pool.mean_voltage();
    if (plan.engine == Engine::pe_array) {
      a.multiplier = plan.multiplier.name();
      a.drum_k = plan.multiplier.kind == Multiplier::Kind::drum ? plan.multiplier.k : 0;
      a.multiply_bits = multiply_width(l, plan);
      a.multiply_nominal_j = tech.energy_at_nominal(multiply_action(plan.multiplier, a.multiply_bits));
      a.multiply_exact_nominal_j = tech.energy_at_nominal(Action::multiply_exact(a.multiply_bits));
      a.multiply_j = mul.joules_per_count();
      if (std::find(widths.begin(), widths.end(), a.multiply_bits) == widths.end()) widths.push_back(a.multiply_bits);
    }
    if (plan.engine == Engine::crossbar && hw.crossbar) {
      const ActionTally& vmm = ledger.tally(row, EnergyComponent::crossbar, EnergyAction::crossbar_array);
      a.crossbar_voltage_v = vmm.mean_voltage();
      a.i_max_na = hw.crossbar->i_max_na;
      // Array energy per VMM / VMM latency = mean supply power while the array computes.
      if (vmm.count > 0 && hw.crossbar->vmm_latency_s > 0)
        a.crossbar_array_power_w = vmm.joules_per_count() / hw.crossbar->vmm_latency_s;
    }
    if (l.has_weights()) {
      a.parameters = double(l.weights.size());
      // Crossbar weights live in the analog cells, not in the faulty weight SRAM: reliable in the eta model.
      a.weight_fault_rate = plan.engine == Engine::pe_array ? weight_fault_rate(hw, a.weight_voltage_v) : 0.0;
      a.eta = eta(a.weight_fault_rate, out.eta_a);
      p_per_layer.push_back(a.weight_fault_rate);
      params_per_layer.push_back(a.parameters);
    }
    out.layers.push_back(std::move(a));
  }
  if (!p_per_layer.empty()) {
    const double zeta = double(out.bits_per_parameter);
    out.memory_energy_bits = memory_energy(p_per_layer, params_per_layer, zeta, out.eta_a);
    out.memory_energy_normalized = memory_energy_normalized(p_per_layer, params_per_layer, zeta, out.eta_a);
  }
  std::sort(widths.begin(), widths.end());
  for (int bits : widths) {
    out.drum_table.push_back(DrumEnergy{bits, 0, tech.energy_at_nominal(Action::multiply_exact(bits))});
    for (int k = 2; k < bits; ++k)
      out.drum_table.push_back(DrumEnergy{bits, k, tech.energy_at_nominal(Action::multiply_drum(bits, k))});
  }
  return out;
}

}  // namespace axsim::sim
