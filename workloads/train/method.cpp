#include "workloads/train/method.hpp"

#include "core/error.hpp"

namespace axsim::train {

namespace {

class PlainTraining : public TrainingMethod {
 public:
  std::string name() const override { return "none"; }
};

}  // namespace

std::vector<std::string> method_names() { return {"none"}; }

std::unique_ptr<TrainingMethod> make_method(const ConfigNode* node) {
  if (!node) return std::make_unique<PlainTraining>();
  const std::string type = node->str("type", "none");
  if (type == "none") {
    node->expect_keys({"type"});
    return std::make_unique<PlainTraining>();
  }
  const auto names = method_names();
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  node->child("type").fail("a training method {" + list + "}", "'" + type + "'", closest_match(type, names));
}

}  // namespace axsim::train
