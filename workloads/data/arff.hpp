// Weka ARFF files. Supported:
//   @relation NAME; @attribute NAME TYPE with TYPE numeric | real | integer | {v1, v2, ...} (nominal);
//   @data with dense rows (v1, v2, ...) or sparse rows ({index value, ...}; unlisted values are 0, or
//   the first value of a nominal attribute, as in Weka); `%` comments (whole lines or after data);
//   names and values quoted with ' or " (backslash escapes); keywords in any case; `?` = missing.
// Not supported: string, date and relational attributes (an error naming the attribute; string/date
// columns can be skipped with DataOptions::ignore_unsupported_attributes), instance weights {w}.
// The class is the last attribute unless DataOptions::label names another one (by name, or by index,
// 0-based, negative from the end); it must be nominal (classes = its values in declaration order) or
// numeric with whole non-negative values. Nominal features: one-hot "attr=value" columns (default) or
// the value index (DataOptions::nominal). Errors name the file, the line and the column or attribute.
#pragma once

#include <string>
#include <string_view>

#include "workloads/data/dataset.hpp"

namespace axsim {

Dataset load_arff(const std::string& path, const DataOptions& options = {});

// Same from text already in memory; `file` names it in error messages.
Dataset parse_arff(std::string_view text, const std::string& file, const DataOptions& options = {});

}  // namespace axsim
