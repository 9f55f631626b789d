#include "tools/sweep/sweep_dir.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/atomic_file.hpp"
#include "core/error.hpp"

namespace axsim::sweep {

namespace fs = std::filesystem;

namespace {

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

nlohmann::json plan_json(const Experiment& ex) {
  nlohmann::json points = nlohmann::json::array();
  for (const auto& p : ex.points)
    points.push_back({{"point", p.id}, {"config_hash", p.hash}, {"params", params_json(p)}});
  return {{"experiment", ex.name}, {"file", ex.file}, {"points", points}};
}

void fsync_path(const fs::path& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// The first point whose id or configuration differs between two plans ("" when they agree).
std::string plan_difference(const nlohmann::json& was, const nlohmann::json& now) {
  const auto& a = was.at("points");
  const auto& b = now.at("points");
  for (std::size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    if (i >= a.size()) return fmt::format("a new point {}", b[i]["point"].get<std::string>());
    if (i >= b.size()) return fmt::format("point {} no longer in the experiment", a[i]["point"].get<std::string>());
    if (a[i]["config_hash"] != b[i]["config_hash"])
      return fmt::format(
          "point {} with a different resolved configuration (parameters now {}, before {}; a changed set:, -p, "
          "seed or base file changes it too)",
          b[i]["point"].get<std::string>(), b[i]["params"].dump(), a[i]["params"].dump());
  }
  return "";
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string csv_value(const nlohmann::json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return csv_field(v.get<std::string>());
  if (v.is_number_float()) return fmt::format("{:.9g}", v.get<double>());
  return csv_field(v.dump());
}

}  // namespace

SweepDir SweepDir::open(const std::string& root, const Experiment& ex) {
  SweepDir dir(root);
  const fs::path plan_path = fs::path(root) / "plan.json";
  const nlohmann::json plan = plan_json(ex);
  if (fs::exists(plan_path)) {
    const auto was = nlohmann::json::parse(read_all(plan_path), nullptr, false);
    if (was.is_discarded() || !was.contains("points"))
      throw_input_error(plan_path.string(), "", "a sweep plan written by axsim sweep", "unreadable JSON");
    const std::string diff = plan_difference(was, plan);
    if (!diff.empty())
      throw_input_error(plan_path.string(), "",
                        "the experiment this directory was started with (to resume; a changed experiment needs a new "
                        "-o directory)",
                        diff);
  } else if (fs::exists(root) && !fs::is_empty(root)) {
    throw_input_error(root, "", "a new or empty directory, or a sweep directory to resume (with plan.json)",
                      "a non-empty directory without plan.json");
  } else {
    ensure_directory(root);
    write_file_atomic(plan_path.string(), plan.dump(2) + "\n");
  }

  // The resume record: complete lines only. A last line without its newline is a write cut short by a kill;
  // it is dropped (and cut from the file, so the next append starts a fresh line).
  const fs::path results = fs::path(root) / "results.jsonl";
  if (fs::exists(results)) {
    const std::string text = read_all(results);
    const std::size_t complete = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
    std::set<std::string> known;
    std::map<std::string, std::string> hash_of;
    for (const auto& p : plan["points"]) hash_of[p["point"].get<std::string>()] = p["config_hash"].get<std::string>();
    std::size_t start = 0, line_no = 1;
    while (start < complete) {
      const std::size_t end = text.find('\n', start);
      const std::string line = text.substr(start, end - start);
      start = end + 1;
      if (!line.empty()) {
        const auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.contains("point") || !j["point"].is_string())
          throw_input_error(results.string(), fmt::format("line {}", line_no), "a JSON results line of axsim sweep",
                            "'" + line.substr(0, 60) + "'");
        const std::string id = j["point"].get<std::string>();
        if (!hash_of.count(id) || hash_of[id] != j.value("config_hash", ""))
          throw_input_error(results.string(), fmt::format("line {}", line_no), "results of the points in plan.json",
                            "point '" + id + "' with another configuration");
        dir.results_[id] = j;
      }
      ++line_no;
    }
    if (complete < text.size()) fs::resize_file(results, complete);
  }
  return dir;
}

SweepDir SweepDir::open_worker(const std::string& root) { return SweepDir(root); }

std::string SweepDir::train_dir(const TrainStage& stage) const {
  return (fs::path(root_) / "train" / stage.id).string();
}
std::string SweepDir::point_dir(const Point& p) const { return (fs::path(root_) / "points" / p.id).string(); }
std::string SweepDir::sim_dir(const Point& p) const { return (fs::path(point_dir(p)) / "sim").string(); }

bool SweepDir::train_finished(const TrainStage& stage) const {
  return fs::exists(fs::path(train_dir(stage)) / "done.json");
}

nlohmann::json SweepDir::train_done(const TrainStage& stage) const {
  const fs::path path = fs::path(train_dir(stage)) / "done.json";
  auto j = nlohmann::json::parse(read_all(path), nullptr, false);
  if (j.is_discarded() || !j.contains("summary"))
    throw_input_error(path.string(), "", "the summary of a finished training run", "unreadable JSON");
  return j;
}

nlohmann::json SweepDir::read_point_result(const Point& p) const {
  const fs::path path = fs::path(point_dir(p)) / "point.json";
  auto j = nlohmann::json::parse(read_all(path), nullptr, false);
  if (j.is_discarded() || !j.contains("result"))
    throw OutputError(path.string() + ": the point's worker finished without writing its result");
  return j["result"];
}

void SweepDir::append_result(const nlohmann::json& line) {
  const fs::path path = fs::path(root_) / "results.jsonl";
  const bool fresh = !fs::exists(path);
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw OutputError(path.string() + ": cannot open for appending: " + std::strerror(errno));
  const std::string text = line.dump() + "\n";
  std::size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      throw OutputError(path.string() + ": cannot append: " + why);
    }
    written += std::size_t(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0)
    throw OutputError(path.string() + ": cannot flush to disk: " + std::strerror(errno));
  if (fresh) fsync_path(root_, O_RDONLY | O_DIRECTORY);
  results_[line.at("point").get<std::string>()] = line;
}

void SweepDir::write_summary(const Experiment& ex) const {
  nlohmann::json points = nlohmann::json::array();
  for (const auto& p : ex.points)
    if (auto it = results_.find(p.id); it != results_.end()) points.push_back(it->second);
  write_file_atomic((fs::path(root_) / "results.json").string(),
                    nlohmann::json{{"experiment", ex.name}, {"points", points}}.dump(2) + "\n");

  // One row per point: its parameters, then the headline numbers (the rest is in results.json).
  std::vector<std::string> param_keys;
  for (const auto& p : ex.points)
    for (const auto& [k, v] : p.params)
      if (std::find(param_keys.begin(), param_keys.end(), k) == param_keys.end()) param_keys.push_back(k);
  const std::vector<std::pair<std::string, std::string>> metrics{{"train", "final_test_accuracy"},
                                                                 {"sim", "accuracy"},
                                                                 {"sim", "accuracy_ci95_half_width"},
                                                                 {"sim", "trials"},
                                                                 {"sim", "energy_per_inference_j"},
                                                                 {"sim", "cycles_per_inference"},
                                                                 {"sim", "latency_s"}};
  std::string csv = "point";
  for (const auto& k : param_keys) csv += "," + csv_field(k);
  for (const auto& [part, key] : metrics) csv += "," + part + "_" + key;
  csv += "\n";
  for (const auto& line : points) {
    csv += line["point"].get<std::string>();
    for (const auto& k : param_keys) csv += "," + (line["params"].contains(k) ? csv_value(line["params"][k]) : "");
    for (const auto& [part, key] : metrics)
      csv += "," + (line.contains(part) && line[part].contains(key) ? csv_value(line[part][key]) : "");
    csv += "\n";
  }
  write_file_atomic((fs::path(root_) / "results.csv").string(), csv);
}

std::string SweepDir::pack_bundle(const std::string& dir, const nlohmann::json& line) const {
  std::vector<fs::path> files, markers;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const std::string name = e.path().filename().string();
    if (name == "checkpoint.safetensors") continue;  // only needed to resume a training run in place
    (name == "done.json" || name == "point.json" ? markers : files).push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  files.insert(files.end(), markers.begin(), markers.end());
  nlohmann::json header{{"line", line}, {"files", nlohmann::json::array()}};
  std::string body;
  for (const auto& f : files) {
    const std::string content = read_all(f);
    header["files"].push_back({{"path", fs::relative(f, root_).string()}, {"size", content.size()}});
    body += content;
  }
  const std::string h = header.dump();
  const std::string length = fmt::format("{:016x}", h.size());
  return length + h + body;
}

nlohmann::json SweepDir::unpack_bundle(const std::string& bundle) const {
  const std::size_t header_size = std::stoull(bundle.substr(0, 16), nullptr, 16);
  const auto header = nlohmann::json::parse(bundle.substr(16, header_size));
  std::size_t offset = 16 + header_size;
  for (const auto& f : header["files"]) {
    const std::size_t size = f["size"].get<std::size_t>();
    const std::string content = bundle.substr(offset, size);
    offset += size;
    const fs::path target = fs::path(root_) / f["path"].get<std::string>();
    // On a shared file system the worker already wrote this very file.
    if (fs::exists(target) && fs::file_size(target) == size && read_all(target) == content) continue;
    ensure_directory(target.parent_path().string());
    write_file_atomic(target.string(), content);
  }
  return header["line"];
}

}  // namespace axsim::sweep
