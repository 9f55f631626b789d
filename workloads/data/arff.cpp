#include "workloads/data/arff.hpp"

#include <cmath>
#include <deque>
#include <filesystem>
#include <map>
#include <vector>

#include "core/error.hpp"
#include "workloads/data/file_bytes.hpp"
#include "workloads/data/text_scan.hpp"

namespace axsim {
namespace {

constexpr int kMaxInferredClasses = 65536;

enum class AttrKind { numeric, nominal, string, date };

struct Attribute {
  std::string name;
  AttrKind kind = AttrKind::numeric;
  std::vector<std::string> values;                      // nominal values in declaration order
  std::map<std::string, int, std::less<>> value_index;  // heterogeneous: looked up by string_view
  std::size_t line = 0;
  std::size_t first_feature = 0;  // first output column
  std::size_t width = 0;          // output columns (0: the label or a skipped attribute)
};

const char* kind_name(AttrKind k) {
  switch (k) {
    case AttrKind::numeric:
      return "numeric";
    case AttrKind::nominal:
      return "nominal";
    case AttrKind::string:
      return "string";
    case AttrKind::date:
      return "date";
  }
  return "?";
}

std::string brace_list(const std::vector<std::string>& values) {
  std::string s = "{";
  for (std::size_t k = 0; k < values.size(); ++k) {
    if (k == 12) {
      s += ", ... (" + std::to_string(values.size()) + " values)";
      break;
    }
    s += (k ? ", " : "") + values[k];
  }
  return s + "}";
}

// A cursor over one line; columns in messages are 1-based character positions of the raw line.
class LineCursor {
 public:
  LineCursor(std::string_view line, const std::string& file, std::size_t line_number)
      : line_(line), file_(file), line_number_(line_number) {}

  void skip_space() {
    while (pos_ < line_.size() && text::is_space(line_[pos_])) ++pos_;
  }
  bool at_end() const { return pos_ >= line_.size(); }
  char peek() const { return at_end() ? '\0' : line_[pos_]; }
  void advance() { ++pos_; }
  std::size_t column() const { return pos_ + 1; }
  std::string location(std::size_t column) const {
    return "line " + std::to_string(line_number_) + ", column " + std::to_string(column);
  }
  std::string location() const { return location(column()); }
  std::string rest() const { return std::string(text::trim(line_.substr(std::min(pos_, line_.size())))); }

  [[noreturn]] void fail(const std::string& expected, const std::string& found, std::size_t column = 0,
                         const std::string& hint = {}) const {
    throw_input_error(file_, location(column ? column : this->column()), expected, found, hint);
  }

  // A quoted ('...' or "...", backslash escapes) or bare token; a bare token ends at whitespace or
  // any of `stops`. `quoted` tells whether quotes were used (a quoted '?' is a value, not missing).
  std::string token(std::string_view stops, bool* quoted = nullptr) {
    std::string out;
    const char q = peek();
    if (q == '\'' || q == '"') {
      const std::size_t open = column();
      advance();
      while (true) {
        if (at_end())
          fail(std::string("a closing ") + q + " for the quote opened at column " + std::to_string(open),
               "end of line");
        char c = line_[pos_++];
        if (c == q) break;
        if (c == '\\' && !at_end()) {
          c = line_[pos_++];
          if (c == 'n') c = '\n';
          if (c == 't') c = '\t';
        }
        out += c;
      }
      if (quoted) *quoted = true;
      return out;
    }
    const std::size_t begin = pos_;
    while (!at_end() && !text::is_space(peek()) && !is_stop(peek(), stops)) ++pos_;
    if (quoted) *quoted = false;
    return std::string(line_.substr(begin, pos_ - begin));
  }

  // A bare value: everything up to `stop` (or the end of the line), trimmed. Values may hold inner
  // spaces in hand-written files, so whitespace does not end it.
  std::string_view bare_until(char stop) {
    const std::size_t begin = pos_;
    while (!at_end() && line_[pos_] != stop) ++pos_;
    return text::trim(line_.substr(begin, pos_ - begin));
  }

 private:
  static bool is_stop(char c, std::string_view stops) {
    for (char s : stops)
      if (c == s) return true;
    return false;
  }

  std::string_view line_;
  const std::string& file_;
  std::size_t line_number_;
  std::size_t pos_ = 0;
};

// The line up to its first `%` outside quotes.
std::string_view strip_comment(std::string_view line) {
  char quote = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quote) {
      if (c == '\\')
        ++i;
      else if (c == quote)
        quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '%') {
      return line.substr(0, i);
    }
  }
  return line;
}

