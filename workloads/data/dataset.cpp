#include "workloads/data/dataset.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <stdexcept>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace axsim {

std::size_t Dataset::feature_count() const {
  return std::accumulate(sample_shape.begin(), sample_shape.end(), std::size_t{1}, std::multiplies<>());
}

namespace {

Dataset empty_like(const Dataset& d, std::size_t n) {
  Dataset out;
  out.name = d.name;
  out.source = d.source;
  out.sample_shape = d.sample_shape;
  out.size = n;
  out.num_classes = d.num_classes;
  out.class_names = d.class_names;
  out.feature_names = d.feature_names;
  out.feature_scaling = d.feature_scaling;
  // missing_values describes the file, not the subset: left at 0 so nobody double-counts it.
  out.features.resize(n * d.feature_count());
  out.labels.resize(n);
  return out;
}

}  // namespace

Dataset Dataset::slice(std::size_t begin, std::size_t n) const {
  if (begin > size || n > size - begin)
    throw std::out_of_range("Dataset::slice(" + std::to_string(begin) + ", " + std::to_string(n) + ") of " +
                            std::to_string(size) + " samples");
  Dataset out = empty_like(*this, n);
  const std::size_t f = feature_count();
  std::copy(features.begin() + begin * f, features.begin() + (begin + n) * f, out.features.begin());
  std::copy(labels.begin() + begin, labels.begin() + begin + n, out.labels.begin());
  return out;
}

Dataset Dataset::subset(std::span<const std::size_t> indices) const {
  Dataset out = empty_like(*this, indices.size());
  const std::size_t f = feature_count();
  for (std::size_t k = 0; k < indices.size(); ++k) {
    const std::size_t i = indices[k];
    if (i >= size)
      throw std::out_of_range("Dataset::subset: index " + std::to_string(i) + " of " + std::to_string(size) +
                              " samples");
    std::copy_n(features.begin() + i * f, f, out.features.begin() + k * f);
    out.labels[k] = labels[i];
  }
  return out;
}

std::vector<std::size_t> Dataset::class_counts() const {
  std::vector<std::size_t> counts(static_cast<std::size_t>(std::max(num_classes, 0)), 0);
  for (std::int32_t l : labels)
    if (l >= 0 && l < num_classes) ++counts[static_cast<std::size_t>(l)];
  return counts;
}

std::string Dataset::summary() const {
  std::string shape;
  for (std::size_t k = 0; k < sample_shape.size(); ++k) shape += (k ? "x" : "") + std::to_string(sample_shape[k]);
  std::string s =
      name + ": " + std::to_string(size) + " samples of " + shape + ", " + std::to_string(num_classes) + " classes";
  if (missing_values) s += ", " + std::to_string(missing_values) + " missing values";
  return s;
}

void Dataset::check_consistent() const {
  auto fail = [&](const std::string& what) { throw std::logic_error("dataset '" + name + "': " + what); };
  if (features.size() != size * feature_count())
    fail(std::to_string(features.size()) + " feature values for " + std::to_string(size) + " samples of " +
         std::to_string(feature_count()));
  if (labels.size() != size) fail(std::to_string(labels.size()) + " labels for " + std::to_string(size) + " samples");
  if (!class_names.empty() && class_names.size() != static_cast<std::size_t>(num_classes))
    fail(std::to_string(class_names.size()) + " class names for " + std::to_string(num_classes) + " classes");
  if (!feature_names.empty() && feature_names.size() != feature_count())
    fail(std::to_string(feature_names.size()) + " feature names for " + std::to_string(feature_count()) + " features");
  for (std::int32_t l : labels)
    if (l < 0 || l >= num_classes)
      fail("label " + std::to_string(l) + " outside [0, " + std::to_string(num_classes) + ")");
}

std::vector<std::size_t> shuffled_indices(std::size_t n, std::uint64_t seed, std::uint64_t epoch) {
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  // A fixed tag keeps this stream apart from every other consumer of the same seed.
  constexpr std::uint64_t kShuffleTag = 0x53485546464C45ull;  // "SHUFFLE"
  CounterRng rng(seed, stream_id({kShuffleTag, epoch}));
  for (std::size_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  return order;
}

void apply_missing_policy(Dataset& data, MissingPolicy policy, const std::string& file,
                          const std::string& first_location) {
  if (data.missing_values == 0) return;
  if (policy == MissingPolicy::error)
    throw_input_error(file, first_location, "a value",
                      "a missing value (" + std::to_string(data.missing_values) +
                          " in total; load with missing=impute_mean to replace them by the column mean)");

  const std::size_t f = data.feature_count();
  std::vector<double> sum(f, 0.0);
  std::vector<std::size_t> present(f, 0);
  for (std::size_t i = 0; i < data.size; ++i) {
    const float* row = data.features.data() + i * f;
    for (std::size_t j = 0; j < f; ++j)
      if (!std::isnan(row[j])) {
        sum[j] += row[j];
        ++present[j];
      }
  }
  std::vector<float> mean(f);
  for (std::size_t j = 0; j < f; ++j) mean[j] = present[j] ? static_cast<float>(sum[j] / double(present[j])) : NAN;
  for (std::size_t i = 0; i < data.size; ++i) {
    float* row = data.features.data() + i * f;
    for (std::size_t j = 0; j < f; ++j) {
      if (!std::isnan(row[j])) continue;
      if (present[j] == 0) {
        const std::string feature = j < data.feature_names.size() ? data.feature_names[j] : std::to_string(j);
        throw_input_error(file, "feature '" + feature + "'", "at least one present value to impute the mean from",
                          "only missing values");
      }
      row[j] = mean[j];
    }
  }
}

}  // namespace axsim
