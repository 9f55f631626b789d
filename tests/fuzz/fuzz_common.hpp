// Shared by the libFuzzer targets (docs/robustness.md). The contract every parser must keep on
// arbitrary bytes: return a value or throw axsim::InputError. Anything else -- a crash, a sanitizer
// report, another exception type (which the CLI would report as an internal error, exit 1), a hang
// or an allocation beyond libFuzzer's -malloc_limit_mb -- is a finding.
#pragma once

// libFuzzer calls LLVMFuzzerTestOneInput; the corpus replay test (test_fuzz_replay.cpp) links every
// target into one binary, each entry renamed to axsim_fuzz_<target> by CMake.
#ifndef AXSIM_FUZZ_ENTRY
#define AXSIM_FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace axsim::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Runs `parse`; InputError is the expected outcome for bad input. Any other exception aborts with
// its message so libFuzzer records the input as a crash. AXSIM_FUZZ_VERBOSE=1 prints each InputError
// (to see which seeds a parser accepts: `AXSIM_FUZZ_VERBOSE=1 fuzz_<target> tests/fuzz/corpus/<target>/*`).
template <class Fn>
void expect_value_or_input_error(Fn&& parse) {
  static const bool verbose = std::getenv("AXSIM_FUZZ_VERBOSE") != nullptr;
  try {
    parse();
  } catch (const InputError& e) {
    if (verbose) std::fprintf(stderr, "fuzz: InputError: %s\n", e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz: parser threw a non-InputError exception: %s\n", e.what());
    std::abort();
  }
}

// For round-trip oracles: a value the parser accepted, written back out, must parse again.
[[noreturn]] inline void round_trip_failed(const std::string& what) {
  std::fprintf(stderr, "fuzz: round trip failed: %s\n", what.c_str());
  std::abort();
}

}  // namespace axsim::fuzz
