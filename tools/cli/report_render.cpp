#include "tools/cli/report_render.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/units.hpp"
#include "tools/cli/report_svg.hpp"

namespace axsim::report {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// ---------------------------------------------------------------------------------------------------------
// Reading run directories: every problem is an InputError naming the file and the key.

std::string type_name(const json& j) { return j.is_null() ? "null" : std::string(j.type_name()); }

json load_json_file(const fs::path& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_input_error(path.string(), "", what, "a file that cannot be opened");
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return json::parse(ss.str());
  } catch (const json::parse_error& e) {
    throw_input_error(path.string(), "byte " + std::to_string(e.byte), "valid JSON (" + what + ")", e.what());
  }
}

// A key path ("accuracy.per_trial") of an object; missing or mistyped -> InputError naming file and key.
const json& need(const json& root, const std::string& dotted, const fs::path& file, const char* expected) {
  const json* j = &root;
  std::string done;
  std::size_t start = 0;
  while (start <= dotted.size()) {
    const std::size_t dot = dotted.find('.', start);
    const std::string key = dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    done += (done.empty() ? "" : ".") + key;
    if (!j->is_object() || !j->contains(key))
      throw_input_error(file.string(), "key " + done, std::string(expected) + " at key '" + done + "'", "no such key",
                        "is this a run directory written by axsim?");
    j = &(*j)[key];
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return *j;
}

double need_number(const json& root, const std::string& key, const fs::path& file) {
  const json& j = need(root, key, file, "a number");
  if (!j.is_number()) throw_input_error(file.string(), "key " + key, "a number", type_name(j));
  return j.get<double>();
}

// A number that may be null (JSON has no NaN/infinity: results.json writes them as null).
double number_or_nan(const json& j) { return j.is_number() ? j.get<double>() : std::nan(""); }
double opt_number(const json& obj, const char* key) {
  return obj.is_object() && obj.contains(key) ? number_or_nan(obj[key]) : std::nan("");
}
json finite_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }
std::string opt_string(const json& obj, const char* key) {
  return obj.is_object() && obj.contains(key) && obj[key].is_string() ? obj[key].get<std::string>() : std::string();
}

const std::vector<std::string>& component_names() {
  static const std::vector<std::string> names{"weight_buffer", "neuron_buffer", "local_store",
                                              "pe_array",      "controller",    "crossbar"};
  return names;
}

