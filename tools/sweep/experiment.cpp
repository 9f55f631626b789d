#include "tools/sweep/experiment.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <tuple>

#include "core/error.hpp"
#include "sim/hw_config.hpp"
#include "sim/schedule.hpp"
#include "workloads/data/load.hpp"

namespace axsim::sweep {

namespace fs = std::filesystem;

namespace {

// Where an assignment came from, for error messages.
struct Origin {
  std::string file, location;
};

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const auto dot = path.find('.', start);
    parts.push_back(path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

std::string join_path(const std::vector<std::string>& parts, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n && i < parts.size(); ++i) s += (i ? "." : "") + parts[i];
  return s;
}

bool is_index(const std::string& s) {
  return !s.empty() && s.size() < 9 && s.find_first_not_of("0123456789") == std::string::npos;
}

// "hw.x" and "schedule.x" are shorthands of "sim.hw.x" and "sim.schedule.x".
std::string canonical_key(const std::string& key) {
  if (key == "hw" || key.rfind("hw.", 0) == 0 || key == "schedule" || key.rfind("schedule.", 0) == 0)
    return "sim." + key;
  return key;
}

// Walks as far as the path resolves; `depth` parts resolved, `last` the node reached.
struct Walk {
  std::size_t depth = 0;
  YAML::Node last;
};

Walk walk(const YAML::Node& root, const std::vector<std::string>& parts) {
  Walk w;
  w.last.reset(root);
  for (const auto& part : parts) {
    const YAML::Node& cur = w.last;
    YAML::Node next;
    if (cur.IsMap()) {
      const YAML::Node n = cur[part];
      if (!n.IsDefined()) break;
      next.reset(n);
    } else if (cur.IsSequence() && is_index(part) && std::stoul(part) < cur.size()) {
      const YAML::Node n = cur[std::stoul(part)];
      next.reset(n);
    } else {
      break;
    }
    w.last.reset(next);
    ++w.depth;
  }
  return w;
}

// Sets `key` (canonical) in `root` to a copy of `value`. Creates missing map keys along the way when
// `create` (set: and -p); sequences are indexed, never grown.
void set_path(YAML::Node& root, const std::string& key, const YAML::Node& value, const Origin& origin) {
  if (key == "seed") {
    // One seed for the whole point: training and simulation.
    const YAML::Node& view = root;
    for (const char* part : {"train", "sim"})
      if (view[part] && view[part].IsMap()) root[part]["seed"] = YAML::Clone(value);
    return;
  }
  const auto parts = split_path(key);
  for (const auto& p : parts)
    if (p.empty()) throw_input_error(origin.file, origin.location, "a key path without empty parts", "'" + key + "'");
  YAML::Node cur;
  cur.reset(root);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string& part = parts[i];
    const bool last = i + 1 == parts.size();
    if (cur.IsSequence()) {
      if (!is_index(part) || std::stoul(part) >= cur.size())
        throw_input_error(origin.file, origin.location,
                          fmt::format("an index below {} for the sequence '{}'", cur.size(), join_path(parts, i)),
                          "'" + part + "'");
      const std::size_t idx = std::stoul(part);
      if (last) {
        cur[idx] = YAML::Clone(value);
        return;
      }
      YAML::Node next = cur[idx];
      cur.reset(next);
      continue;
    }
    if (!cur.IsMap())
      throw_input_error(origin.file, origin.location,
                        fmt::format("'{}' to be a mapping (to set '{}')", join_path(parts, i), key), "a value");
    if (last) {
      cur[part] = YAML::Clone(value);
      return;
    }
    YAML::Node next = cur[part];
    if (!next.IsDefined() || next.IsNull()) {
      cur[part] = YAML::Node(YAML::NodeType::Map);
      next.reset(cur[part]);
    }
    cur.reset(next);
  }
}

// A swept key must name something the base configuration has: a misspelled key would otherwise sweep
// nothing (or fail only when its point runs).
// With `leaf_may_be_new` (set: and -p), only the last part may be missing (a new key in an existing map).
// Every configuration key axsim reads is made of these characters. A new leaf key must be too: a key with
// control or non-UTF-8 bytes would be written into a point's config.yaml that does not read back.
bool plain_key(const std::string& key) {
  return !key.empty() && std::all_of(key.begin(), key.end(), [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

void expect_existing_key(const YAML::Node& base, const std::string& key, const Origin& where,
                         bool leaf_may_be_new = false) {
  if (key == "seed") return;
  const auto parts = split_path(key);
  const Walk w = walk(base, parts);
  if (w.depth == parts.size()) return;
  if (leaf_may_be_new && w.depth + 1 == parts.size() && w.last.IsMap()) {
    if (plain_key(parts.back())) return;
    throw_input_error(where.file, where.location, "a new key made of letters, digits, '_' and '-'",
                      "'" + parts.back() + "'");
  }
  std::vector<std::string> candidates;
  std::string have;
  if (w.last.IsMap())
    for (const auto& kv : w.last) {
      const std::string k = kv.first.as<std::string>();
      candidates.push_back(k);
      have += (have.empty() ? "" : ", ") + k;
    }
  else if (w.last.IsSequence())
    have = fmt::format("indices 0..{}", w.last.size() ? w.last.size() - 1 : 0);
  const std::string prefix = join_path(parts, w.depth);
  const std::string close = closest_match(parts[w.depth], candidates);
  throw_input_error(where.file, where.location,
                    fmt::format("a key path that exists in the base configuration ('{}' has: {})",
                                prefix.empty() ? "<root>" : prefix, have.empty() ? "nothing" : have),
                    "'" + key + "'", close.empty() ? "" : (prefix.empty() ? "" : prefix + ".") + close);
}

// fs::exists without its exception: a name the file system refuses (too long, say) is a file that does not
// exist, reported as an InputError by the caller (the throwing overload made it an internal error).
bool file_exists(const fs::path& p) {
  std::error_code ignored;
  return fs::exists(p, ignored);
}

// A path in a config file, relative to the experiment's directory first, then to the working directory.
std::string resolve_file(const ConfigNode& node, const std::string& exp_dir, const std::string& what) {
  const std::string given = node.as_str();
  if (!fs::path(given).is_absolute() && !exp_dir.empty()) {
    const fs::path p = fs::path(exp_dir) / given;
    if (file_exists(p)) return p.lexically_normal().string();
  }
  if (file_exists(given)) return given;
  node.fail(what + " that exists (relative to the experiment file or the working directory)", "'" + given + "'");
}

// Loads a file-or-inline section: returns the tree; sets file/prefix for messages.
YAML::Node load_section(const ConfigNode& node, const std::string& exp_file, const std::string& exp_dir,
                        const std::string& what, const std::string& inline_prefix, std::string& file,
                        std::string& prefix, std::string* dir = nullptr) {
  if (node.is_scalar()) {
    file = resolve_file(node, exp_dir, what);
    prefix.clear();
    if (dir) *dir = fs::path(file).parent_path().string();
    return YAML::Clone(ConfigNode::load_file(file).yaml());
  }
  if (!node.is_map()) node.fail(what + " (a file path) or an inline map");
  file = exp_file;
  prefix = inline_prefix;
  if (dir) *dir = exp_dir;
  return YAML::Clone(node.yaml());
}

std::string scalar_text(const YAML::Node& n) {
  if (n.IsScalar()) return n.Scalar();
  YAML::Emitter out;
  out << YAML::Flow << n;
  return out.c_str();
}

// Adds point context to a validation error: the consumer names its file and key, the sweep says which point.
[[noreturn]] void rethrow_for_point(const InputError& e, const Experiment& ex, const Point& p) {
  ErrorInfo info = e.info();
  // Resolved trees are copies whose line numbers mean nothing: the key path and the point say where.
  if (info.location.rfind("line ", 0) == 0) {
    const auto comma = info.location.find(", ");
    info.location = comma == std::string::npos ? "" : info.location.substr(comma + 2);
  }
  std::string params;
  for (const auto& [k, v] : p.params) params += (params.empty() ? "" : ", ") + k + "=" + scalar_text(v);
  info.location += (info.location.empty() ? "" : " ") +
                   fmt::format("(point {} of {}{})", p.id, ex.file, params.empty() ? "" : ": " + params);
  throw InputError(info);
}

ConfigNode node_at(const YAML::Node& tree, const std::string& file, const std::string& prefix) {
  return ConfigNode(tree, file, prefix);
}

// Fills what a point leaves to defaults, so its config.yaml is complete, then validates every part.
void resolve_and_validate(Experiment& ex, Point& p) {
  YAML::Node& t = p.tree;
  if (t["sim"]) {
    YAML::Node s = t["sim"];
    if (!s["data"]) {
      if (!t["train"] || !t["train"]["data"] || !t["train"]["data"]["test"])
        throw_input_error(ex.file, "sim", "sim.data (a dataset spec such as mnist:data/mnist:test)",
                          "neither sim.data nor a training recipe's data.test");
      s["data"] = YAML::Clone(t["train"]["data"]["test"]);
    }
    if (!s["seed"]) s["seed"] = t["train"] && t["train"]["seed"] ? YAML::Clone(t["train"]["seed"]) : YAML::Node(1);
    if (!s["trials"] && !s["ci"]) s["trials"] = 1;
    // The resolved hardware names its technology file absolutely, so config.yaml stands on its own.
    YAML::Node hw = s["hw"];
    if (hw.IsMap() && hw["technology"] && hw["technology"].IsScalar()) {
      const std::string given = hw["technology"].Scalar();
      const fs::path rel = fs::path(ex.hw_dir) / given;
      if (!fs::path(given).is_absolute() && !ex.hw_dir.empty() && file_exists(rel))
        hw["technology"] = fs::absolute(rel).lexically_normal().string();
    }
  }
  try {
    if (t["train"]) jobs::validate_train_config(node_at(t["train"], ex.train_file, ex.train_prefix));
    if (t["sim"]) {
      const ConfigNode s = node_at(t["sim"], ex.file, "sim");
      s.expect_keys({"model", "data", "hw", "schedule", "trials", "inferences", "seed", "ci", "max_trials"});
      if (t["train"] && s.has("model"))
        s.child("model").fail("no sim.model when the experiment trains (the point's trained network is simulated)");
      if (!t["train"]) {
        if (!s.has("model")) s.fail("sim.model (a deploy artifact) when the experiment has no train: section");
        const std::string model = s.str("model");
        if (!file_exists(model)) s.child("model").fail("a deploy artifact that exists", "'" + model + "'");
      }
      parse_data_spec(s.str("data"));
      s.integer("trials", 1, 1, 1000000);
      s.integer("inferences", 0, 0);
      s.integer("seed", 1, 0);
      s.integer("max_trials", 100, 2, 1000000);
      if (s.has("ci")) {
        const double ci = s.num("ci");
        if (!(ci > 0 && ci < 1)) s.child("ci").fail("a 95% CI half-width in (0, 1), e.g. 0.005", s.str("ci"));
        if (s.has("trials")) s.child("trials").fail("either sim.trials or sim.ci, not both");
      }
      sim_job(ex, p, "");
    }
  } catch (const InputError& e) {
    rethrow_for_point(e, ex, p);
  }
  p.hash = hash_text(to_yaml_text(t));
}

}  // namespace

std::string hash_text(const std::string& text) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return fmt::format("{:016x}", h);
}

nlohmann::json yaml_to_json(const YAML::Node& n) {
  if (!n || n.IsNull()) return nullptr;
  if (n.IsSequence()) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& e : n) a.push_back(yaml_to_json(e));
    return a;
  }
  if (n.IsMap()) {
    nlohmann::json o = nlohmann::json::object();
    for (const auto& kv : n) o[kv.first.as<std::string>()] = yaml_to_json(kv.second);
    return o;
  }
  const std::string s = n.Scalar();
  if (n.Tag() != "!") {  // unquoted: may be a number or a boolean
    std::int64_t i;
    double d;
    bool b;
    if (YAML::convert<std::int64_t>::decode(n, i)) return i;
    if (YAML::convert<double>::decode(n, d)) return d;
    if (YAML::convert<bool>::decode(n, b)) return b;
  }
  return s;
}

