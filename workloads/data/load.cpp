#include "workloads/data/load.hpp"

#include <algorithm>
#include <array>
#include <filesystem>

#include "core/error.hpp"
#include "workloads/data/arff.hpp"
#include "workloads/data/csv.hpp"
#include "workloads/data/idx.hpp"
#include "workloads/data/text_scan.hpp"

namespace axsim {
namespace {

namespace fs = std::filesystem;

constexpr std::array<const char*, 4> kFormats = {"mnist", "idx", "arff", "csv"};
const char* const kSpecFile = "<data spec>";
const char* const kSyntax = "mnist:DIR[:train|test], idx:IMAGES,LABELS, arff:PATH[:LABEL], csv:PATH[:LABEL] or a path";

[[noreturn]] void spec_error(const std::string& spec, const std::string& expected, const std::string& found,
                             const std::string& hint = {}) {
  throw_input_error(kSpecFile, "'" + spec + "'", expected, found, hint);
}

bool exists(const std::string& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

// "PATH" or "PATH:SUFFIX": the whole text when it names something that exists, else split at the last ':'.
std::pair<std::string, std::string> split_suffix(const std::string& rest) {
  const auto colon = rest.rfind(':');
  if (exists(rest) || colon == std::string::npos) return {rest, ""};
  return {rest.substr(0, colon), rest.substr(colon + 1)};
}

std::string format_from_path(const std::string& spec, const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return "mnist";
  std::string name = text::lower(fs::path(path).filename().string());
  if (name.size() > 3 && name.ends_with(".gz")) name.resize(name.size() - 3);
  if (name.ends_with(".arff")) return "arff";
  if (name.ends_with(".csv") || name.ends_with(".tsv") || name.ends_with(".txt")) return "csv";
  if (name.ends_with("-ubyte"))
    spec_error(spec, "an IDX pair as idx:IMAGES,LABELS (a single IDX file has no labels)", "one IDX file");
  spec_error(spec, kSyntax,
             exists(path) ? "a file whose format its name does not tell (.arff, .csv, .tsv, .txt)" : "no such file");
}

}  // namespace

DataSpec parse_data_spec(const std::string& spec) {
  DataSpec s;
  s.text = spec;
  if (spec.empty()) spec_error(spec, kSyntax, "an empty string");
  const auto colon = spec.find(':');
  const std::string prefix = colon == std::string::npos ? "" : text::lower(spec.substr(0, colon));
  const bool known = std::find(kFormats.begin(), kFormats.end(), prefix) != kFormats.end();
  if (!known) {
    // A bare path (possibly containing ':'), or a misspelt format.
    if (colon != std::string::npos && !exists(spec) && prefix.find('/') == std::string::npos && !prefix.empty())
      spec_error(spec, std::string("a format: ") + kSyntax, "'" + prefix + "'", closest_match(prefix, kFormats));
    s.format = format_from_path(spec, spec);
    s.paths = {spec};
    if (s.format == "mnist") s.split = "train";
    return s;
  }
  s.format = prefix;
  const std::string rest = spec.substr(colon + 1);
  if (rest.empty()) spec_error(spec, std::string("a path after '") + prefix + ":'", "nothing");
  if (s.format == "idx") {
    const auto comma = rest.find(',');
    if (comma == std::string::npos || comma == 0 || comma + 1 == rest.size() ||
        rest.find(',', comma + 1) != std::string::npos)
      spec_error(spec, "idx:IMAGES,LABELS (two paths separated by one comma)", "'" + rest + "'");
    s.paths = {rest.substr(0, comma), rest.substr(comma + 1)};
  } else if (s.format == "mnist") {
    auto [dir, split] = split_suffix(rest);
    if (split.empty()) split = "train";
    if (split != "train" && split != "test" && split != "t10k")
      spec_error(spec, "mnist:DIR[:train|test]", "split '" + split + "'",
                 closest_match(split, std::array<const char*, 2>{"train", "test"}));
    s.paths = {dir};
    s.split = split == "t10k" ? "test" : split;
  } else {
    auto [path, label] = split_suffix(rest);
    s.paths = {path};
    s.label = label;
  }
  return s;
}

Dataset load_dataset(const DataSpec& spec, const DataOptions& options) {
  DataOptions opts = options;
  if (!spec.label.empty()) opts.label = spec.label;
  if (spec.format == "mnist") return load_mnist_like(spec.paths.at(0), spec.split.empty() ? "train" : spec.split, opts);
  if (spec.format == "idx") return load_idx_pair(spec.paths.at(0), spec.paths.at(1), opts);
  if (spec.format == "arff") return load_arff(spec.paths.at(0), opts);
  if (spec.format == "csv") return load_csv(spec.paths.at(0), opts);
  spec_error(spec.text, std::string("a format: ") + kSyntax, "'" + spec.format + "'",
             closest_match(spec.format, kFormats));
}

Dataset load_dataset(const std::string& spec, const DataOptions& options) {
  return load_dataset(parse_data_spec(spec), options);
}

Dataset load_dataset_prefix(const std::string& spec, std::size_t limit) {
  Dataset d = load_dataset(spec);
  if (limit > 0 && limit < d.size) {
    d.features.resize(limit * d.feature_count());
    d.labels.resize(limit);
    d.size = limit;
  }
  return d;
}

}  // namespace axsim
