#include "workloads/train/method.hpp"

#include <functional>
#include <utility>

#include "core/error.hpp"
#include "workloads/train/methods/axtrain.hpp"
#include "workloads/train/methods/analog_noise.hpp"
#include "workloads/train/methods/erasure.hpp"
#include "workloads/train/methods/lanmax.hpp"
#include "workloads/train/methods/uniform_noise.hpp"

namespace axsim::train {

namespace {

class PlainTraining : public TrainingMethod {
 public:
  std::string name() const override { return "none"; }
};

std::unique_ptr<TrainingMethod> make_plain(const ConfigNode& node) {
  node.expect_keys({"type"});
  return std::make_unique<PlainTraining>();
}

using Factory = std::function<std::unique_ptr<TrainingMethod>(const ConfigNode&)>;

// Every method: its `type:` name and the factory that reads its (strict) config node.
const std::vector<std::pair<std::string, Factory>>& registry() {
  static const std::vector<std::pair<std::string, Factory>> methods{
      {"none", make_plain},
      {"uniform_noise", make_uniform_noise},
      {"erasure", make_erasure},
      {"lanmax", make_lanmax},
      {"analog", make_analog},
      {"axtrain_act", make_axtrain_act},
      {"axtrain_pas", make_axtrain_pas},
      {"axtrain", make_axtrain},
  };
  return methods;
}

}  // namespace

std::vector<std::string> method_names() {
  std::vector<std::string> names;
  for (const auto& [name, factory] : registry()) names.push_back(name);
  return names;
}

std::unique_ptr<TrainingMethod> make_method(const ConfigNode* node) {
  if (!node) return std::make_unique<PlainTraining>();
  const std::string type = node->str("type", "none");
  for (const auto& [name, factory] : registry())
    if (name == type) return factory(*node);
  const auto names = method_names();
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  node->child("type").fail("a training method {" + list + "}", "'" + type + "'", closest_match(type, names));
}

}  // namespace axsim::train
