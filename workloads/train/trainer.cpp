#include "workloads/train/trainer.hpp"

#include <omp.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "workloads/artifact/deploy.hpp"
#include "workloads/artifact/safetensors.hpp"
#include "workloads/data/load.hpp"
#include "workloads/nn/loss.hpp"

namespace axsim::train {

namespace fs = std::filesystem;

std::atomic<bool>& stop_requested() {
  static std::atomic<bool> flag{false};
  return flag;
}

TrainConfig TrainConfig::from(const ConfigNode& root) {
  root.expect_keys({"version", "name", "seed", "data", "network", "training", "method", "deploy"});
  if (root.integer("version", 1, 1, 1) != 1) root.child("version").fail("version 1");
  TrainConfig c(root);
  c.name = root.str("name", "run");
  c.seed = std::uint64_t(root.integer("seed", 1, 0));
  const ConfigNode data = root.child("data");
  data.expect_keys({"train", "test", "limit_train", "limit_test"});
  c.train_data = data.str("train");
  c.test_data = data.str("test");
  c.limit_train = std::size_t(data.integer("limit_train", 0, 0));
  c.limit_test = std::size_t(data.integer("limit_test", 0, 0));
  root.child("network").expect_map();
  const ConfigNode t = root.child("training");
  t.expect_keys({"epochs", "batch_size", "eval_batch", "threads", "optimizer", "binary_connect", "augment"});
  c.epochs = int(t.integer("epochs", 1, 1, 100000));
  c.batch_size = int(t.integer("batch_size", 64, 1, 1 << 20));
  c.eval_batch = int(t.integer("eval_batch", 1000, 1, 1 << 20));
  c.threads = int(t.integer("threads", 0, 0, 1024));
  c.binary_connect = t.boolean("binary_connect", false);
  t.child("optimizer");
  if (auto a = t.maybe("augment")) {
    a->expect_keys({"crop_padding", "hflip"});
    c.crop_padding = int(a->integer("crop_padding", 0, 0, 64));
    c.hflip = a->boolean("hflip", false);
  }
  return c;
}

namespace {

// The configuration a checkpoint belongs to, without training.epochs: extending a finished run with
// more epochs (--resume -p training.epochs=N) is a resume of the same run.
std::string resumable_config_text(const ConfigNode& root) {
  YAML::Node copy = YAML::Clone(root.yaml());
  if (copy["training"] && copy["training"].IsMap()) copy["training"].remove("epochs");
  return to_yaml_text(copy);
}

nn::Shape to_shape(const std::vector<std::size_t>& s) { return nn::Shape(s.begin(), s.end()); }

// One train.json epoch record (also the checkpoint's history): the method's fields plus the loop's.
nlohmann::json epoch_json(const EpochRecord& e) {
  nlohmann::json r = e.extra;
  r["epoch"] = e.epoch;
  r["train_loss"] = e.train_loss;
  r["train_accuracy"] = e.train_accuracy;
  r["test_accuracy"] = e.test_accuracy;
  r["lr"] = e.lr;
  r["samples_per_s"] = e.samples_per_s;
  r["seconds"] = e.seconds;
  return r;
}

}  // namespace

Trainer::Trainer(TrainConfig config) : cfg_(std::move(config)) {
  if (cfg_.threads > 0) omp_set_num_threads(cfg_.threads);
  train_ = load_dataset_prefix(cfg_.train_data, cfg_.limit_train);
  test_ = load_dataset_prefix(cfg_.test_data, cfg_.limit_test);
  if (train_.sample_shape != test_.sample_shape)
    throw_input_error(cfg_.test_data, "", "test samples shaped like the training samples",
                      std::to_string(test_.feature_count()) + " features vs " + std::to_string(train_.feature_count()));
  const int classes = std::max(train_.num_classes, test_.num_classes);
  net_ = std::make_unique<nn::Network>(
      nn::parse_network(cfg_.root.child("network"), to_shape(train_.sample_shape), classes));
  net_->initialize(cfg_.seed);
  const ConfigNode opt = cfg_.root.child("training").child("optimizer");
  opt_ = nn::make_optimizer(opt);
  schedule_ = nn::parse_schedule(opt);
  auto m = cfg_.root.maybe("method");
  method_ = make_method(m ? &*m : nullptr);
  if ((cfg_.crop_padding > 0 || cfg_.hflip) && train_.sample_shape.size() != 3)
    cfg_.root.child("training").child("augment").fail("image data (C, H, W) for crop/flip augmentation");
}

Trainer::~Trainer() = default;

void Trainer::gather_batch(const std::vector<std::size_t>& order, std::size_t begin, int n, int epoch) {
  nn::Shape shape{n};
  for (auto d : train_.sample_shape) shape.push_back(int(d));
  batch_x_.resize(shape);
  batch_y_.resize(std::size_t(n));
  const std::size_t f = train_.feature_count();
  const bool augment = cfg_.crop_padding > 0 || cfg_.hflip;
  for (int i = 0; i < n; ++i) {
    const std::size_t idx = order[begin + std::size_t(i)];
    batch_y_[std::size_t(i)] = train_.labels[idx];
    const float* src = train_.features.data() + idx * f;
    float* dst = batch_x_.data() + std::size_t(i) * f;
    if (!augment) {
      std::copy_n(src, f, dst);
      continue;
    }
    // Zero-pad by P, crop back at a random offset in [0, 2P], optionally mirror: per (epoch, sample).
    CounterRng rng(cfg_.seed, stream_id({0xA06u, std::uint64_t(epoch), idx}));
    const int c = shape[1], h = shape[2], w = shape[3], pad = cfg_.crop_padding;
    const int dy = pad ? int(rng.below(std::uint64_t(2 * pad + 1))) - pad : 0;
    const int dx = pad ? int(rng.below(std::uint64_t(2 * pad + 1))) - pad : 0;
    const bool flip = cfg_.hflip && rng.uniform() < 0.5;
    for (int ch = 0; ch < c; ++ch)
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
          const int sy = y + dy, sx0 = x + dx;
          const int sx = flip ? (w - 1 - sx0) : sx0;
          const bool inside = sy >= 0 && sy < h && sx0 >= 0 && sx0 < w;
          dst[(ch * h + y) * w + x] = inside ? src[(ch * h + sy) * w + sx] : 0.0f;
        }
  }
}