json sim_section(const fs::path& file) {
  const json r = load_json_file(file, "simulation results written by axsim sim");
  if (!r.is_object() || r.value("format", "") != "axsim-sim-results")
    throw_input_error(file.string(), "key format", "\"axsim-sim-results\" (a results.json written by axsim sim)",
                      r.is_object() && r.contains("format") ? r["format"].dump() : "no format key");
  json s;
  s["network"] = opt_string(r, "network");
  s["hardware"] = opt_string(r, "hardware");
  s["schedule"] = opt_string(r, "schedule");
  s["timing"] = opt_string(r, "timing");
  s["seed"] = r.value("seed", 0);

  const json& acc = need(r, "accuracy", file, "the accuracy object");
  json a;
  a["mean"] = need_number(r, "accuracy.mean", file);
  a["ci95_half_width"] = finite_or_null(opt_number(acc, "ci95_half_width"));
  a["ci95_low"] = finite_or_null(opt_number(acc, "ci95_low"));
  a["ci95_high"] = finite_or_null(opt_number(acc, "ci95_high"));
  a["trials"] = need_number(r, "accuracy.trials", file);
  const json& per_trial = need(r, "accuracy.per_trial", file, "a list of per-trial accuracies");
  if (!per_trial.is_array()) throw_input_error(file.string(), "key accuracy.per_trial", "a list", type_name(per_trial));
  a["per_trial"] = json::array();
  for (const auto& v : per_trial) {
    if (!v.is_number()) throw_input_error(file.string(), "key accuracy.per_trial", "numbers", type_name(v));
    a["per_trial"].push_back(v.get<double>());
  }
  a["deterministic"] = acc.value("deterministic", false);
  s["accuracy"] = a;

  const double inferences = need_number(r, "inferences.total", file);
  if (!(inferences > 0)) throw_input_error(file.string(), "key inferences.total", "at least one inference", "0");
  s["inferences"] = inferences;
  s["energy_per_inference_j"] = need_number(r, "energy.per_inference_j", file);
  const json& total = need(r, "energy.total", file, "the energy totals");
  s["energy_per_inference_dynamic_j"] = need_number(total, "dynamic_j", file) / inferences;
  s["energy_per_inference_leakage_j"] = need_number(total, "leakage_j", file) / inferences;
  const json& by_comp = need(r, "energy.by_component", file, "energy per component");
  json comps = json::object();
  for (const auto& c : component_names())
    comps[c] = by_comp.contains(c) ? need_number(by_comp[c], "total_j", file) / inferences : 0.0;
  s["energy_per_inference_by_component_j"] = comps;

  // Rows in network order (layers, then io and anything else).
  const json& layers = need(r, "layers", file, "the list of layers");
  if (!layers.is_array()) throw_input_error(file.string(), "key layers", "a list", type_name(layers));
  const json& by_row = need(r, "energy.by_row", file, "energy per layer");
  std::vector<std::string> row_order;
  for (const auto& l : layers) row_order.push_back(need(l, "name", file, "a layer name").get<std::string>());
  for (const auto& [name, _] : by_row.items())
    if (std::find(row_order.begin(), row_order.end(), name) == row_order.end()) row_order.push_back(name);
  json rows = json::array();
  for (const auto& name : row_order) {
    if (!by_row.contains(name)) continue;
    json row{{"row", name}};
    row["total"] = need_number(by_row[name], "total.total_j", file) / inferences;
    json bc = json::object();
    for (const auto& c : component_names())
      bc[c] = by_row[name]["by_component"].contains(c)
                  ? need_number(by_row[name]["by_component"][c], "total_j", file) / inferences
                  : 0.0;
    row["by_component"] = bc;
    rows.push_back(row);
  }
  s["energy_per_inference_by_layer_j"] = rows;

  // Ledger (results.json since the action ledger): per action and the reconciliation.
  if (r["energy"].contains("ledger")) {
    const json& ledger = r["energy"]["ledger"];
    json by_action = json::object();
    std::map<std::string, std::string> units;
    for (const auto& a : ledger.value("actions", json::array()))
      units[a.value("action", "")] = a.value("count_unit", "");
    const json ledger_by_action = ledger.value("by_action", json::object());  // items() must not outlive it
    for (const auto& [name, t] : ledger_by_action.items())
      by_action[name] = {{"count_per_inference", opt_number(t, "count") / inferences},
                         {"count_unit", units[name]},
                         {"energy_per_inference_j", opt_number(t, "energy_j") / inferences},
                         {"energy_per_count_j", finite_or_null(opt_number(t, "energy_per_count_j"))},
                         {"mean_voltage_v", finite_or_null(opt_number(t, "mean_voltage_v"))}};
    s["energy_by_action"] = by_action;
    s["reconciliation_j"] = ledger.value("reconciliation", json::object());
  }
  if (r["energy"].contains("eta_model")) {
    const json& e = r["energy"]["eta_model"];
    s["eta_memory_energy_normalized"] = finite_or_null(opt_number(e, "memory_energy_normalized"));
    s["eta_a"] = finite_or_null(opt_number(e, "a"));
  }
  if (r["energy"].contains("drum_multiply")) s["drum_multiply"] = r["energy"]["drum_multiply"];

  const double clock_hz = need_number(r, "time.clock_hz", file);
  s["clock_hz"] = clock_hz;
  s["cycles_per_inference"] = need_number(r, "time.cycles_per_inference", file);
  s["latency_per_inference_s"] = need_number(r, "time.simulated_time_per_inference_s", file);

  std::map<std::string, json> assignment;
  if (r.contains("assignment") && r["assignment"].is_array())
    for (const auto& a : r["assignment"]) assignment[a.value("layer", "")] = a;
  json out_layers = json::array();
  for (const auto& l : layers) {
    const std::string name = l["name"].get<std::string>();
    const double cycles = need_number(l, "cycles_per_inference", file);
    json o{{"name", name},
           {"kind", opt_string(l, "kind")},
           {"engine", opt_string(l, "engine")},
           {"multiplier", opt_string(l, "multiplier")},
           {"unrolling", opt_string(l, "unrolling")},
           {"cycles_per_inference", cycles},
           {"latency_s", clock_hz > 0 ? cycles / clock_hz : 0.0},
           {"utilization", need_number(l, "utilization", file)},
           {"macs_per_inference", opt_number(l, "macs_per_inference")},
           {"energy_per_inference_j", need_number(l, "energy.total_j", file) / inferences}};
    const json a = assignment.count(name) ? assignment[name] : json::object();
    o["drum_k"] = a.value("drum_k", 0);
    o["weight_fault_rate"] = finite_or_null(opt_number(a, "weight_fault_rate"));
    o["weight_voltage_v"] = finite_or_null(opt_number(a, "weight_voltage_v"));
    o["logic_voltage_v"] = finite_or_null(opt_number(a, "logic_voltage_v"));
    o["crossbar_voltage_v"] = finite_or_null(opt_number(a, "crossbar_voltage_v"));
    o["i_max_a"] = finite_or_null(opt_number(a, "i_max_a"));
    o["eta"] = finite_or_null(opt_number(a, "eta"));
    o["multiply_nominal_j"] = finite_or_null(opt_number(a, "multiply_nominal_j"));
    o["crossbar_array_power_w"] = finite_or_null(opt_number(a, "crossbar_array_power_w"));
    out_layers.push_back(o);
  }
  s["layers"] = out_layers;

  // Voltage schedule of the first chip: the levels per domain over simulated time.
  json domains = json::object();
  if (r.contains("voltage") && r["voltage"].contains("events"))
    for (const auto& e : r["voltage"]["events"]) {
      if (e.value("trial", 0) != 0) continue;
      domains[e.value("domain", "?")].push_back({{"time_s", opt_number(e, "time_s")},
                                                 {"voltage_v", opt_number(e, "voltage_v")},
                                                 {"layer", opt_string(e, "layer")}});
    }
  const double trials = std::max(1.0, a["trials"].get<double>());
  s["voltage_schedule"] = {
      {"trial", 0}, {"end_time_s", need_number(r, "time.simulated_time_s", file) / trials}, {"domains", domains}};
  return s;
}

json train_section(const fs::path& file) {
  const json t = load_json_file(file, "training results written by axsim train");
  const json& epochs = need(t, "epochs", file, "the list of epochs");
  if (!epochs.is_array()) throw_input_error(file.string(), "key epochs", "a list", type_name(epochs));
  json s;
  s["network"] = opt_string(t, "network");
  s["method"] = opt_string(t, "method");
  s["final_test_accuracy"] = finite_or_null(opt_number(t, "final_test_accuracy"));
  json out = json::array();
  json p_per_layer = json::object();
  json memory_energy = json::array();
  for (std::size_t i = 0; i < epochs.size(); ++i) {
    const json& e = epochs[i];
    const std::string where = "epochs[" + std::to_string(i) + "]";
    json o;
    o["epoch"] = need_number(e, "epoch", file);
    o["test_accuracy"] = need_number(e, "test_accuracy", file);
    o["train_accuracy"] = finite_or_null(opt_number(e, "train_accuracy"));
    o["train_loss"] = finite_or_null(opt_number(e, "train_loss"));
    out.push_back(o);
    if (e.contains("p") && e["p"].is_object())
      for (const auto& [layer, p] : e["p"].items())
        p_per_layer[layer].push_back({{"epoch", o["epoch"]}, {"p", finite_or_null(number_or_nan(p))}});
    if (e.contains("memory_energy"))
      memory_energy.push_back(
          {{"epoch", o["epoch"]}, {"normalized", finite_or_null(number_or_nan(e["memory_energy"]))}});
    (void)where;
  }
  s["epochs"] = out;
  if (!p_per_layer.empty()) s["p_per_layer"] = p_per_layer;
  if (!memory_energy.empty()) s["memory_energy"] = memory_energy;
  return s;
}