class ArffParser {
 public:
  ArffParser(std::string_view text, const std::string& file, const DataOptions& options)
      : lines_(text), file_(file), options_(options) {}

  Dataset parse() {
    parse_header();
    resolve_columns();
    parse_data();
    return finish();
  }

 private:
  text::LineReader lines_;
  const std::string& file_;
  const DataOptions& options_;
  std::string relation_;
  std::vector<Attribute> attrs_;
  std::size_t label_attr_ = 0;
  std::size_t feature_count_ = 0;
  Dataset data_;
  std::vector<float> label_values_;  // numeric labels before the range check
  std::size_t data_lines_ = 0;

  void parse_header() {
    std::string_view raw;
    while (lines_.next(raw)) {
      const std::string_view line = strip_comment(raw);
      if (text::trim(line).empty()) continue;
      LineCursor cur(line, file_, lines_.line_number());
      cur.skip_space();
      if (cur.peek() != '@')
        cur.fail("an @relation, @attribute or @data declaration", "'" + std::string(text::trim(line)) + "'");
      cur.advance();
      const std::size_t keyword_column = cur.column() - 1;
      const std::string keyword = text::lower(cur.token(""));
      cur.skip_space();
      if (keyword == "relation") {
        relation_ = cur.token("");
      } else if (keyword == "attribute") {
        parse_attribute(cur);
      } else if (keyword == "data") {
        if (!cur.rest().empty()) cur.fail("nothing after @data", "'" + cur.rest() + "'");
        if (attrs_.empty()) cur.fail("at least one @attribute before @data", "@data", keyword_column);
        return;
      } else {
        const std::string close = closest_match(keyword, std::vector<std::string>{"relation", "attribute", "data"});
        cur.fail("@relation, @attribute or @data", "'@" + keyword + "'", keyword_column,
                 close.empty() ? "" : "@" + close);
      }
    }
    throw_input_error(
        file_, "line " + std::to_string(lines_.line_number()), "an @data section",
        "end of file" + std::string(attrs_.empty() ? " (no @attribute either: is this an ARFF file?)" : ""));
  }

  void parse_attribute(LineCursor& cur) {
    Attribute a;
    a.line = lines_.line_number();
    const std::size_t name_column = cur.column();
    if (cur.at_end()) cur.fail("an attribute name and type", "end of line");
    a.name = cur.token("{");
    if (a.name.empty()) cur.fail("an attribute name", "'" + cur.rest() + "'");
    for (const Attribute& other : attrs_)
      if (other.name == a.name)
        cur.fail("a new attribute name", "'" + a.name + "', already declared on line " + std::to_string(other.line),
                 name_column);
    cur.skip_space();
    if (cur.at_end())
      cur.fail("a type (numeric, real, integer or {nominal values}) for '" + a.name + "'", "end of line");
    if (cur.peek() == '{') {
      a.kind = AttrKind::nominal;
      cur.advance();
      while (true) {
        cur.skip_space();
        if (cur.peek() == '}' && a.values.empty()) cur.fail("at least one nominal value", "'}'");
        const std::size_t value_column = cur.column();
        bool quoted = false;
        std::string v = cur.token(",}", &quoted);
        if (!quoted) v = std::string(text::trim(v));
        if (v.empty() && !quoted)
          cur.fail("a nominal value",
                   cur.at_end() ? "end of line (missing '}'?)" : std::string("'") + cur.peek() + "'");
        if (a.value_index.count(v))
          cur.fail("distinct nominal values", "'" + v + "' twice in attribute '" + a.name + "'", value_column);
        a.value_index.emplace(v, static_cast<int>(a.values.size()));
        a.values.push_back(v);
        cur.skip_space();
        if (cur.peek() == ',') {
          cur.advance();
          continue;
        }
        if (cur.peek() == '}') {
          cur.advance();
          break;
        }
        cur.fail("',' or '}' in the nominal values of '" + a.name + "'",
                 cur.at_end() ? "end of line" : std::string("'") + cur.peek() + "'");
      }
    } else {
      const std::size_t type_column = cur.column();
      const std::string type = text::lower(cur.token(""));
      if (type == "numeric" || type == "real" || type == "integer") {
        a.kind = AttrKind::numeric;
      } else if (type == "string") {
        a.kind = AttrKind::string;
      } else if (type == "date") {
        a.kind = AttrKind::date;
        cur.skip_space();
        if (!cur.at_end()) cur.token("");  // the date format
      } else if (type == "relational") {
        cur.fail("numeric, real, integer or {nominal values}", "'relational' (multi-instance data is not supported)",
                 type_column);
      } else {
        cur.fail("a type: numeric, real, integer or {nominal values}", "'" + type + "'", type_column,
                 closest_match(type, std::vector<std::string>{"numeric", "real", "integer", "string", "date"}));
      }
    }
    if (!cur.rest().empty()) cur.fail("end of the @attribute line", "'" + cur.rest() + "'");
    attrs_.push_back(std::move(a));
  }

