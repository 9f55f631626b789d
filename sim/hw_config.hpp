// Hardware configuration of the simulated accelerator (configs/hw/*.yaml, DESIGN section 4 and 7).
//
//   version: 1
//   name: flexflow-16x16
//   clock: 250MHz
//   technology: ../tech/default-65nm.yaml   # relative to this file (or to the working directory)
//   timing: fast                             # fast | cycle
//   pe_array:
//     rows: 16                  # D_r: output neurons per pass
//     cols: 16                  # D_c: reduction operands per pass
//     multiplier: drum6         # optional: overrides the network's per-layer multiplier (exact | drum<k>)
//     multiplier_stages: 1
//     writeback_cycles: 1
//     local_store_words: 64     # weight local store per PE (words of the weight buffer's width)
//     local_store_domain: local_sram
//     chaining: false           # FlexFlow chaining rule between consecutive PE-array layers
//   weight_buffer:              # and neuron_buffer, same keys
//     size: 128KiB
//     banks: 8                  # contiguous address ranges of size/banks each
//     word_bits: 8
//     read_ports: 2             # words per cycle per bank (the mapper sees banks * read_ports)
//     domain: weight_sram       # weight_sram | neuron_sram | local_sram
//     fault: {channel: flip, persistence: per_read}   # optional; absent = reliable cells
//                                                     # optional p: 1e-2 fixes the rate (ignores the voltage)
//   crossbar:                   # optional analog floating-gate VMM tiles (Klachko 2019)
//     layers: [fc1]
//     i_max: 10nA
//     rows: 128
//     cols: 128
//     dac_bits: 4
//     adc_bits: 8
//     vmm_latency: 100ns
//   layers:                     # optional per-layer overrides
//     fc1: {multiplier: drum4, unrolling: [16, 16, 1, 1, 1, 1]}   # <Tm,Tn,Tr,Tc,Ti,Tj>
//
// Every key is strict (unknown keys are errors naming the closest valid key). Checks that need the network
// (layer names, formats vs word widths, capacities) happen when the program is compiled (program.hpp).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "energy/technology.hpp"
#include "models/drum.hpp"
#include "models/fault_channel.hpp"
#include "sim/mapping/flexflow_mapper.hpp"

namespace axsim::sim {

// Voltage domains a schedule can drive. The first three are SRAM domains with a bit-error curve.
enum class VoltageDomain { weight_sram, neuron_sram, local_sram, logic, crossbar };
inline constexpr int kVoltageDomainCount = 5;
std::string_view to_string(VoltageDomain domain);
const std::vector<std::string>& voltage_domain_names();
// nullopt for names that are not domains.
std::optional<VoltageDomain> parse_voltage_domain(std::string_view name);
// The SRAM domain's bit-error curve selector (weight_sram/neuron_sram/local_sram only).
MemoryDomain memory_domain(VoltageDomain domain);

enum class TimingMode { fast, cycle };

struct FaultConfig {
  std::string channel;  // a name of fault_channel_names()
  Persistence persistence = Persistence::per_read;
  std::optional<double> fixed_rate;  // `p:` given: faults at this rate whatever the voltage
};

struct BufferConfig {
  std::string name;  // "weight_buffer" | "neuron_buffer"
  std::uint64_t size_bytes = 64 * 1024;
  int banks = 4;
  int word_bits = 8;
  int read_ports = 4;  // per bank
  VoltageDomain domain = VoltageDomain::weight_sram;
  std::optional<FaultConfig> fault;  // nullopt: reliable

  std::uint64_t words() const { return size_bytes * 8 / std::uint64_t(word_bits); }
  std::uint64_t bank_words() const { return words() / std::uint64_t(banks); }
  std::uint64_t bank_bytes() const { return size_bytes / std::uint64_t(banks); }
  int total_read_ports() const { return banks * read_ports; }
};

struct PeArrayConfig {
  int rows = 16;
  int cols = 16;
  std::optional<Multiplier> multiplier;  // nullopt: each layer's multiplier from the network
  int multiplier_stages = 1;
  int writeback_cycles = 1;
  int local_store_words = 64;
  VoltageDomain local_store_domain = VoltageDomain::local_sram;
  bool chaining = false;
};

struct CrossbarConfig {
  std::vector<std::string> layers;  // layers mapped to analog tiles instead of the PE array
  double i_max_na = 10.0;
  int rows = 128;
  int cols = 128;
  int dac_bits = 4;
  int adc_bits = 8;
  double vmm_latency_s = 100e-9;
};

struct LayerOverride {
  std::optional<Multiplier> multiplier;
  std::optional<mapping::Unrolling> unrolling;
};

struct HardwareConfig {
  std::string name;
  std::string file;  // where it was read from ("<string>" for parsed text)
  double clock_hz = 250e6;
  std::string technology_path;                   // as resolved
  std::shared_ptr<const Technology> technology;  // loaded
  TimingMode timing = TimingMode::fast;
  PeArrayConfig pe;
  BufferConfig weight_buffer;
  BufferConfig neuron_buffer;
  std::optional<CrossbarConfig> crossbar;
  std::map<std::string, LayerOverride> layers;

  double clock_period_s() const { return 1.0 / clock_hz; }
  // The mapper's view: ports = banks * read_ports of each buffer, weight local store, pipeline depths.
  mapping::ArrayShape array_shape() const;
  bool on_crossbar(const std::string& layer) const;
};

// Loads and validates a hardware YAML; `overrides` are "-p key.path=value" assignments applied to the YAML
// tree first (so the strict key checks see them). Throws InputError naming the file, line and key.
HardwareConfig load_hardware_config(const std::string& path, const std::vector<std::string>& overrides = {});
// From YAML text (tests); `name` stands for the file in messages; a relative technology path is resolved
// against the working directory.
HardwareConfig parse_hardware_config(const std::string& yaml_text, const std::string& name = "<string>");
HardwareConfig hardware_config_from(const ConfigNode& root, const std::string& base_dir);

// The fully resolved configuration (every default made explicit) as YAML text; loading it again gives the
// same configuration.
std::string to_yaml(const HardwareConfig& config);

}  // namespace axsim::sim