// Non-dominated runs: no other run has at most the energy and at least the accuracy, one of them strictly.
std::vector<std::size_t> pareto_front(const std::vector<std::pair<double, double>>& energy_accuracy) {
  std::vector<std::size_t> front;
  for (std::size_t i = 0; i < energy_accuracy.size(); ++i) {
    bool dominated = false;
    for (std::size_t j = 0; j < energy_accuracy.size() && !dominated; ++j) {
      const auto [ej, aj] = energy_accuracy[j];
      const auto [ei, ai] = energy_accuracy[i];
      dominated = j != i && ej <= ei && aj >= ai && (ej < ei || aj > ai);
    }
    if (!dominated) front.push_back(i);
  }
  return front;
}

// ---------------------------------------------------------------------------------------------------------
// HTML

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string g4(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

enum class Show { percent, joule, second, volt, watt, ampere, hertz, cycles, plain };

Dim dim_of(Show s) {
  switch (s) {
    case Show::joule:
      return Dim::joule;
    case Show::second:
      return Dim::second;
    case Show::volt:
      return Dim::volt;
    case Show::watt:
      return Dim::watt;
    case Show::ampere:
      return Dim::ampere;
    case Show::hertz:
      return Dim::hertz;
    default:
      return Dim::none;
  }
}

std::string show_text(double v, Show s) {
  if (!std::isfinite(v)) return "–";
  switch (s) {
    case Show::percent:
      return fixed(100 * v, 2) + " %";
    case Show::cycles:
      return fixed(v, v == std::floor(v) ? 0 : 1);
    case Show::plain:
      return g4(v);
    default:
      return format_quantity(v, dim_of(s));
  }
}

const char* unit_attr(Show s) {
  switch (s) {
    case Show::percent:
      return "percent";
    case Show::cycles:
      return "cycles";
    case Show::plain:
      return "plain";
    default:
      return "si";
  }
}

// A number of report.json shown in the page: the JSON pointer and the exact value travel with the text.
class Page {
 public:
  explicit Page(const json& report) : report_(report) {}

  double value(const std::string& ptr) const {
    const json& j = report_.at(json::json_pointer(ptr));
    return number_or_nan(j);
  }
  std::string num(const std::string& ptr, Show s) const {
    const double v = value(ptr);
    if (!std::isfinite(v)) return "<span class=\"na\">–</span>";
    return "<span class=\"num\" data-ptr=\"" + html_escape(ptr) + "\" data-value=\"" + exact_number(v) +
           "\" data-unit=\"" + unit_attr(s) + "\">" + html_escape(show_text(v, s)) + "</span>";
  }
  Mark mark(double x, const std::string& ptr, const std::string& label) const {
    return Mark{x, value(ptr), ptr, label};
  }
  const json& report() const { return report_; }

 private:
  const json& report_;
};

Formatter fmt_for(Show s) {
  return [s](double v) {
    if (s == Show::percent) return fixed(100 * v, 1) + " %";
    if (s == Show::cycles || s == Show::plain) return g4(v);
    return format_quantity(v, dim_of(s), 3);
  };
}

const char* kCss = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:2em}h3{margin-top:1.5em}
table{border-collapse:collapse;margin:8px 0;font-size:.9em}th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}.na{color:#999}.note{color:#555;font-size:.9em}
figure.chart{margin:12px 0}svg text{font-size:11px;fill:#333}svg text.title{font-size:13px;font-weight:600}
svg .grid{stroke:#eee}svg .axis{stroke:#555}svg text.label{font-size:12px}code{background:#f4f4f4;padding:0 3px}
.pareto-yes{font-weight:600;color:#D55E00}
)";

// A key as one JSON-pointer token (RFC 6901: '~' -> "~0", '/' -> "~1"): layer names may hold slashes.
std::string pointer_token(const std::string& key) {
  std::string t;
  for (char c : key) t += c == '~' ? std::string("~0") : c == '/' ? std::string("~1") : std::string(1, c);
  return t;
}

void render_sim_run(std::ostringstream& o, const Page& page, std::size_t run_index) {
  const json& run = page.report()["runs"][run_index];
  const json& s = run["sim"];
  const std::string base = "/runs/" + std::to_string(run_index) + "/sim";
  const std::string rid = "run" + std::to_string(run_index);
  const std::string name = run["name"].get<std::string>();

  o << "<p>network <b>" << html_escape(s.value("network", "")) << "</b>, hardware <b>"
    << html_escape(s.value("hardware", "")) << "</b>, schedule <b>" << html_escape(s.value("schedule", ""))
    << "</b>, timing " << html_escape(s.value("timing", "")) << ", " << page.num(base + "/inferences", Show::plain)
    << " inferences.</p>\n";
  o << "<table><tr><th class=\"l\">quantity</th><th>value</th></tr>"
    << "<tr><td class=\"l\">accuracy (mean)</td><td>" << page.num(base + "/accuracy/mean", Show::percent)
    << "</td></tr>"
    << "<tr><td class=\"l\">95 % CI</td><td>" << page.num(base + "/accuracy/ci95_low", Show::percent) << " … "
    << page.num(base + "/accuracy/ci95_high", Show::percent) << "</td></tr>"
    << "<tr><td class=\"l\">trials (chips)</td><td>" << page.num(base + "/accuracy/trials", Show::plain) << "</td></tr>"
    << "<tr><td class=\"l\">energy per inference</td><td>" << page.num(base + "/energy_per_inference_j", Show::joule)
    << "</td></tr><tr><td class=\"l\">&nbsp;&nbsp;dynamic / leakage</td><td>"
    << page.num(base + "/energy_per_inference_dynamic_j", Show::joule) << " / "
    << page.num(base + "/energy_per_inference_leakage_j", Show::joule) << "</td></tr>"
    << "<tr><td class=\"l\">cycles per inference</td><td>" << page.num(base + "/cycles_per_inference", Show::cycles)
    << "</td></tr><tr><td class=\"l\">latency per inference</td><td>"
    << page.num(base + "/latency_per_inference_s", Show::second) << "</td></tr>"
    << "<tr><td class=\"l\">clock</td><td>" << page.num(base + "/clock_hz", Show::hertz) << "</td></tr>";
  if (s.contains("eta_memory_energy_normalized"))
    o << "<tr><td class=\"l\">abstract memory energy E(p)/E(0) (eta model, a = "
      << page.num(base + "/eta_a", Show::plain) << ")</td><td>"
      << page.num(base + "/eta_memory_energy_normalized", Show::plain) << "</td></tr>";
  o << "</table>\n";

  // Energy per layer, stacked by component.
  const json& rows = s["energy_per_inference_by_layer_j"];
  std::vector<std::string> row_names;
  double max_row = 0;
  for (const auto& r : rows) {
    row_names.push_back(r["row"].get<std::string>());
    max_row = std::max(max_row, r["total"].get<double>());
  }
  std::vector<Series> stacks;
  for (const auto& c : component_names()) {
    Series se{c, {}};
    for (std::size_t k = 0; k < rows.size(); ++k) {
      const std::string p = base + "/energy_per_inference_by_layer_j/" + std::to_string(k) + "/by_component/" + c;
      se.marks.push_back(
          page.mark(double(k), p, row_names[k] + " · " + c + ": " + show_text(page.value(p), Show::joule)));
    }
    stacks.push_back(std::move(se));
  }
  o << "<h3>Energy per inference by layer and component</h3>\n"
    << stacked_bar_chart({rid + "-energy-layers", "Energy per inference by layer (J)", 720, 340}, row_names,
                         Axis::fit(0, max_row, "energy per inference (J)", fmt_for(Show::joule), false, true), stacks);

  // Cycles and utilization per layer.
  const json& layers = s["layers"];
  std::vector<std::string> layer_names;
  Series cycles{"cycles", {}}, util{"utilization", {}};
  double max_cycles = 0;
  for (std::size_t k = 0; k < layers.size(); ++k) {
    const std::string lb = base + "/layers/" + std::to_string(k);
    layer_names.push_back(layers[k]["name"].get<std::string>());
    cycles.marks.push_back(page.mark(
        double(k), lb + "/cycles_per_inference",
        layer_names.back() + ": " + show_text(page.value(lb + "/cycles_per_inference"), Show::cycles) + " cycles"));
    util.marks.push_back(
        page.mark(double(k), lb + "/utilization",
                  layer_names.back() + ": " + show_text(page.value(lb + "/utilization"), Show::percent)));
    max_cycles = std::max(max_cycles, page.value(lb + "/cycles_per_inference"));
  }
  o << "<h3>Cycles, latency and utilization per layer</h3>\n"
    << bar_chart({rid + "-cycles", "Cycles per inference by layer", 720, 300}, layer_names,
                 Axis::fit(0, max_cycles, "cycles per inference", fmt_for(Show::cycles), false, true), cycles)
    << bar_chart({rid + "-utilization", "PE-array utilization by layer", 720, 300}, layer_names,
                 Axis::fit(0, 1, "utilization", fmt_for(Show::percent), false, true), util);

  o << "<table><tr><th class=\"l\">layer</th><th class=\"l\">engine</th><th class=\"l\">multiplier</th><th>DRUM k</th>"
       "<th>weight p</th><th>weight V</th><th>logic V</th><th>crossbar V</th><th>I_max</th><th>cycles</th>"
       "<th>latency</th><th>utilization</th><th>energy / inference</th><th>multiply @ nominal</th></tr>\n";
  for (std::size_t k = 0; k < layers.size(); ++k) {
    const json& l = layers[k];
    const std::string lb = base + "/layers/" + std::to_string(k);
    o << "<tr><td class=\"l\">" << html_escape(l["name"].get<std::string>()) << "</td><td class=\"l\">"
      << html_escape(l["engine"].get<std::string>()) << "</td><td class=\"l\">"
      << html_escape(l["multiplier"].get<std::string>()) << "</td><td>"
      << (l["drum_k"].get<int>() > 0 ? page.num(lb + "/drum_k", Show::plain) : std::string("exact")) << "</td><td>"
      << page.num(lb + "/weight_fault_rate", Show::plain) << "</td><td>"
      << page.num(lb + "/weight_voltage_v", Show::volt) << "</td><td>" << page.num(lb + "/logic_voltage_v", Show::volt)
      << "</td><td>" << page.num(lb + "/crossbar_voltage_v", Show::volt) << "</td><td>"
      << page.num(lb + "/i_max_a", Show::ampere) << "</td><td>" << page.num(lb + "/cycles_per_inference", Show::cycles)
      << "</td><td>" << page.num(lb + "/latency_s", Show::second) << "</td><td>"
      << page.num(lb + "/utilization", Show::percent) << "</td><td>"
      << page.num(lb + "/energy_per_inference_j", Show::joule) << "</td><td>"
      << page.num(lb + "/multiply_nominal_j", Show::joule) << "</td></tr>\n";
  }
  o << "</table>\n";

  // Voltage schedule.
  const json& vs = s["voltage_schedule"];
  std::vector<Series> volt_series;
  double vmin = 1e9, vmax = 0;
  const double end = vs["end_time_s"].get<double>();
  for (const auto& [domain, events] : vs["domains"].items()) {
    Series se{domain, {}};
    for (std::size_t i = 0; i < events.size(); ++i) {
      const std::string p =
          base + "/voltage_schedule/domains/" + pointer_token(domain) + "/" + std::to_string(i) + "/voltage_v";
      const double t = number_or_nan(events[i]["time_s"]);
      se.marks.push_back(
          page.mark(t, p, domain + " @ " + show_text(t, Show::second) + ": " + show_text(page.value(p), Show::volt)));
      vmin = std::min(vmin, page.value(p));
      vmax = std::max(vmax, page.value(p));
    }
    volt_series.push_back(std::move(se));
  }
  o << "<h3>Voltage schedule over simulated time (chip 0)</h3>\n";
  if (volt_series.empty()) {
    o << "<p class=\"note\">No voltage events recorded.</p>\n";
  } else {
    o << line_chart({rid + "-voltage", "Supply voltage per domain over simulated time", 720, 320},
                    Axis::fit(0, end, "simulated time (s)", fmt_for(Show::second), false, true),
                    Axis::fit(vmin, vmax, "voltage (V)", fmt_for(Show::volt), false, false), volt_series, true, end);
  }

  // Ledger.
  if (s.contains("energy_by_action")) {
    o << "<h3>Energy ledger per action</h3>\n<table><tr><th class=\"l\">action</th><th>count / inference</th>"
         "<th class=\"l\">count unit</th><th>energy / inference</th><th>energy / count</th><th>mean "
         "voltage</th></tr>\n";
    for (const auto& [action, t] : s["energy_by_action"].items()) {
      const std::string ab = base + "/energy_by_action/" + pointer_token(action);
      o << "<tr><td class=\"l\">" << html_escape(action) << "</td><td>"
        << page.num(ab + "/count_per_inference", Show::plain) << "</td><td class=\"l\">"
        << html_escape(t.value("count_unit", "")) << "</td><td>"
        << page.num(ab + "/energy_per_inference_j", Show::joule) << "</td><td>"
        << page.num(ab + "/energy_per_count_j", Show::joule) << "</td><td>"
        << page.num(ab + "/mean_voltage_v", Show::volt) << "</td></tr>\n";
    }
    o << "</table>\n";
    if (s.contains("reconciliation_j") && !s["reconciliation_j"].empty()) {
      const std::string rb = base + "/reconciliation_j";
      o << "<p class=\"note\">Reconciliation (whole run): sum over layers "
        << page.num(rb + "/sum_over_rows_j", Show::joule) << ", over components "
        << page.num(rb + "/sum_over_components_j", Show::joule) << ", over actions "
        << page.num(rb + "/sum_over_actions_j", Show::joule) << ", total " << page.num(rb + "/total_j", Show::joule)
        << ".</p>\n";
    }
  }
  if (s.contains("drum_multiply") && !s["drum_multiply"].empty()) {
    o << "<details><summary>Multiplier energy per DRUM k and width (nominal voltage)</summary><table><tr><th>width</th>"
         "<th>k</th><th>energy</th></tr>";
    for (std::size_t i = 0; i < s["drum_multiply"].size(); ++i) {
      const std::string db = base + "/drum_multiply/" + std::to_string(i);
      o << "<tr><td>" << page.num(db + "/bits", Show::plain) << "</td><td>"
        << (s["drum_multiply"][i]["k"].get<int>() == 0 ? std::string("exact") : page.num(db + "/k", Show::plain))
        << "</td><td>" << page.num(db + "/nominal_j", Show::joule) << "</td></tr>";
    }
    o << "</table></details>\n";
  }
  (void)name;
}

void render_train_run(std::ostringstream& o, const Page& page, std::size_t run_index) {
  const json& t = page.report()["runs"][run_index]["train"];
  const std::string base = "/runs/" + std::to_string(run_index) + "/train";
  const std::string rid = "run" + std::to_string(run_index);
  o << "<p>training: network <b>" << html_escape(t.value("network", "")) << "</b>, method <b>"
    << html_escape(t.value("method", "")) << "</b>, final test accuracy "
    << page.num(base + "/final_test_accuracy", Show::percent) << ".</p>\n";
  const json& epochs = t["epochs"];
  Series test{"test accuracy", {}}, train{"train accuracy", {}};
  double lo = 1, hi = 0, e_hi = 1;
  for (std::size_t i = 0; i < epochs.size(); ++i) {
    const std::string eb = base + "/epochs/" + std::to_string(i);
    const double ep = epochs[i]["epoch"].get<double>();
    e_hi = std::max(e_hi, ep);
    test.marks.push_back(
        page.mark(ep, eb + "/test_accuracy",
                  "epoch " + g4(ep) + ": " + show_text(page.value(eb + "/test_accuracy"), Show::percent)));
    lo = std::min(lo, test.marks.back().y);
    hi = std::max(hi, test.marks.back().y);
    if (std::isfinite(page.value(eb + "/train_accuracy"))) {
      train.marks.push_back(
          page.mark(ep, eb + "/train_accuracy",
                    "epoch " + g4(ep) + ": " + show_text(page.value(eb + "/train_accuracy"), Show::percent)));
      lo = std::min(lo, train.marks.back().y);
      hi = std::max(hi, train.marks.back().y);
    }
  }
  o << line_chart({rid + "-train-accuracy", "Accuracy per epoch", 720, 320},
                  Axis::fit(1, e_hi, "epoch", fmt_for(Show::plain)),
                  Axis::fit(std::min(lo, hi), std::max(lo, hi), "accuracy", fmt_for(Show::percent)), {test, train});
  if (t.contains("p_per_layer")) {
    std::vector<Series> ps;
    double plo = 1, phi = 0;
    for (const auto& [layer, points] : t["p_per_layer"].items()) {
      Series se{layer, {}};
      for (std::size_t i = 0; i < points.size(); ++i) {
        const std::string pp = base + "/p_per_layer/" + pointer_token(layer) + "/" + std::to_string(i) + "/p";
        if (!std::isfinite(page.value(pp))) continue;
        const double ep = points[i]["epoch"].get<double>();
        se.marks.push_back(page.mark(ep, pp, layer + ", epoch " + g4(ep) + ": p = " + g4(page.value(pp))));
        if (se.marks.back().y > 0) plo = std::min(plo, se.marks.back().y);
        phi = std::max(phi, se.marks.back().y);
      }
      ps.push_back(std::move(se));
    }
    o << line_chart({rid + "-train-p", "Learned fault rate p per layer (LaNMax)", 720, 320},
                    Axis::fit(1, e_hi, "epoch", fmt_for(Show::plain)),
                    Axis::fit(plo, std::max(phi, plo), "fault rate p", fmt_for(Show::plain), true), ps);
  }
}

// A sweep point's run directory (DIR/points/<id>/sim, beside point.json) is labelled by the point and its swept
// parameters ("p001 layers={...}") rather than by the directory name "sim", which every point shares.
std::string sweep_point_label(const fs::path& dir) {
  const fs::path point_file = fs::absolute(dir).lexically_normal().parent_path() / "point.json";
  std::ifstream in(point_file);
  if (!in) return "";
  const json point = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!point.is_object() || !point.contains("result") || !point["result"].is_object()) return "";
  const json& result = point["result"];
  std::string label = result.value("point", "");
  if (label.empty()) return "";
  if (result.contains("params") && result["params"].is_object())
    for (const auto& [key, value] : result["params"].items()) {
      const std::string leaf = key.substr(key.rfind('.') == std::string::npos ? 0 : key.rfind('.') + 1);
      std::string text = value.is_string() ? value.get<std::string>() : value.dump();
      if (text.size() > 48) text = text.substr(0, 45) + "...";
      label += " " + leaf + "=" + text;
    }
  return label;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------

json build_report(const std::vector<fs::path>& run_dirs) {
  if (run_dirs.empty()) throw_input_error("<command line>", "axsim report", "at least one run directory");
  json report;
  report["format"] = "axsim-report";
  report["version"] = 1;
  report["units"] = {{"_j", "joule"},
                     {"_s", "second"},
                     {"_v", "volt"},
                     {"_a", "ampere"},
                     {"_w", "watt"},
                     {"_hz", "hertz"},
                     {"cycles", "clock cycles"},
                     {"accuracy", "fraction of inferences classified correctly"},
                     {"utilization", "fraction of PE-array MAC slots used"},
                     {"weight_fault_rate", "faulty bits / bits read"},
                     {"per_inference", "whole run divided by the inferences simulated"}};
  json runs = json::array();
  std::set<std::string> names;
  for (const auto& dir : run_dirs) {
    if (!fs::is_directory(dir))
      throw_input_error(dir.string(), "", "a run directory (written by axsim sim or axsim train)",
                        fs::exists(dir) ? "a file" : "nothing (no such directory)");
    const fs::path results = dir / "results.json", train = dir / "train.json";
    const bool has_sim = fs::exists(results), has_train = fs::exists(train);
    if (!has_sim && !has_train)
      throw_input_error(results.string(), "", "results.json (axsim sim) or train.json (axsim train) in " + dir.string(),
                        "neither file", "did the run finish? a run directory is complete once results.json exists");
    json run;
    std::string name = sweep_point_label(dir);
    if (name.empty()) name = dir.filename().string();
    if (name.empty() || name == ".") name = fs::absolute(dir).lexically_normal().filename().string();
    if (name.empty()) name = dir.string();
    for (int k = 2; names.count(name); ++k) name = dir.filename().string() + " #" + std::to_string(k);
    names.insert(name);
    run["name"] = name;
    run["dir"] = dir.string();
    if (has_sim) run["sim"] = sim_section(results);
    if (has_train) run["train"] = train_section(train);
    runs.push_back(run);
  }
  report["runs"] = runs;

  std::vector<std::pair<double, double>> ea;
  std::vector<std::size_t> index;
  for (std::size_t i = 0; i < runs.size(); ++i)
    if (runs[i].contains("sim")) {
      ea.emplace_back(runs[i]["sim"]["energy_per_inference_j"].get<double>(),
                      runs[i]["sim"]["accuracy"]["mean"].get<double>());
      index.push_back(i);
    }
  const auto front = pareto_front(ea);
  json points = json::array();
  for (std::size_t k = 0; k < ea.size(); ++k)
    points.push_back({{"run", index[k]},
                      {"name", runs[index[k]]["name"]},
                      {"energy_per_inference_j", ea[k].first},
                      {"accuracy", ea[k].second},
                      {"on_front", std::find(front.begin(), front.end(), k) != front.end()}});
  report["pareto"] = {{"x", "energy_per_inference_j"}, {"y", "accuracy"}, {"points", points}};
  return report;
}

std::string render_html(const json& report) {
  const Page page(report);
  const json& runs = report["runs"];
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>axsim report</title>"
    << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>" << kCss
    << "</style></head><body>\n<h1>axsim report</h1>\n<p class=\"note\">" << runs.size()
    << " run(s). Every number on this page is in <code>report.json</code> next to it (same value; units: "
       "J joules, s seconds, V volts, A amperes; per-inference energies are the whole run's energy divided by the "
       "inferences simulated).</p>\n";

  // Summary of simulation runs.
  std::vector<std::size_t> sims;
  for (std::size_t i = 0; i < runs.size(); ++i)
    if (runs[i].contains("sim")) sims.push_back(i);
  if (!sims.empty()) {
    o << "<h2>Summary</h2>\n<table><tr><th class=\"l\">run</th><th class=\"l\">network</th><th "
         "class=\"l\">hardware</th>"
         "<th class=\"l\">schedule</th><th>accuracy</th><th>95 % CI ±</th><th>trials</th><th>energy / inference</th>"
         "<th>E(p)/E(0)</th><th>cycles / inference</th><th>latency / inference</th><th>Pareto</th></tr>\n";
    const json& points = report["pareto"]["points"];
    for (std::size_t k = 0; k < sims.size(); ++k) {
      const std::size_t i = sims[k];
      const json& s = runs[i]["sim"];
      const std::string b = "/runs/" + std::to_string(i) + "/sim";
      const bool front = points[k]["on_front"].get<bool>();
      o << "<tr><td class=\"l\">" << html_escape(runs[i]["name"].get<std::string>()) << "</td><td class=\"l\">"
        << html_escape(s.value("network", "")) << "</td><td class=\"l\">" << html_escape(s.value("hardware", ""))
        << "</td><td class=\"l\">" << html_escape(s.value("schedule", "")) << "</td><td>"
        << page.num(b + "/accuracy/mean", Show::percent) << "</td><td>"
        << page.num(b + "/accuracy/ci95_half_width", Show::percent) << "</td><td>"
        << page.num(b + "/accuracy/trials", Show::plain) << "</td><td>"
        << page.num(b + "/energy_per_inference_j", Show::joule) << "</td><td>"
        << (s.contains("eta_memory_energy_normalized") ? page.num(b + "/eta_memory_energy_normalized", Show::plain)
                                                       : std::string("<span class=\"na\">–</span>"))
        << "</td><td>" << page.num(b + "/cycles_per_inference", Show::cycles) << "</td><td>"
        << page.num(b + "/latency_per_inference_s", Show::second) << "</td><td class=\""
        << (front ? "pareto-yes\">front" : "\">–") << "</td></tr>\n";
    }
    o << "</table>\n";

    // Accuracy distribution over trials.
    std::vector<std::string> cats;
    std::vector<std::vector<Mark>> pts;
    std::vector<Mark> means, lows, highs;
    double lo = 1, hi = 0;
    for (std::size_t i : sims) {
      const std::string b = "/runs/" + std::to_string(i) + "/sim/accuracy";
      const std::string rn = runs[i]["name"].get<std::string>();
      cats.push_back(rn);
      std::vector<Mark> p;
      const json& per = runs[i]["sim"]["accuracy"]["per_trial"];
      for (std::size_t t = 0; t < per.size(); ++t) {
        p.push_back(
            page.mark(0, b + "/per_trial/" + std::to_string(t),
                      rn + ", chip " + std::to_string(t) + ": " + show_text(per[t].get<double>(), Show::percent)));
        lo = std::min(lo, p.back().y);
        hi = std::max(hi, p.back().y);
      }
      pts.push_back(std::move(p));
      means.push_back(page.mark(0, b + "/mean", rn + " mean: " + show_text(page.value(b + "/mean"), Show::percent)));
      const double l = page.value(b + "/ci95_low"), h = page.value(b + "/ci95_high");
      lows.push_back(std::isfinite(l) ? page.mark(0, b + "/ci95_low", rn + " CI low: " + show_text(l, Show::percent))
                                      : Mark{0, std::nan(""), "", ""});
      highs.push_back(std::isfinite(h) ? page.mark(0, b + "/ci95_high", rn + " CI high: " + show_text(h, Show::percent))
                                       : Mark{0, std::nan(""), "", ""});
      lo = std::min({lo, means.back().y, std::isfinite(l) ? l : 1.0});
      hi = std::max({hi, means.back().y, std::isfinite(h) ? h : 0.0});
    }
    o << "<h2>Accuracy</h2>\n<p class=\"note\">Dots: one simulated chip (trial) each; black bar: mean; red whisker: "
         "95 % confidence interval of the mean.</p>\n"
      << strip_chart({"accuracy", "Accuracy over trials", 720, 340}, cats,
                     Axis::fit(std::max(0.0, lo), std::min(1.0, hi), "accuracy", fmt_for(Show::percent)), pts, means,
                     lows, highs);

    // Energy per inference by component, per run.
    std::vector<Series> stacks;
    double max_e = 0;
    for (const auto& c : component_names()) {
      Series se{c, {}};
      for (std::size_t k = 0; k < sims.size(); ++k) {
        const std::string p = "/runs/" + std::to_string(sims[k]) + "/sim/energy_per_inference_by_component_j/" + c;
        se.marks.push_back(page.mark(double(k), p, cats[k] + " · " + c + ": " + show_text(page.value(p), Show::joule)));
      }
      stacks.push_back(std::move(se));
    }
    for (std::size_t i : sims) max_e = std::max(max_e, runs[i]["sim"]["energy_per_inference_j"].get<double>());
    o << "<h2>Energy per inference by component</h2>\n"
      << stacked_bar_chart({"energy-components", "Energy per inference by component (J)", 720, 340}, cats,
                           Axis::fit(0, max_e, "energy per inference (J)", fmt_for(Show::joule), false, true), stacks);

    // Pareto.
    o << "<h2>Accuracy vs energy</h2>\n";
    if (sims.size() < 2) {
      o << "<p class=\"note\">One simulation run: give several run directories (e.g. a sweep) for the "
           "accuracy-vs-energy "
           "Pareto front.</p>\n";
    }
    std::vector<Mark> sc;
    std::vector<std::size_t> front;
    double elo = 1e300, ehi = 0, alo = 1, ahi = 0;
    for (std::size_t k = 0; k < points.size(); ++k) {
      const std::string p = "/pareto/points/" + std::to_string(k);
      const double e = page.value(p + "/energy_per_inference_j");
      sc.push_back(Mark{e, page.value(p + "/accuracy"), p + "/accuracy",
                        points[k]["name"].get<std::string>() + ": " +
                            show_text(page.value(p + "/accuracy"), Show::percent) + " at " +
                            show_text(e, Show::joule)});
      if (points[k]["on_front"].get<bool>()) front.push_back(k);
      elo = std::min(elo, e);
      ehi = std::max(ehi, e);
      alo = std::min(alo, sc.back().y);
      ahi = std::max(ahi, sc.back().y);
    }
    o << scatter_chart({"pareto", "Accuracy vs energy per inference (Pareto front marked)", 720, 360},
                       Axis::fit(elo, ehi, "energy per inference (J)", fmt_for(Show::joule)),
                       Axis::fit(alo, ahi, "accuracy", fmt_for(Show::percent)), sc, front);
  }

  for (std::size_t i = 0; i < runs.size(); ++i) {
    o << "<h2 id=\"run" << i << "\">Run " << html_escape(runs[i]["name"].get<std::string>())
      << "</h2>\n<p class=\"note\">" << html_escape(runs[i]["dir"].get<std::string>()) << "</p>\n";
    if (runs[i].contains("sim")) render_sim_run(o, page, i);
    if (runs[i].contains("train")) render_train_run(o, page, i);
  }
  o << "</body></html>\n";
  return o.str();
}

namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

std::string csv_num(const json& j) { return j.is_number() ? exact_number(j.get<double>()) : std::string(); }

}  // namespace

std::string runs_csv(const json& report) {
  std::ostringstream o;
  o << "run,dir,network,hardware,schedule,accuracy,ci95_low,ci95_high,trials,energy_per_inference_j,"
       "eta_memory_energy_normalized,cycles_per_inference,latency_per_inference_s,pareto_front,final_test_accuracy\n";
  std::map<std::size_t, bool> front;
  for (const auto& p : report["pareto"]["points"]) front[p["run"].get<std::size_t>()] = p["on_front"].get<bool>();
  const json& runs = report["runs"];
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const json& r = runs[i];
    o << csv_field(r["name"].get<std::string>()) << ',' << csv_field(r["dir"].get<std::string>()) << ',';
    if (r.contains("sim")) {
      const json& s = r["sim"];
      o << csv_field(s.value("network", "")) << ',' << csv_field(s.value("hardware", "")) << ','
        << csv_field(s.value("schedule", "")) << ',' << csv_num(s["accuracy"]["mean"]) << ','
        << csv_num(s["accuracy"]["ci95_low"]) << ',' << csv_num(s["accuracy"]["ci95_high"]) << ','
        << csv_num(s["accuracy"]["trials"]) << ',' << csv_num(s["energy_per_inference_j"]) << ','
        << (s.contains("eta_memory_energy_normalized") ? csv_num(s["eta_memory_energy_normalized"]) : std::string())
        << ',' << csv_num(s["cycles_per_inference"]) << ',' << csv_num(s["latency_per_inference_s"]) << ','
        << (front[i] ? 1 : 0) << ',';
    } else {
      o << ",,,,,,,,,,,,";
    }
    o << (r.contains("train") ? csv_num(r["train"]["final_test_accuracy"]) : std::string()) << '\n';
  }
  return o.str();
}

std::string layers_csv(const json& report) {
  std::ostringstream o;
  o << "run,layer,engine,multiplier,drum_k,weight_fault_rate,weight_voltage_v,logic_voltage_v,crossbar_voltage_v,"
       "i_max_a,cycles_per_inference,latency_s,utilization,energy_per_inference_j\n";
  for (const auto& r : report["runs"]) {
    if (!r.contains("sim")) continue;
    for (const auto& l : r["sim"]["layers"])
      o << csv_field(r["name"].get<std::string>()) << ',' << csv_field(l["name"].get<std::string>()) << ','
        << csv_field(l["engine"].get<std::string>()) << ',' << csv_field(l["multiplier"].get<std::string>()) << ','
        << l["drum_k"].get<int>() << ',' << csv_num(l["weight_fault_rate"]) << ',' << csv_num(l["weight_voltage_v"])
        << ',' << csv_num(l["logic_voltage_v"]) << ',' << csv_num(l["crossbar_voltage_v"]) << ','
        << csv_num(l["i_max_a"]) << ',' << csv_num(l["cycles_per_inference"]) << ',' << csv_num(l["latency_s"]) << ','
        << csv_num(l["utilization"]) << ',' << csv_num(l["energy_per_inference_j"]) << '\n';
  }
  return o.str();
}

std::string energy_csv(const json& report) {
  std::ostringstream o;
  o << "run,row,component,energy_per_inference_j\n";
  for (const auto& r : report["runs"]) {
    if (!r.contains("sim")) continue;
    for (const auto& row : r["sim"]["energy_per_inference_by_layer_j"])
      for (const auto& c : component_names())
        o << csv_field(r["name"].get<std::string>()) << ',' << csv_field(row["row"].get<std::string>()) << ',' << c
          << ',' << csv_num(row["by_component"][c]) << '\n';
  }
  return o.str();
}

std::vector<fs::path> report_files(const fs::path& out_html) {
  const fs::path dir = out_html.parent_path();
  const std::string stem = out_html.stem().string();
  return {out_html, dir / (stem + ".json"), dir / (stem + "_runs.csv"), dir / (stem + "_layers.csv"),
          dir / (stem + "_energy.csv")};
}

void write_report(const std::vector<fs::path>& run_dirs, const fs::path& out_html) {
  if (out_html.empty() || out_html.filename().empty())
    throw_input_error("<command line>", "-o", "an output file name like report.html", out_html.string());
  // Everything is built in memory first: bad input leaves nothing behind.
  const json report = build_report(run_dirs);
  const std::string html = render_html(report);
  const std::vector<std::string> contents{html, report.dump(2) + "\n", runs_csv(report), layers_csv(report),
                                          energy_csv(report)};
  const auto files = report_files(out_html);
  if (!files[0].parent_path().empty()) ensure_directory(files[0].parent_path().string());
  // The HTML last: its presence means the report is complete.
  for (std::size_t i = files.size(); i-- > 1;) write_file_atomic(files[i].string(), contents[i]);
  write_file_atomic(files[0].string(), contents[0]);
}

}  // namespace axsim::report
