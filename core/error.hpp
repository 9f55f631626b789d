// One error format for every input axsim reads (configs, datasets, artifacts, CLI arguments):
//   <file>:<location>: <what was expected>, found <what was found> (did you mean '<hint>'?)
// so a user can act on it without reading the source.
#pragma once

#include <stdexcept>
#include <string>

namespace axsim {

struct ErrorInfo {
  std::string file;      // path of the file (or "<command line>", "<stdin>")
  std::string location;  // "line 12", "byte 4096", "key hw.pe_array.rows", "tensor fc1.weight"
  std::string expected;  // what a valid input has there
  std::string found;     // what was actually there (may be empty)
  std::string hint;      // closest valid key or value (may be empty)
};

// Bad input: the user can fix it. Exit code 2 from the CLI.
class InputError : public std::runtime_error {
 public:
  explicit InputError(ErrorInfo info);
  const ErrorInfo& info() const { return info_; }

 private:
  ErrorInfo info_;
};

// Failure to write outputs (unwritable directory, full disk). Exit code 3 from the CLI.
class OutputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string format_error(const ErrorInfo& info);

[[noreturn]] void throw_input_error(std::string file, std::string location, std::string expected,
                                    std::string found = {}, std::string hint = {});

// Levenshtein distance and closest candidate (empty if nothing is reasonably close), used for
// "did you mean" hints on unknown keys and names.
std::size_t edit_distance(const std::string& a, const std::string& b);
template <class Range>
std::string closest_match(const std::string& word, const Range& candidates) {
  std::string best;
  std::size_t best_d = std::string::npos;
  for (const auto& c : candidates) {
    std::size_t d = edit_distance(word, std::string(c));
    if (d < best_d) {
      best_d = d;
      best = std::string(c);
    }
  }
  // Only suggest when the candidate is plausibly a misspelling.
  if (best_d == std::string::npos || best_d > std::max<std::size_t>(2, word.size() / 2)) return {};
  return best;
}

}  // namespace axsim
