#include "sim/hw_config.hpp"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "core/error.hpp"
#include "core/units.hpp"

namespace axsim::sim {

namespace {

namespace fs = std::filesystem;

// Shortest text that reads back as the same double.
std::string number_text(double value) {
  char buf[32];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  return buf;
}

const std::vector<std::string> kDomainNames{"weight_sram", "neuron_sram", "local_sram", "logic", "crossbar"};

int bounded_int(const ConfigNode& node, const std::string& key, int def, int lo, int hi) {
  return int(node.integer(key, def, lo, hi));
}

VoltageDomain sram_domain(const ConfigNode& node, const std::string& key, VoltageDomain def) {
  auto c = node.maybe(key);
  if (!c) return def;
  const std::string name = c->as_str();
  const auto d = parse_voltage_domain(name);
  if (!d ||
      !(*d == VoltageDomain::weight_sram || *d == VoltageDomain::neuron_sram || *d == VoltageDomain::local_sram)) {
    c->fail("an SRAM voltage domain (weight_sram, neuron_sram, local_sram)", "'" + name + "'",
            closest_match(name, std::vector<std::string>{"weight_sram", "neuron_sram", "local_sram"}));
  }
  return *d;
}

Multiplier multiplier_at(const ConfigNode& node, const std::string& key) {
  const ConfigNode c = node.child(key);
  // Operand width 16: the width only bounds k here; a layer's operands decide the product (D(x, k) is the
  // identity for operands narrower than k).
  return parse_multiplier(c.as_str(), 16, node.file(), c.location());
}

FaultConfig fault_config(const ConfigNode& node) {
  node.expect_keys({"channel", "persistence", "p"});
  FaultConfig f;
  const ConfigNode channel = node.child("channel");
  f.channel = channel.as_str();
  const auto made = make_fault_channel(f.channel, node.file(), channel.location());
  f.persistence = made->natural_persistence();
  if (auto p = node.maybe("persistence")) f.persistence = parse_persistence(p->as_str(), node.file(), p->location());
  if (auto p = node.maybe("p")) {
    const double rate = p->as_num();
    if (!(rate >= 0.0 && rate <= made->max_rate()))
      p->fail("a fault rate in [0, " + number_text(made->max_rate()) + "] for channel '" + f.channel + "'",
              p->as_str());
    f.fixed_rate = rate;
  }
  return f;
}

BufferConfig buffer_config(const ConfigNode& node, const std::string& name, VoltageDomain default_domain,
                           int max_word_bits) {
  node.expect_keys({"size", "banks", "word_bits", "read_ports", "domain", "fault"});
  BufferConfig b;
  b.name = name;
  const double size = node.quantity("size", Dim::byte);
  if (!(size >= 1 && size <= double(std::uint64_t(1) << 40) && size == std::floor(size)))
    node.child("size").fail("a whole number of bytes between 1B and 1TiB", node.str("size"));
  b.size_bytes = std::uint64_t(size);
  b.banks = bounded_int(node, "banks", 4, 1, 1 << 16);
  b.word_bits = bounded_int(node, "word_bits", 8, 1, max_word_bits);
  b.read_ports = bounded_int(node, "read_ports", 4, 1, 1 << 16);
  b.domain = sram_domain(node, "domain", default_domain);
  if (auto f = node.maybe("fault")) b.fault = fault_config(*f);
  const std::uint64_t bits = b.size_bytes * 8;
  if (bits % (std::uint64_t(b.word_bits) * std::uint64_t(b.banks)) != 0)
    node.child("size").fail("a size that splits into " + std::to_string(b.banks) + " banks of whole " +
                                std::to_string(b.word_bits) + "-bit words",
                            node.str("size"));
  return b;
}

mapping::Unrolling unrolling_at(const ConfigNode& node) {
  const auto items = node.items();
  if (items.size() != 6)
    node.fail("a list of 6 unrolling factors [Tm, Tn, Tr, Tc, Ti, Tj]", std::to_string(items.size()) + " values");
  int v[6];
  for (int i = 0; i < 6; ++i) {
    const double x = items[std::size_t(i)].as_num();
    if (!(x >= 1 && x <= (1 << 24) && x == std::floor(x)))
      items[std::size_t(i)].fail("a positive integer", items[std::size_t(i)].as_str());
    v[i] = int(x);
  }
  return mapping::Unrolling{v[0], v[1], v[2], v[3], v[4], v[5]};
}

std::string resolve_technology(const ConfigNode& root, const std::string& base_dir) {
  const ConfigNode t = root.child("technology");
  const std::string given = t.as_str();
  std::vector<std::string> tried;
  if (!fs::path(given).is_absolute() && !base_dir.empty()) {
    const fs::path p = fs::path(base_dir) / given;
    std::error_code ec;  // the non-throwing overload: a name too long for the file system is just "not found"
    if (fs::exists(p, ec)) return p.lexically_normal().string();
    tried.push_back(p.lexically_normal().string());
  }
  if (std::error_code ec; fs::exists(given, ec)) return given;
  tried.push_back(given);
  std::string list;
  for (const auto& s : tried) list += (list.empty() ? "" : ", ") + s;
  t.fail("a technology file that exists", "'" + given + "' (looked for " + list + ")");
}

}  // namespace

std::string_view to_string(VoltageDomain domain) { return kDomainNames[std::size_t(domain)]; }

const std::vector<std::string>& voltage_domain_names() { return kDomainNames; }

std::optional<VoltageDomain> parse_voltage_domain(std::string_view name) {
  for (std::size_t i = 0; i < kDomainNames.size(); ++i)
    if (kDomainNames[i] == name) return VoltageDomain(i);
  return std::nullopt;
}

MemoryDomain memory_domain(VoltageDomain domain) {
  switch (domain) {
    case VoltageDomain::weight_sram:
      return MemoryDomain::weight_sram;
    case VoltageDomain::neuron_sram:
      return MemoryDomain::neuron_sram;
    case VoltageDomain::local_sram:
      return MemoryDomain::local_sram;
    default:
      throw std::invalid_argument("memory_domain: '" + std::string(to_string(domain)) + "' is not an SRAM domain");
  }
}

mapping::ArrayShape HardwareConfig::array_shape() const {
  mapping::ArrayShape a;
  a.rows = pe.rows;
  a.cols = pe.cols;
  a.neuron_read_ports = neuron_buffer.total_read_ports();
  a.kernel_read_ports = weight_buffer.total_read_ports();
  a.multiplier_stages = pe.multiplier_stages;
  a.writeback_cycles = pe.writeback_cycles;
  a.weight_local_words = pe.local_store_words;
  return a;
}

bool HardwareConfig::on_crossbar(const std::string& layer) const {
  if (!crossbar) return false;
  for (const auto& l : crossbar->layers)
    if (l == layer) return true;
  return false;
}

HardwareConfig hardware_config_from(const ConfigNode& root, const std::string& base_dir) {
  root.expect_keys({"version", "name", "clock", "technology", "timing", "pe_array", "weight_buffer", "neuron_buffer",
                    "crossbar", "layers"});
  const auto version = root.integer("version");
  if (version != 1) root.child("version").fail("version: 1", std::to_string(version));
  HardwareConfig hw;
  hw.file = root.file();
  hw.name = root.str("name", fs::path(root.file()).stem().string());
  hw.clock_hz = root.quantity("clock", Dim::hertz);
  if (!(hw.clock_hz > 0 && hw.clock_hz <= 1e12))
    root.child("clock").fail("a clock between 0Hz and 1THz (exclusive)", root.str("clock"));
  hw.technology_path = resolve_technology(root, base_dir);
  hw.technology = std::make_shared<const Technology>(Technology::load_file(hw.technology_path));
  hw.timing = root.choice("timing", {"fast", "cycle"}, "fast") == "cycle" ? TimingMode::cycle : TimingMode::fast;

  const ConfigNode pe = root.child("pe_array");
  pe.expect_keys({"rows", "cols", "multiplier", "multiplier_stages", "writeback_cycles", "local_store_words",
                  "local_store_domain", "chaining"});
  hw.pe.rows = bounded_int(pe, "rows", 16, 1, 4096);
  hw.pe.cols = bounded_int(pe, "cols", 16, 1, 4096);
  if (pe.has("multiplier")) hw.pe.multiplier = multiplier_at(pe, "multiplier");
  hw.pe.multiplier_stages = bounded_int(pe, "multiplier_stages", 1, 0, 64);
  hw.pe.writeback_cycles = bounded_int(pe, "writeback_cycles", 1, 0, 64);
  hw.pe.local_store_words = bounded_int(pe, "local_store_words", 64, 0, 1 << 20);
  hw.pe.local_store_domain = sram_domain(pe, "local_store_domain", VoltageDomain::local_sram);
  hw.pe.chaining = pe.boolean("chaining", false);

  // Weight words live in int8 containers (QLayer weights are int8 codes); activations in int16.
  hw.weight_buffer = buffer_config(root.child("weight_buffer"), "weight_buffer", VoltageDomain::weight_sram, 8);
  hw.neuron_buffer = buffer_config(root.child("neuron_buffer"), "neuron_buffer", VoltageDomain::neuron_sram, 16);

  // The array must be feedable: one pass can need rows*cols distinct weights and cols distinct neurons.
  const std::uint64_t pass_weights = std::uint64_t(hw.pe.rows) * std::uint64_t(hw.pe.cols);
  const std::string array = std::to_string(hw.pe.rows) + "x" + std::to_string(hw.pe.cols);
  if (hw.weight_buffer.words() < pass_weights)
    root.child("weight_buffer")
        .child("size")
        .fail("a weight buffer of at least rows*cols = " + std::to_string(pass_weights) + " words to feed the " +
                  array + " PE array (one pass can need that many distinct weights)",
              std::to_string(hw.weight_buffer.words()) + " words");
  if (hw.neuron_buffer.words() < 2 * std::uint64_t(hw.pe.cols))
    root.child("neuron_buffer")
        .child("size")
        .fail("a neuron buffer of at least 2*cols = " + std::to_string(2 * hw.pe.cols) + " words to feed the " + array +
                  " PE array (a pass reads up to cols neurons while the previous outputs are written)",
              std::to_string(hw.neuron_buffer.words()) + " words");

  if (auto xb = root.maybe("crossbar")) {
    xb->expect_keys({"layers", "i_max", "rows", "cols", "dac_bits", "adc_bits", "vmm_latency"});
    CrossbarConfig c;
    if (auto layers = xb->maybe("layers"))
      for (const auto& item : layers->items()) c.layers.push_back(item.as_str());
    c.i_max_na = xb->quantity("i_max", Dim::ampere, 10e-9) * 1e9;
    if (!(c.i_max_na > 0 && c.i_max_na < 1e9))
      xb->child("i_max").fail("a positive current such as 10nA", xb->str("i_max"));
    c.rows = bounded_int(*xb, "rows", 128, 1, 1 << 16);
    c.cols = bounded_int(*xb, "cols", 128, 1, 1 << 16);
    c.dac_bits = bounded_int(*xb, "dac_bits", 4, 1, 16);
    c.adc_bits = bounded_int(*xb, "adc_bits", 8, 1, 24);
    c.vmm_latency_s = xb->quantity("vmm_latency", Dim::second, 100e-9);
    if (!(c.vmm_latency_s > 0 && c.vmm_latency_s < 1))
      xb->child("vmm_latency").fail("a positive latency such as 100ns", xb->str("vmm_latency"));
    hw.crossbar = c;
  }

  if (auto layers = root.maybe("layers")) {
    for (const auto& [name, node] : layers->entries()) {
      node.expect_keys({"multiplier", "unrolling"});
      LayerOverride o;
      if (node.has("multiplier")) o.multiplier = multiplier_at(node, "multiplier");
      if (auto u = node.maybe("unrolling")) o.unrolling = unrolling_at(*u);
      hw.layers[name] = o;
    }
  }
  // Every SRAM must have a size class in the technology (its energy and leakage come from there).
  auto check_class = [&](std::uint64_t bytes, const ConfigNode& at, const std::string& what) {
    const auto& classes = hw.technology->sram_classes();
    if (classes.empty() || double(bytes) > classes.back().max_bytes)
      at.fail("a " + what + " no larger than the technology's largest SRAM class (" +
                  (classes.empty() ? std::string("none") : number_text(classes.back().max_bytes) + " bytes") + ")",
              std::to_string(bytes) + " bytes");
  };
  check_class(hw.weight_buffer.bank_bytes(), root.child("weight_buffer").child("size"), "weight buffer bank");
  check_class(hw.neuron_buffer.bank_bytes(), root.child("neuron_buffer").child("size"), "neuron buffer bank");
  check_class(std::max<std::uint64_t>(1, std::uint64_t(hw.pe.local_store_words) * hw.weight_buffer.word_bits / 8), pe,
              "PE local store");
  mapping::validate_array_shape(hw.array_shape(), hw.file);
  return hw;
}

HardwareConfig load_hardware_config(const std::string& path, const std::vector<std::string>& overrides) {
  ConfigNode loaded = ConfigNode::load_file(path);
  YAML::Node tree = loaded.yaml();
  for (const auto& o : overrides) apply_override(tree, o, "-p");
  const std::string dir = fs::path(path).parent_path().string();
  return hardware_config_from(ConfigNode(tree, path, ""), dir);
}

HardwareConfig parse_hardware_config(const std::string& yaml_text, const std::string& name) {
  return hardware_config_from(ConfigNode::parse(yaml_text, name), "");
}

namespace {

void emit_buffer(YAML::Emitter& out, const BufferConfig& b) {
  out << YAML::Key << b.name << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "size" << YAML::Value << (std::to_string(b.size_bytes) + "B");
  out << YAML::Key << "banks" << YAML::Value << b.banks;
  out << YAML::Key << "word_bits" << YAML::Value << b.word_bits;
  out << YAML::Key << "read_ports" << YAML::Value << b.read_ports;
  out << YAML::Key << "domain" << YAML::Value << std::string(to_string(b.domain));
  if (b.fault) {
    out << YAML::Key << "fault" << YAML::Value << YAML::Flow << YAML::BeginMap;
    out << YAML::Key << "channel" << YAML::Value << b.fault->channel;
    out << YAML::Key << "persistence" << YAML::Value << std::string(to_string(b.fault->persistence));
    if (b.fault->fixed_rate) out << YAML::Key << "p" << YAML::Value << number_text(*b.fault->fixed_rate);
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
}

std::string unit_text(double value, const char* unit) { return number_text(value) + unit; }

}  // namespace

std::string to_yaml(const HardwareConfig& hw) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "version" << YAML::Value << 1;
  out << YAML::Key << "name" << YAML::Value << hw.name;
  out << YAML::Key << "clock" << YAML::Value << unit_text(hw.clock_hz, "Hz");
  out << YAML::Key << "technology" << YAML::Value << fs::absolute(hw.technology_path).lexically_normal().string();
  out << YAML::Key << "timing" << YAML::Value << (hw.timing == TimingMode::cycle ? "cycle" : "fast");
  out << YAML::Key << "pe_array" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "rows" << YAML::Value << hw.pe.rows;
  out << YAML::Key << "cols" << YAML::Value << hw.pe.cols;
  if (hw.pe.multiplier) out << YAML::Key << "multiplier" << YAML::Value << hw.pe.multiplier->name();
  out << YAML::Key << "multiplier_stages" << YAML::Value << hw.pe.multiplier_stages;
  out << YAML::Key << "writeback_cycles" << YAML::Value << hw.pe.writeback_cycles;
  out << YAML::Key << "local_store_words" << YAML::Value << hw.pe.local_store_words;
  out << YAML::Key << "local_store_domain" << YAML::Value << std::string(to_string(hw.pe.local_store_domain));
  out << YAML::Key << "chaining" << YAML::Value << hw.pe.chaining;
  out << YAML::EndMap;
  emit_buffer(out, hw.weight_buffer);
  emit_buffer(out, hw.neuron_buffer);
  if (hw.crossbar) {
    const CrossbarConfig& c = *hw.crossbar;
    out << YAML::Key << "crossbar" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "layers" << YAML::Value << YAML::Flow << c.layers;
    out << YAML::Key << "i_max" << YAML::Value << unit_text(c.i_max_na, "nA");
    out << YAML::Key << "rows" << YAML::Value << c.rows;
    out << YAML::Key << "cols" << YAML::Value << c.cols;
    out << YAML::Key << "dac_bits" << YAML::Value << c.dac_bits;
    out << YAML::Key << "adc_bits" << YAML::Value << c.adc_bits;
    out << YAML::Key << "vmm_latency" << YAML::Value << unit_text(c.vmm_latency_s, "s");
    out << YAML::EndMap;
  }
  if (!hw.layers.empty()) {
    out << YAML::Key << "layers" << YAML::Value << YAML::BeginMap;
    for (const auto& [name, o] : hw.layers) {
      out << YAML::Key << name << YAML::Value << YAML::BeginMap;
      if (o.multiplier) out << YAML::Key << "multiplier" << YAML::Value << o.multiplier->name();
      if (o.unrolling) {
        const auto& u = *o.unrolling;
        out << YAML::Key << "unrolling" << YAML::Value << YAML::Flow
            << std::vector<int>{u.Tm, u.Tn, u.Tr, u.Tc, u.Ti, u.Tj};
      }
      out << YAML::EndMap;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace axsim::sim
