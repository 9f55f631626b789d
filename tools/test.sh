#!/usr/bin/env bash
# Builds axsim and runs every test: the README's test command and what CI runs.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
tools/setup.sh
build=${AXSIM_BUILD_DIR:-build}
[ -f "$build/CMakeCache.txt" ] || cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)"
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" --timeout 900

# The unit suites again under AddressSanitizer + UndefinedBehaviorSanitizer (CMakePresets.json, preset asan):
# parsers, kernels, the trainer and the fuzz-found inputs. test_sim/test_tools are left out to keep CI short.
[ -f build-asan/CMakeCache.txt ] || cmake --preset asan >/dev/null
cmake --build build-asan -j "$(nproc)" --target test_core test_models test_workloads test_fuzz
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in core/test_core models/test_models workloads/test_workloads fuzz/test_fuzz; do
  echo "sanitized: $t"
  "build-asan/tests/$t" --gtest_brief=1
done