  void resolve_columns() {
    const std::string& label = options_.label;
    if (label.empty()) {
      label_attr_ = attrs_.size() - 1;
    } else {
      std::size_t found = attrs_.size();
      for (std::size_t k = 0; k < attrs_.size(); ++k)
        if (attrs_[k].name == label) found = k;
      if (found == attrs_.size()) {
        if (auto idx = text::parse_integer(label)) {
          const auto n = static_cast<std::int64_t>(attrs_.size());
          const std::int64_t k = *idx < 0 ? n + *idx : *idx;
          if (k < 0 || k >= n)
            throw_input_error(file_, "label " + label,
                              "an attribute index in [" + std::to_string(-n) + ", " + std::to_string(n) + ")",
                              "an index outside the " + std::to_string(n) + " attributes");
          found = static_cast<std::size_t>(k);
        } else {
          std::vector<std::string> names;
          for (const Attribute& a : attrs_) names.push_back(a.name);
          throw_input_error(file_, "label", "the name or index of an @attribute", "'" + label + "'",
                            closest_match(label, names));
        }
      }
      label_attr_ = found;
    }
    const Attribute& la = attrs_[label_attr_];
    if (la.kind != AttrKind::nominal && la.kind != AttrKind::numeric)
      throw_input_error(file_, "line " + std::to_string(la.line) + ", attribute '" + la.name + "'",
                        "a nominal or numeric class attribute", std::string(kind_name(la.kind)));

    for (std::size_t k = 0; k < attrs_.size(); ++k) {
      Attribute& a = attrs_[k];
      a.first_feature = feature_count_;
      if (k == label_attr_) continue;
      switch (a.kind) {
        case AttrKind::numeric:
          a.width = 1;
          data_.feature_names.push_back(a.name);
          break;
        case AttrKind::nominal:
          if (options_.nominal == NominalEncoding::one_hot) {
            a.width = a.values.size();
            for (const std::string& v : a.values) data_.feature_names.push_back(a.name + "=" + v);
          } else {
            a.width = 1;
            data_.feature_names.push_back(a.name);
          }
          break;
        case AttrKind::string:
        case AttrKind::date:
          if (!options_.ignore_unsupported_attributes)
            throw_input_error(file_, "line " + std::to_string(a.line) + ", attribute '" + a.name + "'",
                              "numeric or nominal attributes",
                              std::string(kind_name(a.kind)) +
                                  " (set ignore_unsupported_attributes to skip string and date attributes)");
          a.width = 0;
          break;
      }
      feature_count_ += a.width;
    }
    if (feature_count_ == 0)
      throw_input_error(file_, "line " + std::to_string(la.line), "at least one feature attribute besides the class",
                        "only the class attribute '" + la.name + "'");
  }

  // Writes attribute k's value into the current row (the last feature_count_ floats of data_.features).
  void set_value(std::size_t k, std::string_view token, bool quoted, const LineCursor& cur, std::size_t column) {
    const Attribute& a = attrs_[k];
    float* row = data_.features.data() + data_.features.size() - feature_count_ + a.first_feature;
    const bool missing = !quoted && token == "?";
    if (k == label_attr_) {
      if (missing) cur.fail("a class value for '" + a.name + "' (rows without a class cannot be used)", "'?'", column);
      if (a.kind == AttrKind::nominal) {
        data_.labels.push_back(nominal_index(a, token, cur, column));
      } else {
        const auto v = text::parse_float(token);
        const float limit = options_.num_classes > 0 ? float(options_.num_classes) : 2147483648.0f;
        if (!v || *v < 0 || *v != std::floor(*v) || *v >= limit)
          cur.fail("a whole class number in [0, " +
                       (options_.num_classes > 0 ? std::to_string(options_.num_classes) : std::string("2^31")) +
                       ") for '" + a.name + "'",
                   "'" + std::string(token) + "'", column);
        data_.labels.push_back(static_cast<std::int32_t>(*v));
      }
      return;
    }
    if (a.width == 0) return;  // skipped string/date attribute
    if (missing) {
      for (std::size_t j = 0; j < a.width; ++j) row[j] = NAN;
      if (data_.missing_values++ == 0) data_.first_missing = cur.location(column) + " (attribute '" + a.name + "')";
      return;
    }
    if (a.kind == AttrKind::numeric) {
      const auto v = text::parse_float(token);
      if (!v) cur.fail("a number for numeric attribute '" + a.name + "'", "'" + std::string(token) + "'", column);
      row[0] = *v;
    } else {
      const int idx = nominal_index(a, token, cur, column);
      if (a.width == 1)
        row[0] = static_cast<float>(idx);
      else
        for (std::size_t j = 0; j < a.width; ++j) row[j] = j == static_cast<std::size_t>(idx) ? 1.0f : 0.0f;
    }
  }

