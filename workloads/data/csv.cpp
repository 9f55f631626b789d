#include "workloads/data/csv.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <vector>

#include "core/error.hpp"
#include "workloads/data/file_bytes.hpp"
#include "workloads/data/text_scan.hpp"

namespace axsim {
namespace {

constexpr int kMaxInferredClasses = 65536;

std::string delimiter_name(char d) {
  switch (d) {
    case '\t':
      return "tab";
    case ';':
      return "';'";
    case ',':
      return "','";
    default:
      return std::string("'") + d + "'";
  }
}

bool is_missing_token(std::string_view cell) {
  cell = text::trim(cell);
  if (cell.empty() || cell == "?") return true;
  // Cheap rejection first: this runs on every cell.
  if (cell.size() > 3 || (cell[0] != 'n' && cell[0] != 'N')) return false;
  return text::iequals(cell, "na") || text::iequals(cell, "n/a") || text::iequals(cell, "nan");
}

// A number, also with a decimal comma when the delimiter leaves commas free ("1,5" in European files).
std::optional<float> parse_cell_number(std::string_view cell, char delimiter) {
  if (auto v = text::parse_float(cell)) return v;
  if (delimiter == ',') return {};
  const auto comma = cell.find(',');
  if (comma == std::string_view::npos || cell.find(',', comma + 1) != std::string_view::npos ||
      cell.find('.') != std::string_view::npos)
    return {};
  std::string dotted(cell);
  dotted[comma] = '.';
  return text::parse_float(dotted);
}

struct Field {
  std::string_view bare;  // unquoted: points into the input text
  std::string unquoted;   // quoted: the value without quotes and with "" unescaped
  bool quoted = false;
  std::size_t line = 0;
  std::size_t column = 0;  // 1-based

  std::string_view value() const { return quoted ? std::string_view(unquoted) : bare; }
};

// RFC 4180 records over a buffer. Fields are reused between records to avoid reallocating strings.
class CsvReader {
 public:
  CsvReader(std::string_view text, char delimiter, const std::string& file)
      : text_(text), delimiter_(delimiter), file_(file) {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") line_start_ = pos_ = 3;
  }

  // Reads the next non-blank record into fields[0, count); false at end of input.
  bool next(std::vector<Field>& fields, std::size_t& count, std::size_t& record_line) {
    while (pos_ < text_.size()) {
      record_line = line_;
      count = 0;
      bool end_of_record = false;
      while (!end_of_record) {
        if (count == fields.size()) fields.emplace_back();
        end_of_record = read_field(fields[count++]);
      }
      const bool blank = count == 1 && !fields[0].quoted && text::trim(fields[0].value()).empty();
      if (!blank) return true;
    }
    return false;
  }

 private:
  std::string_view text_;
  char delimiter_;
  const std::string& file_;
  std::size_t pos_ = 0;
  std::size_t line_ = 1;
  std::size_t line_start_ = 0;

  bool at_line_end() const { return pos_ >= text_.size() || text_[pos_] == '\n' || text_[pos_] == '\r'; }