void Trainer::binarize_weights() {
  for (nn::Layer* l : net_->weight_layers())
    for (nn::Parameter* p : l->parameters()) {
      if (!p->is_weight) continue;
      p->forward_value.resize(p->value.shape());
      const float* w = p->value.data();
      float* b = p->forward_value.data();
      for (std::size_t i = 0; i < p->value.size(); ++i) b[i] = w[i] >= 0.0f ? 1.0f : -1.0f;
      p->use_forward_value = true;
    }
}

double Trainer::evaluate(const Dataset& data) {
  if (cfg_.binary_connect) binarize_weights();
  nn::Shape shape{0};
  for (auto d : data.sample_shape) shape.push_back(int(d));
  nn::Tensor x;
  std::size_t correct = 0;
  const std::size_t f = data.feature_count();
  nn::ForwardContext ctx;
  for (std::size_t b = 0; b < data.size; b += std::size_t(cfg_.eval_batch)) {
    const int n = int(std::min<std::size_t>(std::size_t(cfg_.eval_batch), data.size - b));
    shape[0] = n;
    x.resize(shape);
    std::copy_n(data.features.data() + b * f, std::size_t(n) * f, x.data());
    correct += std::size_t(nn::count_correct(net_->forward(x, ctx), data.labels.data() + b));
  }
  return data.size ? double(correct) / double(data.size) : 0.0;
}

