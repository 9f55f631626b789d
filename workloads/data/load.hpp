// One entry point for every dataset format: the CLI's `--data` argument.
//
//   mnist:DIR[:train|test]   the four standard MNIST-layout IDX files in DIR (split default: train);
//                            also Fashion-MNIST, KMNIST... (see load_mnist_like)
//   idx:IMAGES,LABELS        an IDX image file and an IDX label file
//   arff:PATH[:LABEL]        Weka ARFF; LABEL = class attribute name or index (default: the last)
//   csv:PATH[:LABEL]         CSV / TSV / semicolon-separated; LABEL = column name or index (default: last)
//   PATH                     chosen by what PATH is: a directory -> mnist, *.arff -> arff,
//                            *.csv / *.tsv / *.txt -> csv (each also with .gz)
// Indices are 0-based, negative from the end (-1 = last). When PATH itself contains ':' it is still
// found: an existing file named by the whole text after the format wins over splitting off a label.
// Options that have no place in the string (missing-value policy, nominal encoding, delimiter, header)
// come from DataOptions; a LABEL in the string overrides DataOptions::label.
#pragma once

#include <string>
#include <vector>

#include "workloads/data/dataset.hpp"

namespace axsim {

struct DataSpec {
  std::string format;              // "mnist", "idx", "arff" or "csv"
  std::vector<std::string> paths;  // one path, or images and labels for idx
  std::string label;               // arff/csv label column; empty = default
  std::string split;               // mnist only: "train" or "test"
  std::string text;                // the spec as written, for messages
};

// Throws InputError (file "<data spec>") for an unknown format or a malformed spec.
DataSpec parse_data_spec(const std::string& spec);

Dataset load_dataset(const DataSpec& spec, const DataOptions& options = {});
Dataset load_dataset(const std::string& spec, const DataOptions& options = {});
// The first `limit` samples of a dataset spec (all of them when limit is 0 or beyond the size).
Dataset load_dataset_prefix(const std::string& spec, std::size_t limit);

}  // namespace axsim
