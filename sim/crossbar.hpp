// Analog floating-gate crossbar tiles (Klachko 2019; DESIGN sections 3-4) for the dense layers the hardware
// config maps to them. All analog behaviour comes from models/analog_vmm.hpp:
//   * programming: the layer's weights (codes x weight step) are programmed once per chip (trial) with the
//     programming-precision noise U(-I_res/I_max, +I_res/I_max);
//   * every inference: the input codes read from the neuron buffer (faulty reads included) become software
//     values; the first layer's digital inputs go through the input DAC (dac_bits), Y = X W + bias, and every
//     output gets fresh shot noise N(0, sigma^2) (eq. 1 for the first layer, eq. 4 for the others);
//   * the ADC (adc_bits over the output format's range) turns Y into the output codes; for the output layer
//     Y is converted at the accumulator step (the logits the digital layer would produce).
// Energy per VMM = V_dd(crossbar domain) x total cell current x vmm_latency, plus one ADC conversion per
// output per row-tile (partial sums of layers larger than one tile are converted separately).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "energy/technology.hpp"
#include "models/analog_vmm.hpp"
#include "models/quantized_network.hpp"
#include "sim/energy_ledger.hpp"
#include "sim/program.hpp"

namespace axsim::sim {

class CrossbarTiles {
 public:
  CrossbarTiles(const Program& program, const QuantizedNetwork& network, const HardwareConfig& hw,
                EnergyLedger& ledger);

  bool empty() const { return layers_.empty(); }
  // A new chip: program every crossbar layer with its programming noise.
  void program_chip(std::uint64_t seed, std::uint64_t trial);
  void set_voltage(double volts);
  // One VMM of layer `plan` on the input codes; hidden layers fill `codes`, the output layer `logits`.
  void run(const LayerPlan& plan, std::span<const std::int16_t> input_codes, std::uint64_t seed, std::uint64_t trial,
           std::uint64_t inference, std::vector<std::int16_t>& codes, std::vector<std::int64_t>& logits);
  std::uint64_t vmms() const { return vmms_; }

 private:
  struct Layer {
    int plan = -1;  // index in Program::layers
    AnalogLayerParams params;
    std::vector<float> nominal_weights;     // in x out, codes x step
    std::vector<float> programmed_weights;  // this chip's weights (with programming noise)
    std::unique_ptr<AnalogVmmLayer> vmm;    // noise model of this chip (it keeps g(W), not W)
  };
  Layer* find(int plan_index);

  const Program& program_;
  const QuantizedNetwork& network_;
  const HardwareConfig& hw_;
  EnergyLedger& ledger_;
  std::vector<Layer> layers_;
  std::vector<float> x_, y_;
  double volts_ = 0;
  double adc_j_ = 0;
  int leakage_source_ = -1;
  int tiles_ = 0;
  std::uint64_t vmms_ = 0;
};

}  // namespace axsim::sim
