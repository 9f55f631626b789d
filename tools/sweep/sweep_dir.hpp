// The sweep directory and its resume record (layout: runner.hpp). Only the process that owns the directory
// (the local sweep, or MPI rank 0) opens it with open(): it checks that the directory belongs to the same
// experiment and reads which points are finished; workers use open_worker() for the paths alone.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "tools/sweep/experiment.hpp"

namespace axsim::sweep {

class SweepDir {
 public:
  // Creates the directory (or reopens one started with the same plan) and reads results.jsonl; a torn last
  // line (a write cut by a kill) is dropped. Throws InputError for a directory of another experiment or a
  // non-empty directory that is not a sweep, OutputError when it cannot be written.
  static SweepDir open(const std::string& root, const Experiment& experiment);
  static SweepDir open_worker(const std::string& root);

  const std::string& root() const { return root_; }
  std::string train_dir(const TrainStage& stage) const;
  std::string point_dir(const Point& point) const;
  std::string sim_dir(const Point& point) const;

  bool finished(const std::string& point_id) const { return results_.count(point_id) > 0; }
  bool train_finished(const TrainStage& stage) const;          // its done.json exists
  nlohmann::json train_done(const TrainStage& stage) const;    // done.json: {summary, wall_seconds}
  nlohmann::json read_point_result(const Point& point) const;  // point.json's results line

  // Appends one line to results.jsonl and fsyncs it: from then on the point is finished.
  void append_result(const nlohmann::json& line);
  // results.json (every line in point order) and results.csv (one row per point), atomically.
  void write_summary(const Experiment& experiment) const;

  // Files of a finished task (a point or training directory, without checkpoints) and its results line (null
  // for training), as one message for MPI rank 0; unpack writes the files it does not already have (markers
  // last) and returns the line.
  std::string pack_bundle(const std::string& dir, const nlohmann::json& line) const;
  nlohmann::json unpack_bundle(const std::string& bundle) const;

 private:
  explicit SweepDir(std::string root) : root_(std::move(root)) {}
  std::string root_;
  std::map<std::string, nlohmann::json> results_;  // point id -> results line
};

}  // namespace axsim::sweep