void Trainer::save_checkpoint(const std::string& path, int epochs_done, std::uint64_t step) {
  artifact::SafetensorsWriter w;
  for (auto* p : net_->parameters())
    w.add("param/" + p->name, {std::int64_t(p->value.size())}, std::span<const float>(p->value.vec()));
  for (auto& [name, t] : net_->buffers())
    w.add("buffer/" + name, {std::int64_t(t->size())}, std::span<const float>(t->vec()));
  for (auto& [name, v] : opt_->state())
    w.add("optimizer/" + name, {std::int64_t(v->size())}, std::span<const float>(*v));
  for (auto& [name, v] : method_->state())
    w.add("method/" + name, {std::int64_t(v->size())}, std::span<const float>(*v));
  nlohmann::json hist = nlohmann::json::array();
  for (const auto& e : history_) hist.push_back(epoch_json(e));
  w.set_metadata("axsim.checkpoint.epochs_done", std::to_string(epochs_done));
  w.set_metadata("axsim.checkpoint.step", std::to_string(step));
  w.set_metadata("axsim.checkpoint.optimizer_steps", std::to_string(opt_->steps()));
  w.set_metadata("axsim.checkpoint.history", hist.dump());
  w.set_metadata("axsim.checkpoint.config", resumable_config_text(cfg_.root));
  w.set_metadata("axsim.checkpoint.wall_seconds", std::to_string(wall_seconds_));
  w.write(path);
}

bool Trainer::load_checkpoint(const std::string& path, int& epochs_done, std::uint64_t& step) {
  if (!fs::exists(path)) return false;
  const auto f = artifact::SafetensorsFile::load(path);
  if (f.metadata_value("axsim.checkpoint.config") != resumable_config_text(cfg_.root))
    throw_input_error(path, "metadata axsim.checkpoint.config", "a checkpoint of the same configuration",
                      "a different configuration (start a new run directory, or drop --resume)");
  auto restore = [&](const std::string& name, std::vector<float>& dst) {
    const auto v = f.tensor(name).as_float();
    if (v.size() != dst.size())
      throw_input_error(path, "tensor " + name, std::to_string(dst.size()) + " values", std::to_string(v.size()));
    dst = v;
  };
  opt_->bind(net_->parameters());
  for (auto* p : net_->parameters()) restore("param/" + p->name, p->value.vec());
  for (auto& [name, t] : net_->buffers()) restore("buffer/" + name, t->vec());
  for (auto& [name, v] : opt_->state()) restore("optimizer/" + name, *v);
  for (auto& [name, v] : method_->state()) restore("method/" + name, *v);
  epochs_done = std::stoi(f.metadata_value("axsim.checkpoint.epochs_done"));
  step = std::stoull(f.metadata_value("axsim.checkpoint.step"));
  opt_->set_steps(std::stol(f.metadata_value("axsim.checkpoint.optimizer_steps")));
  wall_seconds_ = std::stod(f.metadata_value("axsim.checkpoint.wall_seconds"));
  history_.clear();
  for (const auto& r : nlohmann::json::parse(f.metadata_value("axsim.checkpoint.history"))) {
    EpochRecord e;
    e.epoch = r["epoch"];
    e.train_loss = r["train_loss"];
    e.train_accuracy = r["train_accuracy"];
    e.test_accuracy = r["test_accuracy"];
    e.lr = r["lr"];
    e.samples_per_s = r["samples_per_s"];
    e.seconds = r["seconds"];
    e.extra = r;
    for (const char* k : {"epoch", "train_loss", "train_accuracy", "test_accuracy", "lr", "samples_per_s", "seconds"})
      e.extra.erase(k);
    history_.push_back(e);
  }
  return true;
}

nlohmann::json Trainer::train_json() const {
  nlohmann::json j;
  j["name"] = cfg_.name;
  j["seed"] = cfg_.seed;
  j["threads"] = omp_get_max_threads();
  j["network"] = net_->spec().name;
  j["parameters"] = const_cast<nn::Network&>(*net_).parameter_count();
  j["macs_per_sample"] = net_->macs_per_sample();
  j["method"] = method_->name();
  j["binary_connect"] = cfg_.binary_connect;
  j["train_samples"] = train_.size;
  j["test_samples"] = test_.size;
  j["epochs"] = nlohmann::json::array();
  for (const auto& e : history_) j["epochs"].push_back(epoch_json(e));
  j["final_test_accuracy"] = history_.empty() ? 0.0 : history_.back().test_accuracy;
  j["wall_seconds"] = wall_seconds_;
  return j;
}

