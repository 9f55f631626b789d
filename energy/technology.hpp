// Technology file: the energy of every action the simulator counts, leakage power per component, how
// both scale with supply voltage, and the bit-error curve of each memory domain (DESIGN section 5).
// The format is documented in configs/tech/README.md; configs/tech/default-65nm.yaml is the default.
//
// Voltage scaling (V = the voltage of the domain the action runs in, V_nom = nominal_voltage):
//   dynamic energy   E(V) = E_nom * (V / V_nom)^alpha                      (alpha = 2: E = C V^2)
//   leakage power    P(V) = P_nom * (V / V_nom) * exp((V - V_nom) / s)     (s = 0.18 V: leakage current
//                    falls exponentially with V through DIBL; power = V * I)
// Energies are per single action (one SRAM access of `bits` bits, one multiply, one add, one register
// access of `bits` bits, one ADC conversion), in joules; leakage powers in watts.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "models/voltage_curve.hpp"

namespace axsim {

// Memory voltage domains that have a bit-error curve (the logic and crossbar domains do not fault).
enum class MemoryDomain { weight_sram, neuron_sram, local_sram };
inline constexpr std::array<MemoryDomain, 3> kMemoryDomains{MemoryDomain::weight_sram, MemoryDomain::neuron_sram,
                                                            MemoryDomain::local_sram};
std::string_view to_string(MemoryDomain domain);

enum class ActionKind { sram_read, sram_write, multiply, add, register_access, adc_conversion };

struct Action {
  ActionKind kind = ActionKind::add;
  int bits = 0;                      // SRAM/register: bits moved; multiply/add: operand width; ADC: resolution
  std::uint64_t capacity_bytes = 0;  // SRAM: capacity of the bank (selects the size class)
  int drum_k = 0;                    // multiply: 0 = exact multiplier, k = DRUM-k

  static Action sram_read(std::uint64_t capacity_bytes, int bits) {
    return {ActionKind::sram_read, bits, capacity_bytes, 0};
  }
  static Action sram_write(std::uint64_t capacity_bytes, int bits) {
    return {ActionKind::sram_write, bits, capacity_bytes, 0};
  }
  static Action multiply_exact(int width) { return {ActionKind::multiply, width, 0, 0}; }
  static Action multiply_drum(int width, int k) { return {ActionKind::multiply, width, 0, k}; }
  static Action add(int width) { return {ActionKind::add, width, 0, 0}; }
  static Action register_access(int bits) { return {ActionKind::register_access, bits, 0, 0}; }
  static Action adc_conversion(int bits) { return {ActionKind::adc_conversion, bits, 0, 0}; }
};

enum class ComponentKind { sram, pe, controller, crossbar_tile };

struct Component {
  ComponentKind kind = ComponentKind::pe;
  std::uint64_t capacity_bytes = 0;  // SRAM: bank capacity

  static Component sram(std::uint64_t capacity_bytes) { return {ComponentKind::sram, capacity_bytes}; }
  static Component pe() { return {ComponentKind::pe, 0}; }
  static Component controller() { return {ComponentKind::controller, 0}; }
  static Component crossbar_tile() { return {ComponentKind::crossbar_tile, 0}; }
};

struct SramClass {
  std::string name;
  double max_bytes = 0;       // banks up to this capacity use this class
  double read_j_per_bit = 0;  // at nominal voltage
  double write_j_per_bit = 0;
  double leakage_w_per_kib = 0;
};

struct WidthEnergy {
  int bits = 0;
  double joules = 0;
};

struct CrossbarTechnology {
  double noise_bandwidth_hz = 250e6;       // B0 of the shot-noise model (models/analog_vmm.hpp)
  double programming_resolution_na = 0.1;  // I_res
  double adc_j_per_step = 0;               // ADC energy per conversion = adc_j_per_step * 2^bits (Walden FOM)
};

class Technology {
 public:
  static Technology load_file(const std::string& path);  // throws InputError (file, line, key)
  static Technology from_config(const ConfigNode& root);

  const std::string& name() const { return name_; }
  const std::string& file() const { return file_; }
  double nominal_voltage() const { return nominal_; }
  double dynamic_exponent() const { return alpha_; }
  double leakage_slope_volts() const { return leakage_slope_; }

  // Scale factors relative to nominal; both are 1 at V_nom. Throw std::invalid_argument if V <= 0.
  double dynamic_scale(double volts) const;
  double leakage_scale(double volts) const;

  // Energy of one action in joules at nominal voltage / at `volts`. Multiplier and adder widths not in
  // the table are scaled from the nearest listed width (multiply ~ width^2, add ~ width). DRUM-k with
  // k < width costs an exact k x k multiply plus drum_overhead_per_bit * width (leading-one detectors
  // and shifters); k >= width is the exact multiplier. Throws InputError if an SRAM capacity exceeds
  // the largest size class, std::invalid_argument for meaningless actions (bits <= 0, k < 1).
  double energy_at_nominal(const Action& action) const;
  double energy_of(const Action& action, double volts) const;

  // Leakage power in watts of one component at nominal / at `volts`. SRAM: leakage_per_kib of its
  // size class times its capacity in KiB.
  double leakage_at_nominal(const Component& component) const;
  double leakage_power(const Component& component, double volts) const;

  const SramClass& sram_class_for(std::uint64_t capacity_bytes) const;
  const std::vector<SramClass>& sram_classes() const { return sram_; }
  const BitErrorCurve& bit_error_curve(MemoryDomain domain) const;
  const CrossbarTechnology& crossbar() const { return crossbar_; }

 private:
  Technology() = default;
  static double width_scaled(const std::vector<WidthEnergy>& table, int bits, double exponent);

  std::string name_, file_;
  double nominal_ = 1.1;
  double alpha_ = 2.0;
  double leakage_slope_ = 0.18;
  std::vector<SramClass> sram_;
  std::vector<WidthEnergy> multiply_exact_;
  double drum_overhead_per_bit_ = 0;
  std::vector<WidthEnergy> add_;
  double register_per_bit_ = 0;
  CrossbarTechnology crossbar_;
  double leak_pe_ = 0, leak_controller_ = 0, leak_crossbar_tile_ = 0;
  std::array<std::shared_ptr<const BitErrorCurve>, kMemoryDomains.size()> curves_;
};

}  // namespace axsim
