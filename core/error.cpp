#include "core/error.hpp"

#include <algorithm>
#include <vector>

namespace axsim {

std::string format_error(const ErrorInfo& e) {
  std::string s = e.file.empty() ? std::string("<input>") : e.file;
  if (!e.location.empty()) s += ":" + e.location;
  s += ": expected " + e.expected;
  if (!e.found.empty()) s += ", found " + e.found;
  if (!e.hint.empty()) s += " (did you mean '" + e.hint + "'?)";
  return s;
}

InputError::InputError(ErrorInfo info) : std::runtime_error(format_error(info)), info_(std::move(info)) {}

void throw_input_error(std::string file, std::string location, std::string expected, std::string found,
                       std::string hint) {
  throw InputError(ErrorInfo{std::move(file), std::move(location), std::move(expected), std::move(found),
                             std::move(hint)});
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace axsim