nlohmann::json params_json(const Point& p) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : p.params) j[k] = yaml_to_json(v);
  return j;
}

ConfigNode train_config(const Experiment& e, const TrainStage& stage) {
  return ConfigNode(stage.tree, e.train_file, e.train_prefix);
}

jobs::SimJob sim_job(const Experiment& e, const Point& p, const std::string& model) {
  const ConfigNode s(p.tree["sim"], e.file, "sim");
  jobs::SimJob job;
  job.model = model.empty() ? s.str("model", "") : model;
  job.data_spec = s.str("data");
  job.hw = sim::hardware_config_from(ConfigNode(p.tree["sim"]["hw"], e.hw_file, e.hw_prefix), e.hw_dir);
  job.schedule = sim::voltage_schedule_from(ConfigNode(p.tree["sim"]["schedule"], e.schedule_file, e.schedule_prefix));
  job.options.seed = std::uint64_t(s.integer("seed", 1, 0));
  job.options.trials = int(s.integer("trials", 1, 1));
  job.options.ci_half_width = s.has("ci") ? s.num("ci") : 0.0;
  job.options.max_trials = int(s.integer("max_trials", 100, 2));
  job.options.inferences = std::uint64_t(s.integer("inferences", 0, 0));
  job.command_line = "axsim sweep " + e.file + " (point " + p.id + ")";
  return job;
}

