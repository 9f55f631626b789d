// The in-memory dataset every consumer uses: the trainer reads batches of float features, the simulator
// quantizes the same floats to its input format. Loaders (idx.hpp, arff.hpp, csv.hpp, load.hpp) all
// produce this one type, so a network never knows which file format its data came from.
//
// Feature values:
//   - IDX images of dtype u8 are scaled to [0,1] as float(v) / 255.0f (exactly that, correctly rounded,
//     so a consumer that quantizes can reproduce the value); other IDX dtypes are kept as stored.
//   - ARFF/CSV numeric values are kept as written; ARFF nominal features become one-hot 0/1 columns
//     (default) or the value's index.
//   `feature_scaling` records which of these applied, for the deploy artifact.
// Missing values are never silently accepted: a loader counts them (`missing_values`, `first_missing`)
// and applies DataOptions::missing (error by default, or replacement by the column mean).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace axsim {

enum class MissingPolicy {
  error,        // the first missing value is an InputError (default)
  impute_mean,  // replace every missing value by the mean of the present values of its feature column
};

enum class NominalEncoding {
  one_hot,  // k columns named "attribute=value", exactly one of them 1 (default)
  index,    // one column holding the value's position in the attribute's declaration (0, 1, 2...)
};

enum class HeaderMode { auto_detect, present, absent };

// Options of every loader; each field says which formats read it.
struct DataOptions {
  // ARFF, CSV: the label column/attribute by name, or by index (0-based, negative counts from the end:
  // -1 is the last). Empty: the last one.
  std::string label;
  // ARFF, CSV: what to do with missing values ('?' in ARFF; empty, ?, NA, NaN in CSV).
  MissingPolicy missing = MissingPolicy::error;
  // All formats: number of classes; 0 infers it (largest integer label + 1, or the count of class
  // names). When given, every label must be below it.
  int num_classes = 0;
  // ARFF: encoding of nominal feature attributes.
  NominalEncoding nominal = NominalEncoding::one_hot;
  // ARFF: string/date attributes are an error unless this is set, in which case their columns are skipped.
  bool ignore_unsupported_attributes = false;
  // CSV: field delimiter; 0 detects tab, semicolon or comma from the first lines.
  char delimiter = 0;
  // CSV: whether the first row holds column names.
  HeaderMode header = HeaderMode::auto_detect;
  // IDX: scale u8 data to [0,1] (v/255). Off keeps 0..255.
  bool scale_u8 = true;
};

struct Dataset {
  std::string name;                       // e.g. "mnist-test", the ARFF @relation, the CSV file stem
  std::string source;                     // file(s) it was read from
  std::vector<std::size_t> sample_shape;  // {C,H,W} for images, {F} for tabular data
  std::size_t size = 0;                   // number of samples
  std::vector<float> features;            // size * feature_count(), sample-major (row-major)
  std::vector<std::int32_t> labels;       // size entries in [0, num_classes)
  int num_classes = 0;
  std::vector<std::string> class_names;    // num_classes entries ("0".."9" for integer labels)
  std::vector<std::string> feature_names;  // feature_count() entries for tabular data; empty for images
  std::string feature_scaling;             // how file values became features, e.g. "u8/255 -> [0,1]"
  std::size_t missing_values = 0;          // missing cells found in the file (after the policy: replaced)
  std::string first_missing;               // "file:line 7, column 3 ('age')" of the first one, if any

  std::size_t feature_count() const;  // product of sample_shape
  // Features of sample i (no bounds check: i < size).
  std::span<const float> sample(std::size_t i) const {
    return {features.data() + i * feature_count(), feature_count()};
  }
  std::span<float> sample(std::size_t i) { return {features.data() + i * feature_count(), feature_count()}; }

  // Samples [begin, begin + n) as a new dataset with the same metadata; throws std::out_of_range.
  Dataset slice(std::size_t begin, std::size_t n) const;
  // The samples at `indices` in that order (repeats allowed); throws std::out_of_range.
  Dataset subset(std::span<const std::size_t> indices) const;
  // Samples per class (num_classes entries).
  std::vector<std::size_t> class_counts() const;
  // "mnist-test: 10000 samples of 1x28x28, 10 classes"
  std::string summary() const;
  // Throws std::logic_error if sizes, labels or names disagree; loaders call it before returning.
  void check_consistent() const;
};

// A permutation of 0..n-1 that depends only on (n, seed, epoch): Fisher-Yates driven by CounterRng, so
// the trainer's sample order is reproducible and independent of thread count.
std::vector<std::size_t> shuffled_indices(std::size_t n, std::uint64_t seed, std::uint64_t epoch = 0);

// Shared by the text loaders: missing values are stored as NaN while parsing, then this applies the
// policy. `file` and `first_location` locate the first missing value for the error message.
void apply_missing_policy(Dataset& data, MissingPolicy policy, const std::string& file,
                          const std::string& first_location);

}  // namespace axsim