  // Weka's sparse-row default: 0 for numbers, the first declared value for nominals.
  void set_default(std::size_t k) {
    const Attribute& a = attrs_[k];
    if (k == label_attr_) {
      data_.labels.push_back(0);
      return;
    }
    float* row = data_.features.data() + data_.features.size() - feature_count_ + a.first_feature;
    for (std::size_t j = 0; j < a.width; ++j) row[j] = 0.0f;
    if (a.kind == AttrKind::nominal && a.width > 1) row[0] = 1.0f;
  }

  int nominal_index(const Attribute& a, std::string_view token, const LineCursor& cur, std::size_t column) {
    const auto it = a.value_index.find(token);
    if (it == a.value_index.end()) {
      // Values are case-sensitive in ARFF; a case-only difference is the likeliest slip.
      std::string hint;
      for (const std::string& v : a.values)
        if (hint.empty() && text::iequals(v, token)) hint = v;
      if (hint.empty()) hint = closest_match(std::string(token), a.values);
      cur.fail("one of " + brace_list(a.values) + " for attribute '" + a.name + "'", "'" + std::string(token) + "'",
               column, hint);
    }
    return it->second;
  }

  struct Cell {
    std::string_view text;  // into the line, or into quoted_store for quoted values
    bool quoted = false;
    std::size_t column = 0;
  };

  void parse_data() {
    std::string_view raw;
    std::vector<Cell> cells;
    std::deque<std::string> quoted_store;  // stable addresses for unescaped quoted values
    while (lines_.next(raw)) {
      const std::string_view line = strip_comment(raw);
      if (text::trim(line).empty()) continue;
      ++data_lines_;
      LineCursor cur(line, file_, lines_.line_number());
      data_.features.resize(data_.features.size() + feature_count_);
      cur.skip_space();
      if (cur.peek() == '{')
        parse_sparse_row(cur);
      else
        parse_dense_row(cur, cells, quoted_store);
    }
    if (data_lines_ == 0)
      throw_input_error(file_, "line " + std::to_string(lines_.line_number()), "at least one data row after @data",
                        "end of file");
  }

  void parse_dense_row(LineCursor& cur, std::vector<Cell>& cells, std::deque<std::string>& quoted_store) {
    cells.clear();
    quoted_store.clear();
    while (true) {
      cur.skip_space();
      Cell cell;
      cell.column = cur.column();
      const char c = cur.peek();
      if (c == '{')
        cur.fail(std::to_string(attrs_.size()) + " values",
                 "'" + cur.rest() + "' (instance weights are not supported)");
      if (c == '\'' || c == '"') {
        cell.quoted = true;
        cell.text = quoted_store.emplace_back(cur.token(","));
        cur.skip_space();
      } else {
        cell.text = cur.bare_until(',');
      }
      cells.push_back(cell);
      if (cur.at_end()) break;
      if (cur.peek() != ',') cur.fail("',' after the quoted value", std::string("'") + cur.peek() + "'");
      cur.advance();
    }
    if (cells.size() != attrs_.size())
      cur.fail(std::to_string(attrs_.size()) + " comma-separated values (one per @attribute)",
               std::to_string(cells.size()) + " values", 1);
    for (std::size_t k = 0; k < cells.size(); ++k) {
      if (cells[k].text.empty() && !cells[k].quoted)
        cur.fail("a value for attribute '" + attrs_[k].name + "' (use ? for missing)", "an empty field",
                 cells[k].column);
      set_value(k, cells[k].text, cells[k].quoted, cur, cells[k].column);
    }
  }

