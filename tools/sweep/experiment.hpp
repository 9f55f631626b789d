// Experiment files (configs/experiments/*.yaml): a base training recipe and/or simulation setup, fixed
// overrides, and a grid (cartesian product) or list of points over key paths of the resolved configuration.
//
//   version: 1
//   name: erasure-voltage
//   seed: 1                               # optional: sets train.seed and sim.seed
//   train: ../train/mlp-mnist.yaml        # recipe file (relative to this file) or an inline recipe map
//   sim:                                  # optional: simulate every point's network
//     model: run/model.safetensors        # only without train: (else the point's trained artifact)
//     hw: ../hw/flexflow-16x16.yaml       # file or inline map
//     schedule: ../schedules/nominal.yaml # file or inline map (default: nominal)
//     data: mnist:data/mnist:test         # default: the recipe's data.test
//     trials: 2                           # or ci: 0.005 (+ max_trials)
//     inferences: 1000                    # first N inputs (default: all)
//   set:                                  # fixed overrides for every point (key path -> value)
//     train.training.epochs: 2
//   grid:                                 # every combination (last key varies fastest)
//     train.method.p: [0.005, 0.01]
//     schedule.domains.weight_sram.0.voltage: [0.7V, 0.66V]
//   points:                               # and/or an explicit list (each combined with the grid)
//     - {train.method.p: 0.02}
//
// Key paths address the resolved tree {train: <recipe>, sim: {..., hw: <hw>, schedule: <schedule>}}:
// "train.method.alpha", "sim.hw.pe_array.rows" (shorthand "hw.pe_array.rows"), "sim.schedule.domains.
// weight_sram.0.voltage" (shorthand "schedule...."; integers index sequences), "sim.trials", and "seed" (both
// seeds). A grid or points key must exist in the base configuration (after set: and -p): an unknown key is an
// InputError naming the experiment file, the line and the closest existing key. Every point is validated
// (recipe, hardware, schedule, sim options) before anything runs. At most 10000 points (points x grid): more is
// an InputError at the list that crosses the bound, before the product is built.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <utility>
#include <vector>

#include "core/config.hpp"
#include "tools/sweep/jobs.hpp"

namespace axsim::sweep {

struct TrainStage {
  std::string id;    // "t000": training recipes shared by several points run once
  YAML::Node tree;   // the whole resolved recipe
  std::string hash;  // of the recipe text
};

struct Point {
  int index = 0;
  std::string id;                                          // "p003"
  std::vector<std::pair<std::string, YAML::Node>> params;  // swept key path -> value, in file order
  YAML::Node tree;                                         // resolved {seed, train, sim}: the point's config.yaml
  std::string hash;                                        // of the resolved tree's text
  int train = -1;                                          // index into Experiment::trains, -1 without training
  bool simulate = false;
};

struct Experiment {
  std::string file, name;
  // Where each part of the resolved tree came from, for error messages: the recipe/hardware/schedule file
  // with an empty key prefix, or the experiment file with prefix "train" / "sim.hw" / "sim.schedule" when inline.
  std::string train_file, train_prefix;
  std::string hw_file, hw_prefix, hw_dir;
  std::string schedule_file, schedule_prefix;
  std::vector<TrainStage> trains;
  std::vector<Point> points;
};

// Loads, expands and validates an experiment; `overrides` are "-p key.path=value" on the resolved tree.
// Throws InputError (file, line, key) before anything runs.
Experiment load_experiment(const std::string& path, const std::vector<std::string>& overrides);
// The same from the experiment's text: `path` names it in messages and its directory is where relative file
// names resolve first (the file itself need not exist). What the experiment fuzz target calls.
Experiment parse_experiment(const std::string& text, const std::string& path,
                            const std::vector<std::string>& overrides);

// The recipe of a training stage as the trainer reads it (errors name the recipe file).
ConfigNode train_config(const Experiment& e, const TrainStage& stage);

// The simulation job of a point; `model` is the deploy artifact to simulate.
jobs::SimJob sim_job(const Experiment& e, const Point& p, const std::string& model);

// The point's parameters as JSON ({"train.method.p": 0.01, ...}).
nlohmann::json params_json(const Point& p);

// A YAML scalar/sequence/map as JSON (numbers and booleans typed, the rest strings).
nlohmann::json yaml_to_json(const YAML::Node& node);

std::string hash_text(const std::string& text);  // 16 hex digits (FNV-1a 64)

}  // namespace axsim::sweep
