// Strict YAML access for every config axsim reads. Each value read through a ConfigNode knows the
// file and key path it came from, so an error says exactly where the problem is; expect_keys()
// rejects unknown or misspelled keys and names the closest valid key.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/units.hpp"

namespace axsim {

class ConfigNode {
 public:
  ConfigNode(YAML::Node node, std::string file, std::string path);

  static ConfigNode load_file(const std::string& file);  // throws InputError on I/O or syntax errors
  static ConfigNode parse(const std::string& text, const std::string& name);

  const YAML::Node& yaml() const { return node_; }
  const std::string& file() const { return file_; }
  const std::string& path() const { return path_; }  // "hw.pe_array.rows" ("" for the root)
  std::string location() const;                      // "line 12, key hw.pe_array.rows"

  bool is_map() const { return node_.IsMap(); }
  bool is_sequence() const { return node_.IsSequence(); }
  bool is_scalar() const { return node_.IsScalar(); }
  bool has(const std::string& key) const;

  // Every key of this map must be in `allowed`; the node must be a map (or absent/null).
  void expect_keys(std::initializer_list<std::string_view> allowed) const;
  void expect_keys(const std::vector<std::string>& allowed) const;
  void expect_map() const;

  ConfigNode child(const std::string& key) const;  // required
  std::optional<ConfigNode> maybe(const std::string& key) const;
  std::vector<ConfigNode> items() const;                            // sequence elements
  std::vector<std::pair<std::string, ConfigNode>> entries() const;  // map entries in file order

  // Scalars. Without a default the key is required.
  std::string str(const std::string& key) const;
  std::string str(const std::string& key, const std::string& def) const;
  double num(const std::string& key) const;
  double num(const std::string& key, double def) const;
  std::int64_t integer(const std::string& key, std::optional<std::int64_t> def = std::nullopt,
                       std::int64_t min = INT64_MIN, std::int64_t max = INT64_MAX) const;
  bool boolean(const std::string& key, std::optional<bool> def = std::nullopt) const;
  double quantity(const std::string& key, Dim dim, std::optional<double> def = std::nullopt) const;
  std::string choice(const std::string& key, std::initializer_list<std::string_view> options,
                     std::optional<std::string> def = std::nullopt) const;

  // This node as a scalar.
  std::string as_str() const;
  double as_num() const;
  double as_quantity(Dim dim) const;

  [[noreturn]] void fail(const std::string& expected, const std::string& found = {},
                         const std::string& hint = {}) const;

 private:
  std::string child_path(const std::string& key) const;
  YAML::Node node_;
  std::string file_;
  std::string path_;
};

// Apply "-p key.path=value" overrides to a YAML tree (creating maps along the path). The consumer's
// strict key checks then catch misspelled paths. The value is parsed as YAML ("[1,2]", "0.6V", "true").
void apply_override(YAML::Node& root, const std::string& assignment, const std::string& origin = "-p");

// The split and YAML parse of one "key.path=value" assignment, for consumers that place the value
// themselves (experiments check the path against their base config first).
struct Override {
  std::string path;  // "key.path", as written
  YAML::Node value;  // the parsed YAML value
};
Override parse_override(const std::string& assignment, const std::string& origin = "-p");

// Emit a YAML tree as text (for the fully resolved config.yaml of a run).
std::string to_yaml_text(const YAML::Node& node);

}  // namespace axsim