bool Trainer::run(const std::string& out_dir, bool resume, const ProgressFn& progress) {
  ensure_directory(out_dir);
  const std::string ckpt = (fs::path(out_dir) / "checkpoint.safetensors").string();
  int start_epoch = 0;
  std::uint64_t step = 0;
  method_->attach(*net_);
  const auto params = net_->parameters();
  opt_->bind(params);
  if (resume) load_checkpoint(ckpt, start_epoch, step);
  write_file_atomic((fs::path(out_dir) / "config.yaml").string(), to_yaml_text(cfg_.root.yaml()));
  const int n = int(train_.size);
  const int batches = (n + cfg_.batch_size - 1) / cfg_.batch_size;
  for (int epoch = start_epoch; epoch < cfg_.epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    const float lr = schedule_.at(epoch, cfg_.epochs);
    const auto order = shuffled_indices(train_.size, cfg_.seed, std::uint64_t(epoch));
    double loss_sum = 0;
    std::size_t correct = 0, seen = 0;
    BatchContext bctx{cfg_.seed, epoch, cfg_.epochs, step, 0, batches, lr};
    for (int b = 0; b < batches; ++b) {
      if (stop_requested()) return false;
      const int bn = std::min(cfg_.batch_size, n - b * cfg_.batch_size);
      gather_batch(order, std::size_t(b) * std::size_t(cfg_.batch_size), bn, epoch);
      bctx.step = step;
      bctx.batch_in_epoch = b;
      bctx.inputs = &batch_x_, bctx.labels = batch_y_.data();  // for methods that rerun the batch (AxTrain-act)
      if (cfg_.binary_connect) binarize_weights();
      method_->before_batch(*net_, bctx);
      nn::ForwardContext fctx{true, cfg_.seed, step, 0};
      const nn::Tensor& logits = net_->forward(batch_x_, fctx);
      const nn::LossResult lr_res = nn::softmax_cross_entropy(logits, batch_y_.data(), dlogits_);
      net_->backward(dlogits_);
      method_->after_backward(*net_, bctx, lr_res.loss);
      opt_->step(params, lr);
      if (cfg_.binary_connect)  // BinaryConnect keeps the real weights in [-1, 1]
        for (nn::Parameter* p : params)
          if (p->is_weight)
            for (auto& v : p->value.vec()) v = std::clamp(v, -1.0f, 1.0f);
      loss_sum += lr_res.loss * bn;
      correct += std::size_t(lr_res.correct);
      seen += std::size_t(bn);
      ++step;
      if (progress) progress(epoch, b + 1, batches, loss_sum / double(seen));
    }
    const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EpochRecord rec;
    rec.epoch = epoch + 1;
    rec.train_loss = loss_sum / double(seen);
    rec.train_accuracy = double(correct) / double(seen);
    rec.lr = lr;
    rec.samples_per_s = double(seen) / train_seconds;
    rec.extra = nlohmann::json::object();
    bctx.step = step;
    method_->end_epoch(*net_, bctx, rec.extra);
    rec.test_accuracy = evaluate(test_);
    rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    wall_seconds_ += rec.seconds;
    history_.push_back(rec);
    save_checkpoint(ckpt, epoch + 1, step);
    write_file_atomic((fs::path(out_dir) / "train.json").string(), train_json().dump(2) + "\n");
  }
  if (cfg_.binary_connect) binarize_weights();
  artifact::TrainedModelInfo info;
  info.binary_connect = cfg_.binary_connect;
  info.training = train_json();
  info.hardware = method_->hardware_assignment(*net_);
  info.feature_scaling = train_.feature_scaling;
  info.calibration = &train_;  // the artifact stores the quantized network, calibrated on training data
  artifact::save_trained_model((fs::path(out_dir) / "model.safetensors").string(), *net_, info);
  write_file_atomic((fs::path(out_dir) / "train.json").string(), train_json().dump(2) + "\n");
  return true;
}

}  // namespace axsim::train
