// `axsim train CONFIG.yaml -o RUN_DIR`: train a network (optionally with a hardware-aware method)
// and write the deploy artifact.
#include <csignal>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "core/config.hpp"
#include "core/error.hpp"
#include "tools/cli/command.hpp"
#include "tools/cli/progress.hpp"
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
  if (config.empty()) throw_input_error("<command line>", "axsim train", "a training config file (axsim train CONFIG.yaml -o RUN_DIR)");
  if (out.empty()) throw_input_error("<command line>", "axsim train", "an output run directory (-o RUN_DIR)");
  const ConfigNode root = load_config_with_overrides(config, overrides);
  train::Trainer trainer(train::TrainConfig::from(root));
  std::signal(SIGINT, on_sigint);
  const auto& cfg = trainer.network().spec();
  if (!quiet)
    std::cerr << fmt::format("axsim train: {} ({} parameters) on {} training / {} test samples\n", cfg.name,
                             trainer.network().parameter_count(), trainer.train_set().size, trainer.test_set().size);
  std::unique_ptr<Progress> bar;
  int bar_epoch = -1;
  const bool done = trainer.run(out, resume, [&](int epoch, int batch, int batches, double loss) {
    if (quiet) return;
    if (epoch != bar_epoch) {
      if (bar) bar->finish();
      bar = std::make_unique<Progress>(fmt::format("epoch {}", epoch + 1), std::uint64_t(batches), "batch");
      bar_epoch = epoch;
    }
    bar->update(std::uint64_t(batch), fmt::format("loss {:.4f}", loss));
  });
  if (bar) bar->finish();
  std::signal(SIGINT, SIG_DFL);
  if (!done) {
    std::cerr << "axsim train: interrupted; the last completed epoch's checkpoint is in " << out
              << " (continue with --resume)\n";
    return kInterrupted;
  }
  if (!quiet)
    for (const auto& e : trainer.history())
      std::cerr << fmt::format("epoch {:3d}  loss {:.4f}  train {:.2f}%  test {:.2f}%  {:.0f} samples/s  {:.1f}s\n", e.epoch,
                               e.train_loss, 100 * e.train_accuracy, 100 * e.test_accuracy, e.samples_per_s, e.seconds);
  std::cout << (std::filesystem::path(out) / "model.safetensors").string() << "\n";
  return kOk;
}

}  // namespace

std::vector<Command> train_commands() {
  return {{"train", "train a network (optionally hardware-aware) and write the deploy artifact", cmd_train}};
}

}  // namespace axsim::cli
