#include "sim/schedule.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "core/error.hpp"
#include "core/units.hpp"

namespace axsim::sim {

namespace {

double positive_voltage(const ConfigNode& node) {
  const double v = node.as_quantity(Dim::volt);
  if (!(v > 0 && v < 100)) node.fail("a supply voltage above 0V such as 0.66V", node.as_str());
  return v;
}

std::string location_of(const ConfigNode& node) { return node.location(); }

ScheduleEntry entry_from(const ConfigNode& node) {
  node.expect_keys({"at", "after", "voltage", "layers"});
  if (!node.is_map()) node.fail("an entry such as {after: 5000, voltage: 0.66V}");
  ScheduleEntry e;
  e.location = location_of(node);
  if (node.has("at") && node.has("after"))
    node.fail("at most one trigger per entry ('at' a simulated time or 'after' an inference index)", "both");
  if (auto at = node.maybe("at")) {
    e.trigger = ScheduleEntry::Trigger::time;
    e.at_s = at->as_quantity(Dim::second);
    if (!(e.at_s >= 0 && std::isfinite(e.at_s))) at->fail("a simulated time >= 0 such as 2ms", at->as_str());
  } else if (node.has("after")) {
    e.trigger = ScheduleEntry::Trigger::inference;
    e.after = std::uint64_t(node.integer("after", std::nullopt, 0));
  }
  if (auto v = node.maybe("voltage")) e.voltage = positive_voltage(*v);
  if (auto layers = node.maybe("layers")) {
    layers->expect_map();
    std::vector<LayerVoltage> table;
    for (const auto& [name, value] : layers->entries())
      table.push_back({name, positive_voltage(value), location_of(value)});
    e.layers = std::move(table);
  }
  if (!e.voltage && !e.layers) node.fail("a 'voltage' or a 'layers' table in the entry", "neither");
  return e;
}

std::string number_text(double value) {
  char buf[32];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  return buf;
}

}  // namespace

bool VoltageSchedule::empty() const {
  for (const auto& d : domains)
    if (!d.empty()) return false;
  return true;
}

void VoltageSchedule::check_layers(const std::vector<std::string>& layers) const {
  for (const auto& domain : domains)
    for (const auto& e : domain)
      if (e.layers)
        for (const auto& lv : *e.layers)
          if (std::find(layers.begin(), layers.end(), lv.layer) == layers.end()) {
            std::string list;
            for (const auto& l : layers) list += (list.empty() ? "" : ", ") + l;
            throw_input_error(file, lv.location, "a layer of the network (" + list + ")", "'" + lv.layer + "'",
                              closest_match(lv.layer, layers));
          }
}

double VoltageSchedule::lowest_voltage(VoltageDomain d, double nominal_volts) const {
  double lowest = nominal_volts;
  for (const auto& e : entries(d)) {
    if (e.voltage) lowest = std::min(lowest, *e.voltage);
    if (e.layers)
      for (const auto& lv : *e.layers) lowest = std::min(lowest, lv.volts);
  }
  return lowest;
}

VoltageSchedule nominal_schedule() { return VoltageSchedule{}; }

VoltageSchedule voltage_schedule_from(const ConfigNode& root) {
  root.expect_keys({"version", "name", "settling_time", "domains"});
  const auto version = root.integer("version");
  if (version != 1) root.child("version").fail("version: 1", std::to_string(version));
  VoltageSchedule s;
  s.file = root.file();
  s.name = root.str("name", std::filesystem::path(root.file()).stem().string());
  s.settling_s = root.quantity("settling_time", Dim::second, 0.0);
  if (!(s.settling_s >= 0 && s.settling_s < 1))
    root.child("settling_time").fail("a settling time in [0s, 1s) such as 10us", root.str("settling_time"));
  if (auto domains = root.maybe("domains")) {
    for (const auto& [name, list] : domains->entries()) {
      const auto d = parse_voltage_domain(name);
      if (!d) {
        std::string valid;
        for (const auto& n : voltage_domain_names()) valid += (valid.empty() ? "" : ", ") + n;
        list.fail("a voltage domain (" + valid + ")", "'" + name + "'", closest_match(name, voltage_domain_names()));
      }
      auto& entries = s.domains[std::size_t(*d)];
      double last_time = -1;
      std::int64_t last_inference = -1;
      for (const auto& item : list.items()) {
        ScheduleEntry e = entry_from(item);
        // Triggers of one kind must be in order, so the file reads as the timeline it describes.
        if (e.trigger == ScheduleEntry::Trigger::time) {
          if (e.at_s < last_time) item.child("at").fail("times in increasing order", item.str("at"));
          last_time = e.at_s;
        } else if (e.trigger == ScheduleEntry::Trigger::inference) {
          if (std::int64_t(e.after) < last_inference)
            item.child("after").fail("inference indices in increasing order", item.str("after"));
          last_inference = std::int64_t(e.after);
        } else if (last_time >= 0 || last_inference >= 0) {
          item.fail("entries without a trigger (they apply from the start) before the triggered ones");
        }
        entries.push_back(std::move(e));
      }
    }
  }
  return s;
}

VoltageSchedule load_voltage_schedule(const std::string& path) {
  return voltage_schedule_from(ConfigNode::load_file(path));
}

VoltageSchedule parse_voltage_schedule(const std::string& yaml_text, const std::string& name) {
  return voltage_schedule_from(ConfigNode::parse(yaml_text, name));
}

std::string to_yaml(const VoltageSchedule& s) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "version" << YAML::Value << 1;
  out << YAML::Key << "name" << YAML::Value << s.name;
  out << YAML::Key << "settling_time" << YAML::Value << (number_text(s.settling_s) + "s");
  out << YAML::Key << "domains" << YAML::Value << YAML::BeginMap;
  for (int d = 0; d < kVoltageDomainCount; ++d) {
    const auto& entries = s.domains[std::size_t(d)];
    if (entries.empty()) continue;
    out << YAML::Key << std::string(to_string(VoltageDomain(d))) << YAML::Value << YAML::BeginSeq;
    for (const auto& e : entries) {
      out << YAML::Flow << YAML::BeginMap;
      if (e.trigger == ScheduleEntry::Trigger::time)
        out << YAML::Key << "at" << YAML::Value << (number_text(e.at_s) + "s");
      if (e.trigger == ScheduleEntry::Trigger::inference) out << YAML::Key << "after" << YAML::Value << e.after;
      if (e.voltage) out << YAML::Key << "voltage" << YAML::Value << (number_text(*e.voltage) + "V");
      if (e.layers) {
        out << YAML::Key << "layers" << YAML::Value << YAML::Flow << YAML::BeginMap;
        for (const auto& lv : *e.layers) out << YAML::Key << lv.layer << YAML::Value << (number_text(lv.volts) + "V");
        out << YAML::EndMap;
      }
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace axsim::sim