  void parse_sparse_row(LineCursor& cur) {
    std::vector<int> seen(attrs_.size(), 0);
    std::vector<std::pair<std::size_t, std::pair<std::string, bool>>> entries;
    std::vector<std::size_t> columns;
    cur.advance();  // '{'
    while (true) {
      cur.skip_space();
      if (cur.peek() == '}' && entries.empty()) {
        cur.advance();
        break;
      }
      const std::size_t index_column = cur.column();
      const std::string index_text = cur.token(",}");
      const auto index = text::parse_integer(index_text);
      if (!index || *index < 0 || *index >= static_cast<std::int64_t>(attrs_.size()))
        cur.fail("an attribute index in [0, " + std::to_string(attrs_.size()) + ") before the value",
                 "'" + index_text + "'", index_column);
      if (seen[*index]++)
        cur.fail("each attribute index once per sparse row", "index " + index_text + " again", index_column);
      cur.skip_space();
      columns.push_back(cur.column());
      bool quoted = false;
      std::string v = cur.token(",}", &quoted);
      if (v.empty() && !quoted)
        cur.fail("a value after index " + index_text,
                 cur.at_end() ? "end of line" : "'" + std::string(1, cur.peek()) + "'");
      entries.push_back({static_cast<std::size_t>(*index), {std::move(v), quoted}});
      cur.skip_space();
      if (cur.peek() == ',') {
        cur.advance();
        continue;
      }
      if (cur.peek() == '}') {
        cur.advance();
        break;
      }
      cur.fail("',' or '}' in the sparse row", cur.at_end() ? "end of line" : "'" + std::string(1, cur.peek()) + "'");
    }
    cur.skip_space();
    if (!cur.at_end())
      cur.fail("end of the sparse row",
               "'" + cur.rest() + "'" + (cur.peek() == ',' ? " (instance weights are not supported)" : ""));
    for (std::size_t k = 0; k < attrs_.size(); ++k)
      if (!seen[k]) set_default(k);
    // Each attribute is set exactly once (default or explicit), so the label is pushed once per row.
    for (std::size_t e = 0; e < entries.size(); ++e)
      set_value(entries[e].first, entries[e].second.first, entries[e].second.second, cur, columns[e]);
  }

  Dataset finish() {
    const Attribute& la = attrs_[label_attr_];
    data_.name = relation_.empty() ? std::filesystem::path(file_).stem().string() : relation_;
    data_.source = file_;
    data_.sample_shape = {feature_count_};
    data_.size = data_.labels.size();
    data_.feature_scaling = options_.nominal == NominalEncoding::one_hot ? "as written; nominal one-hot"
                                                                         : "as written; nominal as value index";
    const std::string label_where = "attribute '" + la.name + "'";
    if (la.kind == AttrKind::nominal) {
      data_.class_names = la.values;
      data_.num_classes = static_cast<int>(la.values.size());
      if (options_.num_classes > 0 && options_.num_classes != data_.num_classes)
        throw_input_error(file_, "line " + std::to_string(la.line) + ", " + label_where,
                          std::to_string(options_.num_classes) + " classes (num_classes option)",
                          std::to_string(data_.num_classes) + " nominal values");
    } else {
      std::int32_t max_label = 0;
      for (std::int32_t l : data_.labels) max_label = std::max(max_label, l);
      if (options_.num_classes > 0) {
        if (max_label >= options_.num_classes)
          throw_input_error(file_, label_where, "class numbers below " + std::to_string(options_.num_classes),
                            std::to_string(max_label));
        data_.num_classes = options_.num_classes;
      } else {
        if (max_label >= kMaxInferredClasses)
          throw_input_error(file_, label_where, "at most " + std::to_string(kMaxInferredClasses) + " classes",
                            "class number " + std::to_string(max_label) + " (is this a regression target?)");
        data_.num_classes = max_label + 1;
      }
      for (int c = 0; c < data_.num_classes; ++c) data_.class_names.push_back(std::to_string(c));
    }
    // first_missing is "line L, column C (...)"; the policy error prefixes the file name itself.
    apply_missing_policy(data_, options_.missing, file_, data_.first_missing);
    if (!data_.first_missing.empty()) data_.first_missing = file_ + ":" + data_.first_missing;
    data_.check_consistent();
    return std::move(data_);
  }
};

}  // namespace

Dataset parse_arff(std::string_view text, const std::string& file, const DataOptions& options) {
  return ArffParser(text, file, options).parse();
}

Dataset load_arff(const std::string& path, const DataOptions& options) {
  const FileBytes bytes = read_file_bytes(path);
  return parse_arff(std::string_view(reinterpret_cast<const char*>(bytes.bytes.data()), bytes.bytes.size()), path,
                    options);
}

}  // namespace axsim
