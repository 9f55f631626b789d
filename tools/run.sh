#!/usr/bin/env bash
# The README's main command: set up a fresh machine, build, and run the main job on its default.
# Extra arguments are passed to the main job.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
tools/setup.sh
build=${AXSIM_BUILD_DIR:-build}
[ -f "$build/CMakeCache.txt" ] || cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target axsim >/dev/null
# The default experiment (configs/experiments/default.yaml): train with the erasure regularizer, deploy,
# simulate under four weight-SRAM voltage assignments, write runs/default/report.html. Re-running it resumes
# (finished points are kept); `tools/run.sh EXPERIMENT.yaml` runs another experiment.
exec "$build/tools/axsim" run "$@"
