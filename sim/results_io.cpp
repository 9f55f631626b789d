#include "sim/results_io.hpp"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "core/atomic_file.hpp"
#include "core/config.hpp"

namespace axsim::sim {

namespace {

using nlohmann::json;

// JSON has no infinity: a single random trial has an unbounded interval, written as null.
json finite_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json split_json(const EnergySplit& e) {
  return json{{"dynamic_j", e.dynamic_j}, {"leakage_j", e.leakage_j}, {"total_j", e.total()}};
}

json components_json(const std::array<EnergySplit, kEnergyComponents>& cells) {
  json j = json::object();
  for (int c = 0; c < kEnergyComponents; ++c)
    j[std::string(to_string(EnergyComponent(c)))] = split_json(cells[std::size_t(c)]);
  return j;
}

// CSV field: quoted when it holds a separator, quote or newline.
std::string field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

json tally_json(const ActionTally& t) {
  return json{{"count", t.count},
              {"energy_j", t.joules},
              {"energy_per_count_j", t.joules_per_count()},
              {"mean_voltage_v", finite_or_null(t.mean_voltage())},
              {"min_voltage_v", finite_or_null(t.min_voltage)},
              {"max_voltage_v", finite_or_null(t.max_voltage)}};
}

// The ledger's declarations (every stat once, with its unit) and its numbers: per (row, component, action),
// per action, and the totals over rows, components and actions (equal up to rounding: the reconciliation).
json ledger_json(const SimulationResult& r) {
  const EnergyBreakdown& b = r.energy_breakdown;
  json stats = json::array();
  for (const auto& s : ledger_stats())
    stats.push_back({{"key", s.key}, {"unit", s.unit}, {"description", s.description}});
  json actions = json::array();
  for (int a = 0; a < kEnergyActions; ++a) {
    const ActionInfo& info = describe(EnergyAction(a));
    actions.push_back({{"action", info.name}, {"count_unit", info.count_unit}, {"description", info.description}});
  }
  json cells = json::array();
  std::array<ActionTally, kEnergyActions> by_action{};
  double sum_actions = 0;
  for (const auto& rec : b.actions) {
    json c = tally_json(rec.tally);
    c["row"] = rec.row;
    c["component"] = std::string(to_string(rec.component));
    c["action"] = std::string(to_string(rec.action));
    cells.push_back(c);
    by_action[std::size_t(rec.action)] += rec.tally;
    sum_actions += rec.tally.joules;
  }
  json per_action = json::object();
  for (int a = 0; a < kEnergyActions; ++a)
    if (by_action[std::size_t(a)].count != 0 || by_action[std::size_t(a)].joules != 0)
      per_action[std::string(to_string(EnergyAction(a)))] = tally_json(by_action[std::size_t(a)]);
  double sum_rows = 0, sum_components = 0;
  for (const auto& row : r.energy_matrix)
    for (const auto& c : row) sum_rows += c.total();
  for (const auto& c : r.energy_by_component) sum_components += c.total();
  return json{{"stats", stats},
              {"actions", actions},
              {"cells", cells},
              {"by_action", per_action},
              {"reconciliation",
               {{"sum_over_rows_j", sum_rows},
                {"sum_over_components_j", sum_components},
                {"sum_over_actions_j", sum_actions},
                {"total_j", r.energy_total.total()}}}};
}

json assignment_json(const EnergyBreakdown& b) {
  json layers = json::array();
  for (const auto& a : b.layers)
    layers.push_back({{"layer", a.layer},
                      {"engine", a.engine},
                      {"multiplier", a.multiplier},
                      {"drum_k", a.drum_k},
                      {"multiply_bits", a.multiply_bits},
                      {"weight_voltage_v", finite_or_null(a.weight_voltage_v)},
                      {"logic_voltage_v", finite_or_null(a.logic_voltage_v)},
                      {"crossbar_voltage_v", finite_or_null(a.crossbar_voltage_v)},
                      {"weight_fault_rate", a.weight_fault_rate},
                      {"i_max_a", finite_or_null(a.i_max_na * 1e-9)},
                      {"parameters", a.parameters},
                      {"eta", a.eta},
                      {"multiply_nominal_j", a.multiply_nominal_j},
                      {"multiply_exact_nominal_j", a.multiply_exact_nominal_j},
                      {"multiply_j", a.multiply_j},
                      {"crossbar_array_power_w", a.crossbar_array_power_w}});
  return layers;
}

json drum_json(const EnergyBreakdown& b) {
  json t = json::array();
  for (const auto& d : b.drum_table) t.push_back({{"bits", d.bits}, {"k", d.k}, {"nominal_j", d.nominal_j}});
  return t;
}

json eta_json(const EnergyBreakdown& b) {
  json layers = json::object();
  for (const auto& a : b.layers)
    if (a.parameters > 0) layers[a.layer] = {{"p", a.weight_fault_rate}, {"eta", a.eta}, {"parameters", a.parameters}};
  return json{{"model", "eta(p) = -ln(p)/a, eta(0) = 1, clamped to [0,1]; E(p) = zeta * sum_l eta(p_l) n_l"},
              {"a", b.eta_a},
              {"bits_per_parameter", b.bits_per_parameter},
              {"memory_energy_bit_reads", b.memory_energy_bits},
              {"memory_energy_normalized", b.memory_energy_normalized},
              {"layers", layers}};
}

}  // namespace

json to_json(const SimulationResult& r, const RunDescription& run) {
  json j;
  j["format"] = "axsim-sim-results";
  j["version"] = 1;
  j["units"] = {{"_j", "joule"},
                {"_s", "second"},
                {"_hz", "hertz"},
                {"cycles", "clock cycles"},
                {"accuracy", "fraction of inferences classified correctly"},
                {"rate", "faulty bits / bits read"}};
  j["run"] = {{"model", run.model}, {"data", run.data}, {"command_line", run.command_line}};
  j["network"] = r.network;
  j["hardware"] = r.hardware;
  j["schedule"] = r.schedule;
  j["timing"] = r.timing;
  j["seed"] = r.seed;
  const auto& a = r.accuracy;
  j["accuracy"] = {{"mean", a.mean},
                   {"std", a.std},
                   {"ci95_half_width", finite_or_null(a.half_width)},
                   {"ci95_low", finite_or_null(a.mean - a.half_width)},
                   {"ci95_high", finite_or_null(a.mean + a.half_width)},
                   {"confidence", a.confidence},
                   {"trials", a.trials},
                   {"per_trial", a.accuracies},
                   {"correct_per_trial", r.correct_per_trial},
                   {"deterministic", a.deterministic},
                   {"converged", a.converged},
                   {"stop_reason", a.stop_reason}};
  j["inferences"] = {{"per_trial", r.inferences_per_trial}, {"total", r.inferences_total}};
  j["time"] = {
      {"clock_hz", r.clock_hz},
      {"total_cycles", r.total_cycles},
      {"cycles_per_inference", r.cycles_per_inference},
      {"io_cycles_per_inference", r.io_cycles_per_inference},
      {"simulated_time_s", r.simulated_seconds},
      {"simulated_time_per_inference_s", r.inferences_total ? r.simulated_seconds / double(r.inferences_total) : 0.0}};
  j["throughput"] = {{"wall_time_s", r.wall_seconds}, {"inferences_per_second", r.inferences_per_second}};
  json layers = json::array();
  for (const auto& l : r.layers) {
    layers.push_back({{"name", l.name},
                      {"kind", l.kind},
                      {"engine", l.engine},
                      {"multiplier", l.multiplier},
                      {"unrolling", l.unrolling},
                      {"passes", l.passes},
                      {"utilization", l.utilization},
                      {"weights_reused_locally", l.weights_reused_locally},
                      {"mapped_cycles", l.mapped_cycles},
                      {"cycles_per_inference", l.cycles_per_inference},
                      {"busy_cycles_per_inference", l.busy_cycles_per_inference},
                      {"total_cycles", l.total_cycles},
                      {"macs_per_inference", l.macs},
                      {"neuron_reads_per_inference", l.neuron_reads},
                      {"weight_reads_per_inference", l.weight_reads},
                      {"neuron_writes_per_inference", l.neuron_writes},
                      {"weight_writes_per_inference", l.weight_writes},
                      {"energy", split_json(l.energy_total)},
                      {"energy_by_component", components_json(l.energy)}});
  }
  j["layers"] = layers;
  json banks = json::array();
  for (const auto& b : r.banks) {
    banks.push_back({{"buffer", b.buffer},
                     {"bank", b.bank},
                     {"domain", b.domain},
                     {"capacity_bytes", b.capacity_bytes},
                     {"word_bits", b.word_bits},
                     {"fault_channel", b.fault_channel},
                     {"persistence", b.persistence},
                     {"reads", b.reads},
                     {"writes", b.writes},
                     {"bits_read", b.bits_read},
                     {"faulty_bits", b.faulty_bits},
                     {"faulty_words", b.faulty_words},
                     {"words_changed", b.words_changed},
                     {"measured_rate", b.measured_rate},
                     {"dynamic_j", b.dynamic_j},
                     {"leakage_j", b.leakage_j}});
  }
  j["banks"] = banks;
  json by_row = json::object();
  for (std::size_t k = 0; k < r.energy_rows.size(); ++k) {
    EnergySplit total;
    for (const auto& c : r.energy_matrix[k]) total += c;
    by_row[r.energy_rows[k]] = {{"total", split_json(total)}, {"by_component", components_json(r.energy_matrix[k])}};
  }
  j["energy"] = {{"total", split_json(r.energy_total)},
                 {"per_inference_j", r.energy_per_inference_j},
                 {"by_component", components_json(r.energy_by_component)},
                 {"by_row", by_row},
                 {"ledger", ledger_json(r)},
                 {"eta_model", eta_json(r.energy_breakdown)},
                 {"drum_multiply", drum_json(r.energy_breakdown)}};
  j["assignment"] = assignment_json(r.energy_breakdown);
  json events = json::array();
  for (const auto& e : r.voltage_events)
    events.push_back({{"trial", e.trial},
                      {"time_s", e.time_s},
                      {"inference", e.inference},
                      {"layer", e.layer},
                      {"domain", std::string(to_string(e.domain))},
                      {"voltage_v", e.volts}});
  j["voltage"] = {{"changes", r.voltage_changes}, {"events", events}};
  j["crossbar_vmms"] = r.crossbar_vmms;
  if (!r.predictions.empty()) j["outputs"] = {{"trial", 0}, {"predictions", r.predictions}};
  return j;
}

std::string layers_csv(const SimulationResult& r) {
  std::ostringstream o;
  o << "layer,kind,engine,multiplier,unrolling,passes,utilization,weights_reused_locally,mapped_cycles,"
       "cycles_per_inference,busy_cycles_per_inference,macs_per_inference,neuron_reads_per_inference,"
       "weight_reads_per_inference,neuron_writes_per_inference,weight_writes_per_inference,dynamic_j,leakage_j,"
       "total_j\n";
  for (const auto& l : r.layers)
    o << field(l.name) << ',' << l.kind << ',' << l.engine << ',' << l.multiplier << ',' << field(l.unrolling) << ','
      << l.passes << ',' << num(l.utilization) << ',' << (l.weights_reused_locally ? 1 : 0) << ',' << l.mapped_cycles
      << ',' << num(l.cycles_per_inference) << ',' << num(l.busy_cycles_per_inference) << ',' << l.macs << ','
      << l.neuron_reads << ',' << l.weight_reads << ',' << l.neuron_writes << ',' << l.weight_writes << ','
      << num(l.energy_total.dynamic_j) << ',' << num(l.energy_total.leakage_j) << ',' << num(l.energy_total.total())
      << '\n';
  return o.str();
}

std::string banks_csv(const SimulationResult& r) {
  std::ostringstream o;
  o << "buffer,bank,domain,capacity_bytes,word_bits,fault_channel,persistence,reads,writes,bits_read,faulty_bits,"
       "faulty_words,words_changed,measured_rate,dynamic_j,leakage_j\n";
  for (const auto& b : r.banks)
    o << b.buffer << ',' << b.bank << ',' << b.domain << ',' << b.capacity_bytes << ',' << b.word_bits << ','
      << b.fault_channel << ',' << b.persistence << ',' << b.reads << ',' << b.writes << ',' << b.bits_read << ','
      << b.faulty_bits << ',' << b.faulty_words << ',' << b.words_changed << ',' << num(b.measured_rate) << ','
      << num(b.dynamic_j) << ',' << num(b.leakage_j) << '\n';
  return o.str();
}

std::string energy_csv(const SimulationResult& r) {
  std::ostringstream o;
  o << "row,component,dynamic_j,leakage_j,total_j\n";
  for (std::size_t k = 0; k < r.energy_rows.size(); ++k)
    for (int c = 0; c < kEnergyComponents; ++c) {
      const EnergySplit& e = r.energy_matrix[k][std::size_t(c)];
      o << field(r.energy_rows[k]) << ',' << to_string(EnergyComponent(c)) << ',' << num(e.dynamic_j) << ','
        << num(e.leakage_j) << ',' << num(e.total()) << '\n';
    }
  return o.str();
}

std::string energy_actions_csv(const SimulationResult& r) {
  std::ostringstream o;
  o << "row,component,action,count,count_unit,energy_j,energy_per_count_j,mean_voltage_v\n";
  for (const auto& rec : r.energy_breakdown.actions) {
    const double v = rec.tally.mean_voltage();
    o << field(rec.row) << ',' << to_string(rec.component) << ',' << to_string(rec.action) << ','
      << num(rec.tally.count) << ',' << describe(rec.action).count_unit << ',' << num(rec.tally.joules) << ','
      << num(rec.tally.joules_per_count()) << ',' << (std::isfinite(v) ? num(v) : std::string()) << '\n';
  }
  return o.str();
}

std::string energy_layers_csv(const SimulationResult& r) {
  std::ostringstream o;
  o << "row,dynamic_j,leakage_j,total_j,per_inference_j\n";
  const double n = r.inferences_total ? double(r.inferences_total) : 1.0;
  for (std::size_t k = 0; k < r.energy_rows.size(); ++k) {
    EnergySplit t;
    for (const auto& c : r.energy_matrix[k]) t += c;
    o << field(r.energy_rows[k]) << ',' << num(t.dynamic_j) << ',' << num(t.leakage_j) << ',' << num(t.total()) << ','
      << num(t.total() / n) << '\n';
  }
  return o.str();
}

std::string energy_components_csv(const SimulationResult& r) {
  std::ostringstream o;
  o << "component,dynamic_j,leakage_j,total_j,per_inference_j\n";
  const double n = r.inferences_total ? double(r.inferences_total) : 1.0;
  for (int c = 0; c < kEnergyComponents; ++c) {
    const EnergySplit& e = r.energy_by_component[std::size_t(c)];
    o << to_string(EnergyComponent(c)) << ',' << num(e.dynamic_j) << ',' << num(e.leakage_j) << ',' << num(e.total())
      << ',' << num(e.total() / n) << '\n';
  }
  return o.str();
}

std::string assignment_csv(const SimulationResult& r) {
  std::ostringstream o;
  o << "layer,engine,multiplier,drum_k,multiply_bits,weight_voltage_v,logic_voltage_v,crossbar_voltage_v,"
       "weight_fault_rate,i_max_a,parameters,eta,multiply_nominal_j,multiply_exact_nominal_j,multiply_j,"
       "crossbar_array_power_w\n";
  auto opt = [](double v) { return std::isfinite(v) ? num(v) : std::string(); };
  for (const auto& a : r.energy_breakdown.layers)
    o << field(a.layer) << ',' << a.engine << ',' << a.multiplier << ',' << a.drum_k << ',' << a.multiply_bits << ','
      << opt(a.weight_voltage_v) << ',' << opt(a.logic_voltage_v) << ',' << opt(a.crossbar_voltage_v) << ','
      << num(a.weight_fault_rate) << ',' << opt(a.i_max_na * 1e-9) << ',' << num(a.parameters) << ',' << num(a.eta)
      << ',' << num(a.multiply_nominal_j) << ',' << num(a.multiply_exact_nominal_j) << ',' << num(a.multiply_j) << ','
      << num(a.crossbar_array_power_w) << '\n';
  return o.str();
}

std::string trials_csv(const SimulationResult& r) {
  std::ostringstream o;
  o << "trial,inferences,correct,accuracy\n";
  for (std::size_t t = 0; t < r.correct_per_trial.size(); ++t)
    o << t << ',' << r.inferences_per_trial << ',' << r.correct_per_trial[t] << ','
      << num(double(r.correct_per_trial[t]) / double(r.inferences_per_trial)) << '\n';
  return o.str();
}

std::string voltage_events_csv(const SimulationResult& r) {
  std::ostringstream o;
  o << "trial,time_s,inference,layer,domain,voltage_v\n";
  for (const auto& e : r.voltage_events)
    o << e.trial << ',' << num(e.time_s) << ',' << e.inference << ',' << field(e.layer) << ',' << to_string(e.domain)
      << ',' << num(e.volts) << '\n';
  return o.str();
}

std::string resolved_config_yaml(const SimulationResult& r, const RunDescription& run) {
  YAML::Node root;
  root["run"]["model"] = run.model;
  root["run"]["data"] = run.data;
  root["run"]["seed"] = r.seed;
  root["run"]["trials"] = r.trials;
  root["run"]["inferences_per_trial"] = r.inferences_per_trial;
  root["run"]["command_line"] = run.command_line;
  root["hardware"] = YAML::Load(r.hardware_yaml);
  root["schedule"] = YAML::Load(r.schedule_yaml);
  return to_yaml_text(root);
}

void write_run_directory(const std::string& dir, const SimulationResult& r, const RunDescription& run) {
  ensure_directory(dir);
  const std::filesystem::path d(dir);
  auto put = [&](const char* name, const std::string& text) { write_file_atomic((d / name).string(), text); };
  put("config.yaml", resolved_config_yaml(r, run));
  put("hardware.yaml", r.hardware_yaml);
  put("schedule.yaml", r.schedule_yaml);
  put("layers.csv", layers_csv(r));
  put("banks.csv", banks_csv(r));
  put("energy.csv", energy_csv(r));
  put("energy_actions.csv", energy_actions_csv(r));
  put("energy_layers.csv", energy_layers_csv(r));
  put("energy_components.csv", energy_components_csv(r));
  put("assignment.csv", assignment_csv(r));
  put("trials.csv", trials_csv(r));
  put("voltage_events.csv", voltage_events_csv(r));
  // Last: a results.json present means the run directory is complete.
  put("results.json", to_json(r, run).dump(2) + "\n");
}

}  // namespace axsim::sim
