// Small text helpers shared by the ARFF and CSV readers (number parsing that accepts exactly a whole
// token, line splitting that handles LF, CRLF and CR, case folding).
#pragma once

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace axsim::text {

inline bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

inline std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

inline bool iequals(std::string_view a, std::string_view b) { return lower(a) == lower(b); }

// The whole (trimmed) token as a float: "1.5", "-2e3", "+4", ".5". Returns nullopt for anything else,
// including "inf"/"nan" spellings (callers treat those explicitly) and values beyond float range.
inline std::optional<float> parse_float(std::string_view s) {
  s = trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty() || !(s.front() == '-' || s.front() == '.' || (s.front() >= '0' && s.front() <= '9'))) return {};
  float v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::general);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return {};
  return v;
}

// The whole (trimmed) token as a base-10 integer ("12", "-3", "+7").
inline std::optional<std::int64_t> parse_integer(std::string_view s) {
  s = trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return {};
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return {};
  return v;
}

// Iterates the lines of a buffer (LF, CRLF or lone CR endings), numbering them from 1, after
// skipping a UTF-8 byte-order mark.
class LineReader {
 public:
  explicit LineReader(std::string_view text) : text_(text) {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
  }
  bool next(std::string_view& line) {
    if (pos_ >= text_.size()) return false;
    std::size_t end = pos_;
    while (end < text_.size() && text_[end] != '\n' && text_[end] != '\r') ++end;
    line = text_.substr(pos_, end - pos_);
    if (end == text_.size())
      pos_ = end;
    else if (text_[end] == '\r' && end + 1 < text_.size() && text_[end + 1] == '\n')
      pos_ = end + 2;  // CRLF
    else
      pos_ = end + 1;  // LF or lone CR
    ++line_number_;
    return true;
  }
  std::size_t line_number() const { return line_number_; }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
  std::size_t line_number_ = 0;
};

}  // namespace axsim::text
