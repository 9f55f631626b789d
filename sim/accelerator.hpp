// The top module: wires the controller to the weight and neuron buffers (TLM sockets), the PE array, the
// crossbar tiles and the voltage regulator, and registers who listens to which voltage domain.
//
//   controller --TLM--> weight_buffer (banks, weight_sram domain)
//              --TLM--> neuron_buffer (banks, neuron_sram domain)
//              -------> pe_array (staging, fast compute or clocked PE objects)   [logic + local_sram domains]
//              -------> crossbar tiles                                          [crossbar domain]
//   regulator  -------> everyone above (voltage in force per domain)
#pragma once

#include <memory>
#include <systemc>

#include "sim/controller.hpp"
#include "sim/crossbar.hpp"
#include "sim/energy_ledger.hpp"
#include "sim/pe_array.hpp"
#include "sim/regulator.hpp"
#include "sim/sram.hpp"

namespace axsim::sim {

class Accelerator : public sc_core::sc_module {
 public:
  Accelerator(sc_core::sc_module_name name, const Program& program, const QuantizedNetwork& network,
              const HardwareConfig& hw, const VoltageSchedule& schedule, const Dataset& inputs,
              const SimOptions& options, RunRecord& record);

  std::unique_ptr<sc_core::sc_clock> clock;  // cycle mode only
  EnergyLedger ledger;
  WeightBuffer weight_buffer;
  NeuronBuffer neuron_buffer;
  VoltageRegulator regulator;
  PeArray pe_array;
  CrossbarTiles crossbar;
  Controller controller;
};

}  // namespace axsim::sim
