// `axsim train CONFIG.yaml -o RUN_DIR`: train a network (optionally with a hardware-aware method)
// and write the deploy artifact. The work is jobs::run_train, which sweeps call in-process.
#include <fmt/format.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "core/config.hpp"
#include "core/error.hpp"
#include "tools/cli/command.hpp"
#include "tools/cli/progress.hpp"
#include "tools/sweep/jobs.hpp"
#include "workloads/nn/optimizer.hpp"
#include "workloads/train/trainer.hpp"

namespace axsim::cli {

ConfigNode load_config_with_overrides(const std::string& path, const std::vector<std::string>& overrides) {
  ConfigNode base = ConfigNode::load_file(path);
  YAML::Node root = YAML::Clone(base.yaml());
  for (const auto& o : overrides) apply_override(root, o, "-p " + o);
  return ConfigNode(root, path, "");
}

namespace {

extern "C" void on_sigint(int) { train::stop_requested() = true; }

int cmd_train(const std::vector<std::string>& args) {
  po::options_description o("options");
  std::string config, out;
  std::vector<std::string> overrides;
  bool resume = false, quiet = false;
  o.add_options()("config", po::value(&config), "training YAML (configs/train/...)")(
      "output,o", po::value(&out), "run directory (model.safetensors, train.json, config.yaml, checkpoint)")(
      "param,p", po::value(&overrides)->composing(), "override a config value: -p training.epochs=3 (repeatable)")(
      "resume", po::bool_switch(&resume), "continue from RUN_DIR/checkpoint.safetensors")(
      "quiet,q", po::bool_switch(&quiet), "no progress output");
  po::positional_options_description pos;
  pos.add("config", 1);
  po::variables_map vm;
  if (parse_options("train", "CONFIG.yaml -o RUN_DIR [-p key=value]... [--resume]", o, args, vm, &pos)) return kOk;
  if (config.empty())
    throw_input_error("<command line>", "axsim train", "a training config file (axsim train CONFIG.yaml -o RUN_DIR)");
  if (out.empty()) throw_input_error("<command line>", "axsim train", "an output run directory (-o RUN_DIR)");
  const ConfigNode root = load_config_with_overrides(config, overrides);
  std::signal(SIGINT, on_sigint);
  const jobs::TrainOutcome outcome = jobs::run_train(root, out, jobs::TrainOptions{resume, quiet, 0});
  std::signal(SIGINT, SIG_DFL);
  if (!outcome.completed) {
    std::cerr << "axsim train: interrupted; the last completed epoch's checkpoint is in " << out
              << " (continue with --resume)\n";
    return kInterrupted;
  }
  std::cout << outcome.model_path << "\n";
  return kOk;
}

}  // namespace

}  // namespace axsim::cli

namespace axsim::jobs {

void validate_train_config(const ConfigNode& config) {
  const train::TrainConfig parsed = train::TrainConfig::from(config);
  const ConfigNode optimizer = config.child("training").child("optimizer");
  nn::make_optimizer(optimizer);
  nn::parse_schedule(optimizer);
  const auto method = config.maybe("method");
  train::make_method(method ? &*method : nullptr);
}

TrainOutcome run_train(const ConfigNode& config, const std::string& out_dir, const TrainOptions& options) {
  YAML::Node tree = YAML::Clone(config.yaml());
  if (options.threads > 0) {
    if (!tree["training"] || !tree["training"].IsMap()) config.child("training").expect_map();
    tree["training"]["threads"] = options.threads;
  }
  train::Trainer trainer(train::TrainConfig::from(ConfigNode(tree, config.file(), config.path())));
  const bool quiet = options.quiet;
  const auto& spec = trainer.network().spec();
  if (!quiet)
    std::cerr << fmt::format("axsim train: {} ({} parameters) on {} training / {} test samples\n", spec.name,
                             trainer.network().parameter_count(), trainer.train_set().size, trainer.test_set().size);
  std::unique_ptr<cli::Progress> bar;
  int bar_epoch = -1;
  const bool done = trainer.run(out_dir, options.resume, [&](int epoch, int batch, int batches, double loss) {
    if (quiet) return;
    if (epoch != bar_epoch) {
      if (bar) bar->finish();
      bar = std::make_unique<cli::Progress>(fmt::format("epoch {}", epoch + 1), std::uint64_t(batches), "batch");
      bar_epoch = epoch;
    }
    bar->update(std::uint64_t(batch), fmt::format("loss {:.4f}", loss));
  });
  if (bar) bar->finish();
  TrainOutcome outcome;
  outcome.completed = done;
  outcome.model_path = (std::filesystem::path(out_dir) / "model.safetensors").string();
  if (!done) return outcome;
  if (!quiet)
    for (const auto& e : trainer.history())
      std::cerr << fmt::format("epoch {:3d}  loss {:.4f}  train {:.2f}%  test {:.2f}%  {:.0f} samples/s  {:.1f}s\n",
                               e.epoch, e.train_loss, 100 * e.train_accuracy, 100 * e.test_accuracy, e.samples_per_s,
                               e.seconds);
  std::ifstream in(std::filesystem::path(out_dir) / "train.json");
  std::stringstream text;
  text << in.rdbuf();
  outcome.history = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  return outcome;
}

}  // namespace axsim::jobs

namespace axsim::cli {

std::vector<Command> train_commands() {
  return {{"train", "train a network (optionally hardware-aware) and write the deploy artifact", cmd_train}};
}

}  // namespace axsim::cli