namespace {

// Far more than a sweep runs in practice (each point is a training and/or simulation run), few enough that
// expanding and validating them all stays fast.
constexpr std::size_t kMaxPoints = 10000;

// load_experiment and parse_experiment once the YAML is read.
Experiment experiment_from(const ConfigNode& root, const std::string& path, const std::vector<std::string>& overrides) {
  Experiment ex;
  ex.file = path;
  root.expect_map();
  root.expect_keys({"version", "name", "description", "seed", "train", "sim", "set", "grid", "points"});
  if (root.integer("version") != 1) root.child("version").fail("version: 1", root.str("version"));
  ex.name = root.str("name", fs::path(path).stem().string());
  const std::string exp_dir = fs::path(path).parent_path().string();
  if (!root.has("train") && !root.has("sim")) root.fail("a train: section, a sim: section or both", "neither");

  // The base tree every point starts from.
  YAML::Node base(YAML::NodeType::Map);
  if (auto t = root.maybe("train"))
    base["train"] = load_section(*t, path, exp_dir, "a training recipe", "train", ex.train_file, ex.train_prefix);
  ex.schedule_file = "<built-in nominal schedule>";
  if (auto s = root.maybe("sim")) {
    s->expect_map();
    s->expect_keys({"model", "data", "hw", "schedule", "trials", "inferences", "seed", "ci", "max_trials"});
    YAML::Node sim(YAML::NodeType::Map);
    for (const auto& [key, value] : s->entries()) {
      if (key == "hw" || key == "schedule") continue;
      if (key == "model") {
        sim["model"] = resolve_file(value, exp_dir, "a deploy artifact");
        continue;
      }
      sim[key] = YAML::Clone(value.yaml());
    }
    sim["hw"] = load_section(s->child("hw"), path, exp_dir, "a hardware config", "sim.hw", ex.hw_file, ex.hw_prefix,
                             &ex.hw_dir);
    if (auto sch = s->maybe("schedule")) {
      sim["schedule"] =
          load_section(*sch, path, exp_dir, "a voltage schedule", "sim.schedule", ex.schedule_file, ex.schedule_prefix);
    } else {
      YAML::Node nominal(YAML::NodeType::Map);
      nominal["version"] = 1;
      nominal["name"] = "nominal";
      sim["schedule"] = nominal;
    }
    base["sim"] = sim;
  }
  if (auto seed = root.maybe("seed")) set_path(base, "seed", seed->yaml(), Origin{path, seed->location()});
  if (auto set = root.maybe("set")) {
    set->expect_map();
    for (const auto& [key, value] : set->entries()) {
      const Origin origin{path, value.location()};
      expect_existing_key(base, canonical_key(key), origin, /*leaf_may_be_new=*/true);
      set_path(base, canonical_key(key), value.yaml(), origin);
    }
  }
  for (const auto& o : overrides) {
    const Override parsed = parse_override(o, "<command line>");
    const std::string key = canonical_key(parsed.path);
    const Origin origin{"<command line>", "-p " + o};
    expect_existing_key(base, key, origin, /*leaf_may_be_new=*/true);
    set_path(base, key, parsed.value, origin);
  }

  // Points: the explicit list (or one empty point) times the grid.
  using Params = std::vector<std::tuple<std::string, YAML::Node, ConfigNode>>;
  std::vector<Params> listed{Params{}};
  if (auto pts = root.maybe("points")) {
    if (!pts->is_sequence() || pts->items().empty()) pts->fail("a non-empty list of maps {key.path: value, ...}");
    if (pts->items().size() > kMaxPoints)
      pts->fail(fmt::format("at most {} points in an experiment (split it into several)", kMaxPoints),
                std::to_string(pts->items().size()) + " points");
    listed.clear();
    for (const auto& item : pts->items()) {
      if (!item.is_map()) item.fail("a map {key.path: value, ...}");
      Params ps;
      for (const auto& [key, value] : item.entries()) ps.emplace_back(canonical_key(key), value.yaml(), value);
      listed.push_back(std::move(ps));
    }
  }
  std::vector<Params> combos = listed;
  if (auto grid = root.maybe("grid")) {
    grid->expect_map();
    for (const auto& [key, values] : grid->entries()) {
      if (!values.is_sequence() || values.items().empty())
        values.fail("a non-empty list of values to sweep", values.is_scalar() ? "'" + values.as_str() + "'" : "");
      // Checked before the product is built: a few short lists (or YAML aliases of one list) multiply to
      // more points than memory holds, and every point is validated before anything runs.
      if (combos.size() * values.items().size() > kMaxPoints)
        values.fail(fmt::format("at most {} points in an experiment (split it into several)", kMaxPoints),
                    fmt::format("{} points (times these {} values)", combos.size() * values.items().size(),
                                values.items().size()));
      std::vector<Params> next;
      for (const auto& c : combos)
        for (const auto& v : values.items()) {
          Params ps = c;
          ps.emplace_back(canonical_key(key), v.yaml(), values);
          next.push_back(std::move(ps));
        }
      combos = std::move(next);
    }
  }

  std::map<std::string, int> train_by_hash;
  const int width = combos.size() > 1000 ? 4 : 3;
  for (std::size_t i = 0; i < combos.size(); ++i) {
    Point p;
    p.index = int(i);
    p.id = fmt::format("p{:0{}d}", i, width);
    p.tree = YAML::Clone(base);
    for (const auto& [key, value, where] : combos[i]) {
      const Origin origin{path, where.location()};
      expect_existing_key(base, key, origin);
      set_path(p.tree, key, value, origin);
      p.params.emplace_back(key, YAML::Clone(value));
    }
    resolve_and_validate(ex, p);
    p.simulate = bool(p.tree["sim"]);
    if (p.tree["train"]) {
      const std::string text = to_yaml_text(p.tree["train"]);
      const std::string h = hash_text(text);
      auto [it, fresh] = train_by_hash.emplace(h, int(ex.trains.size()));
      if (fresh) ex.trains.push_back(TrainStage{fmt::format("t{:0{}d}", ex.trains.size(), width), p.tree["train"], h});
      p.train = it->second;
    }
    ex.points.push_back(std::move(p));
  }
  return ex;
}

}  // namespace

Experiment load_experiment(const std::string& path, const std::vector<std::string>& overrides) {
  return experiment_from(ConfigNode::load_file(path), path, overrides);
}

Experiment parse_experiment(const std::string& text, const std::string& path,
                            const std::vector<std::string>& overrides) {
  return experiment_from(ConfigNode::parse(text, path), path, overrides);
}

}  // namespace axsim::sweep
