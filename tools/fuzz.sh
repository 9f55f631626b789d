#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ in a separate clang tree (build-fuzz: ASan + UBSan +
# libFuzzer coverage) and runs each one for a given time, niced so it only uses idle CPU.
#
#   tools/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     default 600 s (10 min), every target
#   FUZZ_JOBS=2 tools/fuzz.sh 600                       run two targets at a time
#   tools/fuzz.sh --build-only [TARGET...]              configure and build, run nothing
#   tools/fuzz.sh --run-only [SECONDS] [TARGET...]      run targets already built (e.g. while others build)
#
# Targets: idx arff csv safetensors deploy train_config technology hw_config schedule experiment.
# Seeds come from tests/fuzz/corpus/<target>/ (kept in git); inputs the fuzzer finds go to
# build-fuzz/corpus/<target>/ (not in git) and crashes to build-fuzz/crashes/<target>/. A crash makes
# the script exit 1 after all targets ran: fix it, copy the input into tests/fuzz/corpus/<target>/,
# and add a regression unit test in the ordinary suite (tests/workloads/data, tests/workloads/artifact...).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
build=${AXSIM_FUZZ_BUILD_DIR:-build-fuzz}
all_targets=(idx arff csv safetensors deploy train_config technology hw_config schedule experiment)

build_only=0
run_only=0
seconds=600
if [[ ${1:-} == --build-only ]]; then
  build_only=1
  shift
elif [[ ${1:-} == --run-only ]]; then
  run_only=1
  shift
fi
if [[ ${1:-} =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${all_targets[@]}")

command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (apt-get install clang)" >&2; exit 2; }
flags="-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Fuzz -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
    -DAXSIM_BUILD_TESTS=ON -DAXSIM_BUILD_BENCH=OFF -DAXSIM_BUILD_FUZZ=ON >/dev/null
fi
[[ $run_only == 1 ]] || nice -n 10 cmake --build "$build" -j "${FUZZ_BUILD_JOBS:-2}" --target $(printf 'fuzz_%s ' "${targets[@]}")
[[ $build_only == 1 ]] && exit 0

run_one() {
  local t=$1 work="$build/corpus/$1" crashes="$build/crashes/$1/"
  mkdir -p "$work" "$crashes"
  # -malloc_limit_mb: any single allocation above 1 GiB is a finding (bounds must be checked first);
  # -timeout: one input taking over 10 s is a hang. -fork=1 with -ignore_*: keep fuzzing after a
  # finding for the whole time, so one known bug does not hide the next; every finding is saved.
  local rc=0
  nice -n 15 "$build/tests/fuzz/fuzz_$t" "$work" "tests/fuzz/corpus/$t" -max_total_time="$seconds" \
    -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
    -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 -artifact_prefix="$crashes" \
    >"$build/fuzz_$t.log" 2>&1 || rc=$?
  local last findings
  last=$(grep -E '^#[0-9]+: cov' "$build/fuzz_$t.log" | tail -1)
  findings=$(find "$crashes" -type f | wc -l)
  echo "fuzz_$t: ${seconds}s, last status: ${last:-none}, $findings finding(s) in $crashes"
  [[ $findings == 0 && $rc == 0 ]]
}

export -f run_one
export build seconds
failed=0
printf '%s\n' "${targets[@]}" | xargs -P "${FUZZ_JOBS:-1}" -I{} bash -c 'run_one {}' || failed=1
if [[ $failed == 1 ]]; then
  echo "fuzz.sh: crashes found, see $build/crashes/" >&2
  exit 1
fi
