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
# Until the full train -> simulate -> report job lands, the demonstration is the hardware models:
# what undervolting the weight SRAM does to bit errors and energy.
exec "$build/tools/axsim" model sweep "$@"
