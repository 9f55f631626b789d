// Delimited text files (CSV, TSV, semicolon-separated). One row per sample, one column per feature
// plus one label column.
//   - Delimiter: DataOptions::delimiter, or detected from the first lines: tab, then semicolon, then
//     comma, whichever appears the same nonzero number of times (outside quotes) on each of them.
//   - Header: DataOptions::header, or detected: the first row is a header when one of its cells is not
//     a number while the cell below it is.
//   - Fields follow RFC 4180: "quoted, with "" for a quote", line breaks inside quotes, LF or CRLF.
//     A UTF-8 byte-order mark is skipped; blank lines are skipped.
//   - Label column: DataOptions::label by header name or index (0-based; negative from the end);
//     default the last column. Labels that are all whole numbers are class indices used as is (must be
//     >= 0, and below DataOptions::num_classes if given); otherwise they are class names, mapped to
//     indices in sorted (byte-wise) order and recorded in class_names.
//   - Features must be numbers; with a ';' or tab delimiter a decimal comma ("1,5") is accepted.
//     Missing: an empty cell, ?, NA, N/A or NaN (any case), handled by DataOptions::missing.
// Errors (ragged rows, text in a feature column, unclosed quotes) name the file, the line and the column
// (the field number, counted from 1 as spreadsheets do, with its header name) or, for quoting errors,
// the character position in the line.
#pragma once

#include <string>
#include <string_view>

#include "workloads/data/dataset.hpp"

namespace axsim {

Dataset load_csv(const std::string& path, const DataOptions& options = {});

// Same from text already in memory; `file` names it in error messages.
Dataset parse_csv(std::string_view text, const std::string& file, const DataOptions& options = {});

// The delimiter the auto-detection above picks for this text.
char detect_csv_delimiter(std::string_view text);

}  // namespace axsim
