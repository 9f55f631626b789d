#include "core/config.hpp"

#include <charconv>
#include <fstream>
#include <sstream>

#include "core/error.hpp"

namespace axsim {

namespace {

// A mapping key as text. YAML also allows lists and mappings as keys ("? [a, b]: 1"), which no axsim
// config uses; yaml-cpp's as<std::string>() would throw its own exception type for them.
std::string key_text(const YAML::Node& key, const std::string& file, const std::string& path) {
  if (key.IsScalar()) return key.Scalar();
  ConfigNode(key, file, path)
      .fail("a plain key (a name)", key.IsMap() ? "a mapping used as a key" : "a list used as a key");
}

}  // namespace

ConfigNode::ConfigNode(YAML::Node node, std::string file, std::string path)
    : node_(std::move(node)), file_(std::move(file)), path_(std::move(path)) {}

ConfigNode ConfigNode::load_file(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw_input_error(file, "", "a readable YAML file", "a file that cannot be opened");
  // Read in chunks up to a bound: a config naming a device (/dev/zero) or a huge file must be an error, not
  // a read that never ends. Pipes (process substitution) still work.
  constexpr std::size_t kMaxConfigBytes = std::size_t(64) << 20;
  std::string text;
  char chunk[1 << 16];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    text.append(chunk, std::size_t(in.gcount()));
    if (text.size() > kMaxConfigBytes)
      throw_input_error(file, "", "a YAML file of at most 64 MiB", "a larger file (or a device that never ends)");
  }
  return parse(text, file);
}

ConfigNode ConfigNode::parse(const std::string& text, const std::string& name) {
  try {
    return ConfigNode(YAML::Load(text), name, "");
  } catch (const YAML::Exception& e) {
    throw_input_error(name, "line " + std::to_string(e.mark.line + 1) + ", column " + std::to_string(e.mark.column + 1),
                      "valid YAML", e.msg);
  }
}

std::string ConfigNode::location() const {
  std::string s;
  if (node_ && !node_.Mark().is_null()) s = "line " + std::to_string(node_.Mark().line + 1);
  if (!path_.empty()) s += (s.empty() ? "" : ", ") + std::string("key ") + path_;
  return s;
}

void ConfigNode::fail(const std::string& expected, const std::string& found, const std::string& hint) const {
  throw_input_error(file_, location(), expected, found, hint);
}

std::string ConfigNode::child_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

bool ConfigNode::has(const std::string& key) const { return node_.IsMap() && node_[key] && !node_[key].IsNull(); }

void ConfigNode::expect_map() const {
  if (!node_.IsMap() && !node_.IsNull())
    fail("a mapping of keys to values", "a " + std::string(node_.IsSequence() ? "list" : "scalar"));
}

void ConfigNode::expect_keys(const std::vector<std::string>& allowed) const {
  expect_map();
  if (!node_.IsMap()) return;
  for (const auto& kv : node_) {
    const std::string key = key_text(kv.first, file_, path_);
    bool ok = false;
    for (const auto& a : allowed) ok = ok || key == a;
    if (!ok) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      ConfigNode at(kv.first, file_, child_path(key));
      at.fail("one of the keys {" + list + "}", "unknown key '" + key + "'", closest_match(key, allowed));
    }
  }
}

void ConfigNode::expect_keys(std::initializer_list<std::string_view> allowed) const {
  expect_keys(std::vector<std::string>(allowed.begin(), allowed.end()));
}

ConfigNode ConfigNode::child(const std::string& key) const {
  expect_map();
  if (!has(key)) fail("a required key '" + key + "'", "it missing");
  return ConfigNode(node_[key], file_, child_path(key));
}

std::optional<ConfigNode> ConfigNode::maybe(const std::string& key) const {
  expect_map();
  if (!has(key)) return std::nullopt;
  return ConfigNode(node_[key], file_, child_path(key));
}

std::vector<ConfigNode> ConfigNode::items() const {
  if (!node_.IsSequence()) fail("a list", node_.IsMap() ? "a mapping" : "'" + as_str() + "'");
  std::vector<ConfigNode> out;
  for (std::size_t i = 0; i < node_.size(); ++i)
    out.emplace_back(node_[i], file_, path_ + "[" + std::to_string(i) + "]");
  return out;
}

std::vector<std::pair<std::string, ConfigNode>> ConfigNode::entries() const {
  expect_map();
  std::vector<std::pair<std::string, ConfigNode>> out;
  if (!node_.IsMap()) return out;
  for (const auto& kv : node_) {
    const std::string key = key_text(kv.first, file_, path_);
    out.emplace_back(key, ConfigNode(kv.second, file_, child_path(key)));
  }
  return out;
}

std::string ConfigNode::as_str() const {
  if (!node_.IsScalar()) fail("a single value", node_.IsMap() ? "a mapping" : "a list");
  return node_.Scalar();
}

