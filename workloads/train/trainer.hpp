// The training loop: data, network, optimizer, schedule, augmentation, BinaryConnect, a hardware-aware
// method plug-in, per-epoch evaluation, checkpoints (resumable) and the deploy artifact.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "core/config.hpp"
#include "workloads/data/dataset.hpp"
#include "workloads/nn/network.hpp"
#include "workloads/nn/optimizer.hpp"
#include "workloads/train/method.hpp"

namespace axsim::train {

struct TrainConfig {
  explicit TrainConfig(ConfigNode whole) : root(std::move(whole)) {}
  ConfigNode root;  // the whole (overridden) config, kept for config.yaml and checkpoints
  std::string name;
  std::uint64_t seed = 1;
  std::string train_data, test_data;
  std::size_t limit_train = 0, limit_test = 0;  // 0 = all samples
  int epochs = 1;
  int batch_size = 64;
  int eval_batch = 1000;
  int threads = 0;  // 0 = OpenMP default
  bool binary_connect = false;
  int crop_padding = 0;  // augmentation: zero-pad then random crop back to size
  bool hflip = false;    // augmentation: random horizontal flip

  static TrainConfig from(const ConfigNode& root);
};

struct EpochRecord {
  int epoch = 0;  // 1-based in train.json
  double train_loss = 0, train_accuracy = 0, test_accuracy = 0, lr = 0, samples_per_s = 0, seconds = 0;
  nlohmann::json extra;  // method fields (per-layer p, energy...)
};

// Set from a SIGINT handler: the loop stops after the current mini-batch; the last completed
// checkpoint stays intact.
std::atomic<bool>& stop_requested();

using ProgressFn = std::function<void(int epoch, int batch, int batches, double running_loss)>;

class Trainer {
 public:
  explicit Trainer(TrainConfig config);
  ~Trainer();

  // Trains into out_dir (model.safetensors, train.json, config.yaml, checkpoint.safetensors).
  // Returns false if interrupted (stop_requested) before finishing.
  bool run(const std::string& out_dir, bool resume, const ProgressFn& progress = {});

  nn::Network& network() { return *net_; }
  const Dataset& train_set() const { return train_; }
  const Dataset& test_set() const { return test_; }
  double evaluate(const Dataset& data);  // float accuracy with the real (or binarized) weights
  const std::vector<EpochRecord>& history() const { return history_; }

 private:
  void gather_batch(const std::vector<std::size_t>& order, std::size_t begin, int n, int epoch);
  void binarize_weights();
  void save_checkpoint(const std::string& path, int epochs_done, std::uint64_t step);
  bool load_checkpoint(const std::string& path, int& epochs_done, std::uint64_t& step);
  nlohmann::json train_json() const;

  TrainConfig cfg_;
  Dataset train_, test_;
  std::unique_ptr<nn::Network> net_;
  std::unique_ptr<nn::Optimizer> opt_;
  nn::LrSchedule schedule_;
  std::unique_ptr<TrainingMethod> method_;
  std::vector<EpochRecord> history_;
  nn::Tensor batch_x_, dlogits_;
  std::vector<std::int32_t> batch_y_;
  double wall_seconds_ = 0;
};

}  // namespace axsim::train
