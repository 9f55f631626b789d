#include "energy/technology.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include "core/error.hpp"
#include "core/units.hpp"

namespace axsim {

std::string_view to_string(MemoryDomain domain) {
  switch (domain) {
    case MemoryDomain::weight_sram:
      return "weight_sram";
    case MemoryDomain::neuron_sram:
      return "neuron_sram";
    case MemoryDomain::local_sram:
      return "local_sram";
  }
  return "?";
}

namespace {

double non_negative(const ConfigNode& node, const std::string& key, Dim dim) {
  const double v = node.quantity(key, dim);
  if (!(v >= 0.0)) node.child(key).fail("a value >= 0 (" + dim_example(dim) + ")", format_quantity(v, dim));
  return v;
}

double positive(const ConfigNode& node, const std::string& key, Dim dim, std::optional<double> def = std::nullopt) {
  const double v = dim == Dim::none ? (def ? node.num(key, *def) : node.num(key)) : node.quantity(key, dim, def);
  if (!(v > 0.0)) node.child(key).fail("a value > 0 (" + dim_example(dim) + ")", format_quantity(v, dim));
  return v;
}

// A list of {bits: <int>, energy: <J>} with distinct widths, sorted by width on return.
std::vector<WidthEnergy> load_width_table(const ConfigNode& node) {
  std::vector<WidthEnergy> table;
  const auto items = node.items();
  if (items.empty()) node.fail("at least one entry {bits: <width>, energy: <energy>}", "an empty list");
  for (const auto& item : items) {
    item.expect_keys({"bits", "energy"});
    WidthEnergy e{int(item.integer("bits", std::nullopt, 1, 64)), non_negative(item, "energy", Dim::joule)};
    for (const auto& prev : table)
      if (prev.bits == e.bits) item.child("bits").fail("each width listed once", std::to_string(e.bits) + " again");
    table.push_back(e);
  }
  std::sort(table.begin(), table.end(), [](const WidthEnergy& a, const WidthEnergy& b) { return a.bits < b.bits; });
  return table;
}

void require_voltage(double volts, const char* what) {
  if (!(volts > 0.0) || !std::isfinite(volts))
    throw std::invalid_argument(std::string(what) + ": voltage must be > 0 V, got " + std::to_string(volts));
}

}  // namespace

Technology Technology::load_file(const std::string& path) { return from_config(ConfigNode::load_file(path)); }

Technology Technology::from_config(const ConfigNode& root) {
  root.expect_keys({"version", "name", "nominal_voltage", "voltage_scaling", "sram", "multiply", "add",
                    "register_access_per_bit", "crossbar", "leakage", "bit_error"});
  const auto version = root.integer("version");
  if (version != 1) root.child("version").fail("version: 1", std::to_string(version));

  Technology t;
  t.file_ = root.file();
  t.name_ = root.str("name", root.file());
  t.nominal_ = positive(root, "nominal_voltage", Dim::volt);

  if (auto vs = root.maybe("voltage_scaling")) {
    vs->expect_keys({"dynamic_exponent", "leakage_slope"});
    t.alpha_ = positive(*vs, "dynamic_exponent", Dim::none, 2.0);
    t.leakage_slope_ = positive(*vs, "leakage_slope", Dim::volt, 0.18);
  }

  const ConfigNode sram = root.child("sram");
  const auto classes = sram.items();
  if (classes.empty()) sram.fail("at least one SRAM size class", "an empty list");
  for (const auto& c : classes) {
    c.expect_keys({"name", "max_capacity", "read_per_bit", "write_per_bit", "leakage_per_kib"});
    SramClass s{c.str("name"), positive(c, "max_capacity", Dim::byte), non_negative(c, "read_per_bit", Dim::joule),
                non_negative(c, "write_per_bit", Dim::joule), non_negative(c, "leakage_per_kib", Dim::watt)};
    if (!t.sram_.empty() && !(s.max_bytes > t.sram_.back().max_bytes))
      c.child("max_capacity")
          .fail("size classes listed from small to large (above " +
                    format_quantity(t.sram_.back().max_bytes, Dim::byte) + ")",
                format_quantity(s.max_bytes, Dim::byte));
    t.sram_.push_back(std::move(s));
  }

  const ConfigNode mul = root.child("multiply");
  mul.expect_keys({"exact", "drum_overhead_per_bit"});
  t.multiply_exact_ = load_width_table(mul.child("exact"));
  t.drum_overhead_per_bit_ = non_negative(mul, "drum_overhead_per_bit", Dim::joule);
  t.add_ = load_width_table(root.child("add"));
  t.register_per_bit_ = non_negative(root, "register_access_per_bit", Dim::joule);

  if (auto xb = root.maybe("crossbar")) {
    xb->expect_keys({"noise_bandwidth", "programming_resolution", "adc_energy_per_step"});
    t.crossbar_.noise_bandwidth_hz = positive(*xb, "noise_bandwidth", Dim::hertz, 250e6);
    t.crossbar_.programming_resolution_na = xb->quantity("programming_resolution", Dim::ampere, 0.1e-9) * 1e9;
    if (!(t.crossbar_.programming_resolution_na >= 0.0))
      xb->child("programming_resolution").fail("a current >= 0 like 0.1nA");
    t.crossbar_.adc_j_per_step =
        xb->has("adc_energy_per_step") ? non_negative(*xb, "adc_energy_per_step", Dim::joule) : 0.0;
  }

  const ConfigNode leak = root.child("leakage");
  leak.expect_keys({"pe", "controller", "crossbar_tile"});
  t.leak_pe_ = non_negative(leak, "pe", Dim::watt);
  t.leak_controller_ = non_negative(leak, "controller", Dim::watt);
  t.leak_crossbar_tile_ = non_negative(leak, "crossbar_tile", Dim::watt);

  // Bit-error curves: a domain without its own entry uses `default`, else the built-in table.
  std::shared_ptr<const BitErrorCurve> fallback;
  std::optional<ConfigNode> be = root.maybe("bit_error");
  if (be) {
    be->expect_keys({"default", "weight_sram", "neuron_sram", "local_sram"});
    if (auto d = be->maybe("default")) fallback = load_bit_error_curve(*d, t.nominal_);
  }
  if (!fallback) fallback = default_bit_error_curve();
  for (std::size_t d = 0; d < kMemoryDomains.size(); ++d) {
    std::optional<ConfigNode> entry = be ? be->maybe(std::string(to_string(kMemoryDomains[d]))) : std::nullopt;
    t.curves_[d] = entry ? std::shared_ptr<const BitErrorCurve>(load_bit_error_curve(*entry, t.nominal_)) : fallback;
  }
  return t;
}

double Technology::dynamic_scale(double volts) const {
  require_voltage(volts, "dynamic_scale");
  return std::pow(volts / nominal_, alpha_);
}

double Technology::leakage_scale(double volts) const {
  require_voltage(volts, "leakage_scale");
  return (volts / nominal_) * std::exp((volts - nominal_) / leakage_slope_);
}

const SramClass& Technology::sram_class_for(std::uint64_t capacity_bytes) const {
  if (capacity_bytes == 0) throw std::invalid_argument("sram_class_for: capacity must be > 0 bytes");
  for (const auto& c : sram_)
    if (double(capacity_bytes) <= c.max_bytes) return c;
  throw_input_error(
      file_, "key sram",
      "an SRAM size class with max_capacity >= " + format_quantity(double(capacity_bytes), Dim::byte),
      "the largest class '" + sram_.back().name + "' ends at " + format_quantity(sram_.back().max_bytes, Dim::byte),
      "add a larger class or use smaller banks");
}

double Technology::width_scaled(const std::vector<WidthEnergy>& table, int bits, double exponent) {
  // Nearest listed width (ties: the larger, so we scale down rather than up).
  const WidthEnergy* best = &table.front();
  for (const auto& e : table)
    if (std::abs(e.bits - bits) <= std::abs(best->bits - bits)) best = &e;
  if (best->bits == bits) return best->joules;
  return best->joules * std::pow(double(bits) / double(best->bits), exponent);
}

double Technology::energy_at_nominal(const Action& a) const {
  if (a.bits <= 0) throw std::invalid_argument("energy_of: action needs bits > 0, got " + std::to_string(a.bits));
  switch (a.kind) {
    case ActionKind::sram_read:
      return a.bits * sram_class_for(a.capacity_bytes).read_j_per_bit;
    case ActionKind::sram_write:
      return a.bits * sram_class_for(a.capacity_bytes).write_j_per_bit;
    case ActionKind::multiply:
      if (a.drum_k < 0) throw std::invalid_argument("energy_of: DRUM k must be >= 1, got " + std::to_string(a.drum_k));
      if (a.drum_k == 0 || a.drum_k >= a.bits) return width_scaled(multiply_exact_, a.bits, 2.0);
      // DRUM-k (Hashemi et al. 2015): two leading-one detectors and two steering muxes select k bits of
      // each operand, an exact k x k multiplier forms the product, a barrel shifter restores its
      // position. Core ~ k^2 (taken from the exact-multiplier table), the rest ~ operand width.
      return width_scaled(multiply_exact_, a.drum_k, 2.0) + drum_overhead_per_bit_ * a.bits;
    case ActionKind::add:
      return width_scaled(add_, a.bits, 1.0);
    case ActionKind::register_access:
      return a.bits * register_per_bit_;
    case ActionKind::adc_conversion:
      if (a.bits > 24) throw std::invalid_argument("energy_of: ADC resolution above 24 bits");
      return crossbar_.adc_j_per_step * std::ldexp(1.0, a.bits);
  }
  return 0.0;
}

double Technology::energy_of(const Action& action, double volts) const {
  return energy_at_nominal(action) * dynamic_scale(volts);
}

double Technology::leakage_at_nominal(const Component& c) const {
  switch (c.kind) {
    case ComponentKind::sram:
      return sram_class_for(c.capacity_bytes).leakage_w_per_kib * double(c.capacity_bytes) / 1024.0;
    case ComponentKind::pe:
      return leak_pe_;
    case ComponentKind::controller:
      return leak_controller_;
    case ComponentKind::crossbar_tile:
      return leak_crossbar_tile_;
  }
  return 0.0;
}

double Technology::leakage_power(const Component& component, double volts) const {
  return leakage_at_nominal(component) * leakage_scale(volts);
}

const BitErrorCurve& Technology::bit_error_curve(MemoryDomain domain) const { return *curves_[std::size_t(domain)]; }

}  // namespace axsim
