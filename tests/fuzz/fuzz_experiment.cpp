// Experiment files (`axsim sweep` / `axsim run`, tools/sweep/experiment.hpp): parse_experiment expands the
// grid and points and validates every point (recipe, hardware, schedule, sim options) before anything runs.
// The input is read as if it were configs/experiments/fuzz.yaml, so the seeds' relative references
// (../train/mlp-mnist.yaml, ../hw/...) resolve to the repository's configs. Round trip: the resolved tree
// of every point, written as its config.yaml, must read back as YAML.
#include "core/config.hpp"
#include "tests/fuzz/fuzz_common.hpp"
#include "tools/sweep/experiment.hpp"

extern "C" int AXSIM_FUZZ_ENTRY(const std::uint8_t* data, std::size_t size) {
  static const std::string path = std::string(AXSIM_SOURCE_DIR) + "/configs/experiments/fuzz.yaml";
  const std::string text(axsim::fuzz::as_text(data, size));
  axsim::fuzz::expect_value_or_input_error([&] {
    const axsim::sweep::Experiment e = axsim::sweep::parse_experiment(text, path, {});
    for (const auto& stage : e.trains) (void)axsim::sweep::train_config(e, stage);
    for (const auto& p : e.points) {
      (void)axsim::sweep::params_json(p);
      try {
        (void)axsim::ConfigNode::parse(axsim::to_yaml_text(p.tree), p.id + "/config.yaml");
      } catch (const axsim::InputError& err) {
        axsim::fuzz::round_trip_failed(p.id + "/config.yaml does not read back: " + err.what());
      }
    }
  });
  return 0;
}