  // Consumes a line ending at pos_ (LF, CRLF or CR) and returns true, or returns false at end of input.
  bool consume_newline() {
    if (pos_ >= text_.size()) return false;
    if (text_[pos_] == '\r' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n') ++pos_;
    ++pos_;
    ++line_;
    line_start_ = pos_;
    return true;
  }

  bool is_pad(char c) const { return (c == ' ' || c == '\t') && c != delimiter_; }

  // Reads one field; returns true when it ended its record.
  bool read_field(Field& f) {
    f.unquoted.clear();
    f.quoted = false;
    f.line = line_;
    std::size_t p = pos_;
    while (p < text_.size() && is_pad(text_[p])) ++p;
    if (p < text_.size() && text_[p] == '"') {
      pos_ = p;
      f.column = pos_ - line_start_ + 1;
      f.quoted = true;
      const std::size_t open_line = line_, open_column = f.column;
      ++pos_;
      while (true) {
        if (pos_ >= text_.size())
          throw_input_error(file_, "line " + std::to_string(open_line) + ", character " + std::to_string(open_column),
                            "a closing '\"' for the quoted field that starts here", "end of file");
        const char c = text_[pos_];
        if (c == '"') {
          if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '"') {
            f.unquoted += '"';
            pos_ += 2;
            continue;
          }
          ++pos_;
          break;
        }
        if (c == '\n' || c == '\r') {
          // A line break inside quotes belongs to the value; keep the line count right for messages.
          const std::size_t before = pos_;
          consume_newline();
          f.unquoted.append(text_.substr(before, pos_ - before));
          continue;
        }
        f.unquoted += c;
        ++pos_;
      }
      while (pos_ < text_.size() && is_pad(text_[pos_])) ++pos_;
      if (!at_line_end() && text_[pos_] != delimiter_)
        throw_input_error(file_,
                          "line " + std::to_string(line_) + ", character " + std::to_string(pos_ - line_start_ + 1),
                          "the delimiter " + delimiter_name(delimiter_) + " or end of line after a closing quote",
                          std::string("'") + text_[pos_] + "'");
    } else {
      f.column = pos_ - line_start_ + 1;
      const std::size_t begin = pos_;
      while (!at_line_end() && text_[pos_] != delimiter_) ++pos_;
      f.bare = text_.substr(begin, pos_ - begin);
    }
    if (pos_ < text_.size() && text_[pos_] == delimiter_) {
      ++pos_;
      return false;
    }
    consume_newline();
    return true;
  }
};

std::string column_text(std::size_t index, const std::vector<std::string>& names) {
  std::string s = "column " + std::to_string(index + 1);
  if (index < names.size() && !names[index].empty()) s += " ('" + names[index] + "')";
  return s;
}

}  // namespace

char detect_csv_delimiter(std::string_view text) {
  // Count candidates outside quotes on the first complete lines.
  constexpr std::array<char, 3> kCandidates = {'\t', ';', ','};
  constexpr std::size_t kLines = 20;
  std::vector<std::array<std::size_t, 3>> counts;
  std::array<std::size_t, 3> current{};
  bool in_quotes = false, line_has_content = false;
  for (std::size_t i = 0; i < text.size() && counts.size() < kLines; ++i) {
    const char c = text[i];
    if (c == '"') in_quotes = !in_quotes;
    if (!in_quotes && (c == '\n' || c == '\r')) {
      if (line_has_content) counts.push_back(current);
      current = {};
      line_has_content = false;
      continue;
    }
    if (!text::is_space(c)) line_has_content = true;
    if (!in_quotes)
      for (std::size_t k = 0; k < kCandidates.size(); ++k) current[k] += c == kCandidates[k];
  }
  if (line_has_content && counts.size() < kLines) counts.push_back(current);
  if (counts.empty()) return ',';
  for (std::size_t k = 0; k < kCandidates.size(); ++k) {
    const bool consistent = counts[0][k] > 0 && std::all_of(counts.begin(), counts.end(),
                                                            [&](const auto& c) { return c[k] == counts[0][k]; });
    if (consistent) return kCandidates[k];
  }
  std::size_t best = 2;  // comma unless another is more frequent on the first line
  for (std::size_t k = 0; k < kCandidates.size(); ++k)
    if (counts[0][k] > counts[0][best]) best = k;
  return kCandidates[best];
}

Dataset parse_csv(std::string_view text, const std::string& file, const DataOptions& options) {
  const char delimiter = options.delimiter ? options.delimiter : detect_csv_delimiter(text);
  CsvReader reader(text, delimiter, file);
  std::vector<Field> first, second, row;
  std::size_t first_count = 0, second_count = 0, first_line = 0, second_line = 0;
  if (!reader.next(first, first_count, first_line))
    throw_input_error(file, "line 1", "a header or data row", "an empty file");
  const bool have_second = reader.next(second, second_count, second_line);

  bool header = options.header == HeaderMode::present;
  if (options.header == HeaderMode::auto_detect && have_second) {
    for (std::size_t j = 0; j < std::min(first_count, second_count) && !header; ++j)
      header = !is_missing_token(first[j].value()) && !parse_cell_number(first[j].value(), delimiter) &&
               parse_cell_number(second[j].value(), delimiter).has_value();
  }
  const std::size_t columns = first_count;
  std::vector<std::string> names(columns);
  for (std::size_t j = 0; j < columns; ++j)
    names[j] = header ? std::string(text::trim(first[j].value())) : std::string();

  // Label column.
  std::size_t label_col = columns - 1;
  if (!options.label.empty()) {
    const auto by_name = std::find(names.begin(), names.end(), options.label);
    if (header && by_name != names.end()) {
      label_col = static_cast<std::size_t>(by_name - names.begin());
    } else if (auto idx = text::parse_integer(options.label)) {
      const auto n = static_cast<std::int64_t>(columns);
      const std::int64_t k = *idx < 0 ? n + *idx : *idx;
      if (k < 0 || k >= n)
        throw_input_error(
            file, "label " + options.label, "a column index in [" + std::to_string(-n) + ", " + std::to_string(n) + ")",
            "an index outside the " + std::to_string(n) + " columns of line " + std::to_string(first_line));
      label_col = static_cast<std::size_t>(k);
    } else if (!header) {
      throw_input_error(file, "label '" + options.label + "'", "a column index, since the file has no header row",
                        std::string("a column name") +
                            (options.header == HeaderMode::auto_detect
                                 ? " (no header was detected: line 1 looks like data; force header=present)"
                                 : ""));
    } else {
      throw_input_error(file, "label", "a column name from the header on line " + std::to_string(first_line),
                        "'" + options.label + "'", closest_match(options.label, names));
    }
  }
  if (columns < 2)
    throw_input_error(file, "line " + std::to_string(first_line),
                      "at least two columns (features and a label) separated by " + delimiter_name(delimiter),
                      "1 column");

  Dataset d;
  d.name = std::filesystem::path(file).stem().string();
  d.source = file;
  d.sample_shape = {columns - 1};
  d.feature_scaling = "as written";
  for (std::size_t j = 0; j < columns; ++j)
    if (j != label_col)
      d.feature_names.push_back(header && !names[j].empty() ? names[j] : "col" + std::to_string(j + 1));

  std::vector<std::string> label_text;
  std::vector<std::size_t> label_line;
  auto add_row = [&](const std::vector<Field>& fields, std::size_t count, std::size_t line) {
    if (count != columns)
      throw_input_error(file, "line " + std::to_string(line),
                        std::to_string(columns) + " fields separated by " + delimiter_name(delimiter) +
                            " (as on line " + std::to_string(first_line) + ")",
                        std::to_string(count) + " fields");
    const std::size_t base = d.features.size();
    d.features.resize(base + columns - 1);
    float* out = d.features.data() + base;
    for (std::size_t j = 0; j < columns; ++j) {
      const Field& f = fields[j];
      if (j == label_col) {
        const std::string_view value = f.quoted ? f.value() : text::trim(f.value());
        if (!f.quoted && is_missing_token(value))
          throw_input_error(file, "line " + std::to_string(f.line) + ", " + column_text(j, names),
                            "a class label (rows without a label cannot be used)",
                            value.empty() ? std::string("an empty cell") : "'" + std::string(value) + "'");
        label_text.emplace_back(value);
        label_line.push_back(f.line);
        continue;
      }
      if (!f.quoted && is_missing_token(f.value())) {
        *out++ = NAN;
        if (d.missing_values++ == 0) d.first_missing = "line " + std::to_string(f.line) + ", " + column_text(j, names);
        continue;
      }
      const auto v = parse_cell_number(f.value(), delimiter);
      if (!v)
        throw_input_error(file, "line " + std::to_string(f.line) + ", " + column_text(j, names),
                          "a number (only the label column, " + column_text(label_col, names) +
                              ", may hold text; choose another with label=NAME|INDEX)",
                          "'" + std::string(f.value()) + "'");
      *out++ = *v;
    }
  };
  if (!header) add_row(first, first_count, first_line);
  if (have_second) add_row(second, second_count, second_line);
  std::size_t count = 0, line = 0;
  while (reader.next(row, count, line)) add_row(row, count, line);
  d.size = label_text.size();
  if (d.size == 0)
    throw_input_error(file, "line " + std::to_string(first_line + 1), "at least one data row after the header",
                      "end of file");

  // Labels: all whole numbers -> class indices; otherwise names.
  const std::string label_where = column_text(label_col, names);
  bool all_numbers = true, all_whole = true;
  std::size_t first_fraction = 0;
  for (std::size_t i = 0; i < d.size && all_numbers; ++i) {
    const auto v = text::parse_float(label_text[i]);
    if (!v) {
      all_numbers = false;
    } else if (*v != std::floor(*v) && all_whole) {
      all_whole = false;
      first_fraction = i;
    }
  }
  d.labels.resize(d.size);
  if (all_numbers && !all_whole) {
    throw_input_error(file, "line " + std::to_string(label_line[first_fraction]) + ", " + label_where,
                      "a whole class number or a class name",
                      "'" + label_text[first_fraction] + "' (regression targets are not supported)");
  } else if (all_numbers) {
    long long max_label = 0;
    for (std::size_t i = 0; i < d.size; ++i) {
      const double v = *text::parse_float(label_text[i]);
      const bool too_big = options.num_classes > 0 ? v >= options.num_classes : v >= kMaxInferredClasses;
      if (v < 0 || too_big)
        throw_input_error(file, "line " + std::to_string(label_line[i]) + ", " + label_where,
                          "a class index in [0, " +
                              std::to_string(options.num_classes > 0 ? options.num_classes : kMaxInferredClasses) +
                              ")" +
                              (v < 0 ? " (write labels like -1/+1 as names, e.g. neg/pos, to have them mapped)" : ""),
                          "'" + label_text[i] + "'");
      d.labels[i] = static_cast<std::int32_t>(v);
      max_label = std::max<long long>(max_label, d.labels[i]);
    }
    d.num_classes = options.num_classes > 0 ? options.num_classes : static_cast<int>(max_label + 1);
    for (int c = 0; c < d.num_classes; ++c) d.class_names.push_back(std::to_string(c));
  } else {
    std::map<std::string, std::int32_t> classes;  // sorted by name
    for (const std::string& s : label_text) classes.emplace(s, 0);
    if (options.num_classes > 0 && classes.size() != static_cast<std::size_t>(options.num_classes))
      throw_input_error(file, label_where, std::to_string(options.num_classes) + " classes (num_classes option)",
                        std::to_string(classes.size()) + " distinct class names");
    if (classes.size() > static_cast<std::size_t>(kMaxInferredClasses))
      throw_input_error(file, label_where, "at most " + std::to_string(kMaxInferredClasses) + " class names",
                        std::to_string(classes.size()) + " (is this the label column?)");
    std::int32_t next = 0;
    for (auto& [name, index] : classes) {
      index = next++;
      d.class_names.push_back(name);
    }
    for (std::size_t i = 0; i < d.size; ++i) d.labels[i] = classes.at(label_text[i]);
    d.num_classes = static_cast<int>(classes.size());
  }

  apply_missing_policy(d, options.missing, file, d.first_missing);
  if (!d.first_missing.empty()) d.first_missing = file + ":" + d.first_missing;
  d.check_consistent();
  return d;
}

Dataset load_csv(const std::string& path, const DataOptions& options) {
  const FileBytes bytes = read_file_bytes(path);
  return parse_csv(std::string_view(reinterpret_cast<const char*>(bytes.bytes.data()), bytes.bytes.size()), path,
                   options);
}

}  // namespace axsim