double ConfigNode::as_num() const {
  const std::string s = as_str();
  try {
    return parse_quantity(s, Dim::none);
  } catch (const UnitError& e) {
    fail(e.what());
  }
}

double ConfigNode::as_quantity(Dim dim) const {
  const std::string s = as_str();
  try {
    return parse_quantity(s, dim);
  } catch (const UnitError& e) {
    fail(e.what());
  }
}

std::string ConfigNode::str(const std::string& key) const { return child(key).as_str(); }
std::string ConfigNode::str(const std::string& key, const std::string& def) const {
  auto c = maybe(key);
  return c ? c->as_str() : def;
}
double ConfigNode::num(const std::string& key) const { return child(key).as_num(); }
double ConfigNode::num(const std::string& key, double def) const {
  auto c = maybe(key);
  return c ? c->as_num() : def;
}

std::int64_t ConfigNode::integer(const std::string& key, std::optional<std::int64_t> def, std::int64_t min,
                                 std::int64_t max) const {
  auto c = maybe(key);
  if (!c) {
    if (!def) child(key);  // throws "required"
    return *def;
  }
  const std::string s = c->as_str();
  // Decimal, or hexadecimal with 0x. Not C's base-0 rule, which would read "010" as octal 8.
  std::string_view digits = s;
  bool negative = false;
  if (!digits.empty() && (digits.front() == '-' || digits.front() == '+')) {
    negative = digits.front() == '-';
    digits.remove_prefix(1);
  }
  int base = 10;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    base = 16;
    digits.remove_prefix(2);
  }
  std::uint64_t magnitude = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
  if (digits.empty() || ec == std::errc::invalid_argument || end != digits.data() + digits.size())
    c->fail("an integer", "'" + s + "'");
  const std::uint64_t limit = negative ? std::uint64_t(INT64_MAX) + 1 : std::uint64_t(INT64_MAX);
  if (ec == std::errc::result_out_of_range || magnitude > limit)
    c->fail("an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]", "'" + s + "'");
  const std::int64_t v = negative ? std::int64_t(0 - magnitude) : std::int64_t(magnitude);
  if (v < min || v > max)
    c->fail("an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]", std::to_string(v));
  return v;
}

bool ConfigNode::boolean(const std::string& key, std::optional<bool> def) const {
  auto c = maybe(key);
  if (!c) {
    if (!def) child(key);
    return *def;
  }
  const std::string s = c->as_str();
  if (s == "true" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "no" || s == "off") return false;
  c->fail("true or false", "'" + s + "'");
}

double ConfigNode::quantity(const std::string& key, Dim dim, std::optional<double> def) const {
  auto c = maybe(key);
  if (!c) {
    if (!def) child(key);
    return *def;
  }
  return c->as_quantity(dim);
}

std::string ConfigNode::choice(const std::string& key, std::initializer_list<std::string_view> options,
                               std::optional<std::string> def) const {
  auto c = maybe(key);
  if (!c) {
    if (!def) child(key);
    return *def;
  }
  const std::string s = c->as_str();
  std::string list;
  for (auto o : options) {
    if (s == o) return s;
    list += (list.empty() ? "" : ", ") + std::string(o);
  }
  c->fail("one of {" + list + "}", "'" + s + "'", closest_match(s, options));
}

Override parse_override(const std::string& assignment, const std::string& origin) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw_input_error(origin, "'" + assignment + "'", "an override of the form key.path=value");
  Override result{assignment.substr(0, eq), {}};
  try {
    result.value = YAML::Load(assignment.substr(eq + 1));
  } catch (const YAML::Exception& e) {
    throw_input_error(origin, "'" + assignment + "'", "a YAML value after '='", e.msg);
  }
  return result;
}

void apply_override(YAML::Node& root, const std::string& assignment, const std::string& origin) {
  const auto [path, parsed] = parse_override(assignment, origin);
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const auto dot = path.find('.', start);
    parts.push_back(path.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  // yaml-cpp nodes are handles: walk with a vector of handles to avoid rebinding semantics.
  std::vector<YAML::Node> chain{root};
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    if (parts[i].empty()) throw_input_error(origin, "'" + assignment + "'", "a key path without empty parts");
    YAML::Node next = chain.back()[parts[i]];
    if (next.IsDefined() && !next.IsNull() && !next.IsMap())
      throw_input_error(origin, "'" + assignment + "'", "'" + parts[i] + "' to be a mapping", "a value");
    if (!next.IsDefined() || next.IsNull()) {
      chain.back()[parts[i]] = YAML::Node(YAML::NodeType::Map);
      next = chain.back()[parts[i]];
    }
    chain.push_back(next);
  }
  if (parts.back().empty()) throw_input_error(origin, "'" + assignment + "'", "a key path without empty parts");
  chain.back()[parts.back()] = parsed;
}

std::string to_yaml_text(const YAML::Node& node) {
  YAML::Emitter out;
  out << node;
  return std::string(out.c_str()) + "\n";
}

}  // namespace axsim
