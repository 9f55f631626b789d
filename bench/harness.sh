#!/usr/bin/env bash
# Side-by-side throughput benchmark: axsim's embedded trainer vs PyTorch on CPU, in ONE run on this
# machine, same networks, batches, optimizers and thread count (DESIGN.md section 8). Runs each side
# in turn (never both at once: they would share the cores), collects both JSON outputs into one file and
# prints axsim / PyTorch ratios keyed by workload name (ratio > 1: axsim is faster).
#
#   bench/harness.sh [-o FILE] [--threads N] [--rounds R] [--quick] [--install] [--wait-idle SEC]
#                    [--torch-only | --axsim-only] [--axsim-bin PATH] [--torch-args "ARGS"]
#
# PyTorch side: Debian's python3-torch under /usr/bin/python3 (the pyenv `python3` on PATH has no
# torch), with OpenBLAS (libopenblas0-openmp) instead of the slow reference BLAS. Installs nothing
# unless --install is given; if torch is not importable it prints "PyTorch side skipped: <reason>".
# --rounds R (default 3): run the two sides R times, alternating which goes first, and report per workload
# the median of the R per-round ratios with their range. This shared VM's speed drifts by up to ~30 % over
# minutes (both sides alike), so one ratio from one pair of runs is not a measurement; the median of
# rounds taken back to back is. --quick: short timings (smoke run). --wait-idle SEC: wait up to SEC for other processes to leave the
# CPU before each side. Environment: TORCH_PYTHON (default /usr/bin/python3), AXSIM_BENCH_BIN (default
# build/bench/axsim_bench_e2e), AXSIM_BENCH_ARGS (default --json; --threads N is appended).
# Exit 1 if a side that ran failed.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out="$top/bench/last_run.json"
threads=2
install=0
quick=0
run_torch=1
run_axsim=1
wait_idle=0
rounds=3
axsim_bin="${AXSIM_BENCH_BIN:-$top/build/bench/axsim_bench_e2e}"
axsim_args="${AXSIM_BENCH_ARGS:---json}"  # --threads N is appended (same count as the PyTorch side)
torch_args=""
torch_python="${TORCH_PYTHON:-/usr/bin/python3}"
openblas_dir=/usr/lib/x86_64-linux-gnu/openblas-openmp

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }

while [ $# -gt 0 ]; do
  case "$1" in
    -o) out="${2:?-o needs a file name}"; shift 2 ;;
    --threads) threads="${2:?--threads needs a number}"; shift 2 ;;
    --rounds) rounds="${2:?--rounds needs a number}"; shift 2 ;;
    --quick) quick=1; shift ;;
    --install) install=1; shift ;;
    --wait-idle) wait_idle="${2:?--wait-idle needs seconds}"; shift 2 ;;
    --torch-only) run_axsim=0; shift ;;
    --axsim-only) run_torch=0; shift ;;
    --axsim-bin) axsim_bin="${2:?--axsim-bin needs a path}"; shift 2 ;;
    --torch-args) torch_args="${2?--torch-args needs a string}"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "harness.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$threads" in '' | *[!0-9]* | 0) echo "harness.sh: --threads expects a positive integer, found '$threads'" >&2; exit 2 ;; esac
case "$rounds" in '' | *[!0-9]* | 0) echo "harness.sh: --rounds expects a positive integer, found '$rounds'" >&2; exit 2 ;; esac
case "$wait_idle" in '' | *[!0-9]*) echo "harness.sh: --wait-idle expects whole seconds, found '$wait_idle'" >&2; exit 2 ;; esac

# A JSON-capable tool for the probe, the merge and the table: any python3 (json module only), else jq.
if [ -x "$torch_python" ]; then json_py="$torch_python"; elif command -v python3 >/dev/null; then json_py=python3; else json_py=""; fi
have_jq=0; command -v jq >/dev/null && have_jq=1

work=$(mktemp -d "${TMPDIR:-/tmp}/axsim_harness.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ "$install" = 1 ]; then
  echo "Installing python3-torch and libopenblas0-openmp (apt-get)..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch libopenblas0-openmp
fi

# Fraction of CPU time (all cores) spent busy over one second, from /proc/stat. A benchmark on a
# busy machine is meaningless (2-thread OpenMP code stalls when another process holds a core).
busy_fraction() {
  local a b
  read -ra a </proc/stat; sleep 1; read -ra b </proc/stat
  local idle=$(( (b[4] + b[5]) - (a[4] + a[5]) )) total=0 i
  for i in 1 2 3 4 5 6 7 8; do total=$(( total + b[i] - a[i] )); done
  [ "$total" -gt 0 ] || total=1
  echo "$(( 100 * (total - idle) / total ))"
}

# Waits (up to --wait-idle seconds) until the other processes leave the cores alone (three quiet
# seconds in a row: builds come in bursts), then reports.
check_idle() {
  local side=$1 round=$2 waited=0 busy quiet=0
  while :; do
    busy=$(busy_fraction); waited=$((waited + 1))
    if [ "$busy" -le 10 ]; then quiet=$((quiet + 1)); else quiet=0; fi
    if [ "$quiet" -ge 3 ] || [ "$waited" -ge "$wait_idle" ]; then break; fi
  done
  echo "$busy" >"$work/busy_$side.$round"
  if [ "$busy" -gt 10 ]; then
    echo "WARNING: machine is ${busy}% busy before the $side run (other processes); its numbers will be low." \
      "Use --wait-idle SEC or rerun on a quiet machine." >&2
  fi
}

# ---------------------------------------------------------------- PyTorch side
torch_env=(env "LD_LIBRARY_PATH=$openblas_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "OMP_NUM_THREADS=$threads")

# OpenBLAS 0.3.21 picks its kernels from the CPU id; on CPUs it does not know it falls back to slow
# generic kernels, and OPENBLAS_CORETYPE forces a choice. Forcing a core the CPU cannot run (SkylakeX
# without AVX-512) dies with SIGILL, so pick from the CPU flags only when auto-detection failed.
pick_coretype() {
  local flags
  flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
  if [[ " $flags " == *" avx512f "* && " $flags " == *" avx512bw "* ]]; then echo SkylakeX
  elif [[ " $flags " == *" avx2 "* ]]; then
    if grep -q -m1 AuthenticAMD /proc/cpuinfo; then echo Zen; else echo Haswell; fi
  else echo ""; fi
}

torch_skip=""
torch_probe() {  # prints the probe JSON to $work/probe.json; returns the probe's exit status
  local rc=0
  # Subshell + trailing `true`: a crash (SIGILL) is reported through rc, not as a shell job message.
  ("${torch_env[@]}" "$torch_python" "$top/bench/pytorch/bench_torch.py" --probe --threads "$threads" \
    >"$work/probe.json"; rc=$?; exit $rc) 2>"$work/probe.err" || rc=$?
  return $rc
}

probe_field() {  # probe_field EXPR: python expression over the probe dict `p`
  "$json_py" -c "import json,sys; p=json.load(open(sys.argv[1])); print($1)" "$work/probe.json"
}

prepare_torch() {
  if [ ! -x "$torch_python" ]; then torch_skip="$torch_python not found (Debian's python3-torch needs it)"; return; fi
  if ! "$torch_python" -c "import torch" 2>"$work/import.err"; then
    torch_skip="torch not importable by $torch_python ($(tail -1 "$work/import.err")); run bench/harness.sh --install"
    return
  fi
  local rc=0
  torch_probe || rc=$?
  if [ "$rc" = 132 ]; then
    torch_skip="OpenBLAS died with an illegal instruction: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-} uses instructions this CPU lacks (try Haswell or Zen, or unset it)"
    return
  elif [ "$rc" != 0 ]; then
    torch_skip="probe failed (exit $rc): $(tail -2 "$work/probe.err" | tr '\n' ' ')"
    return
  fi
  local core
  core=$(probe_field "(p['environment']['openblas'] or {}).get('corename', 'none')")
  if [ "$core" = none ]; then
    echo "WARNING: torch is not using OpenBLAS (reference BLAS is ~30x slower); install libopenblas0-openmp (--install)." >&2
  elif [ -z "${OPENBLAS_CORETYPE:-}" ]; then
    case "$core" in
      Prescott | Katmai | Coppermine | Northwood | Banias | Core2 | Penryn | Dunnington | Nehalem | Atom | Unknown | unknown)
        local forced
        forced=$(pick_coretype)
        if [ -n "$forced" ]; then
          echo "OpenBLAS did not recognise this CPU (chose '$core'); forcing OPENBLAS_CORETYPE=$forced." >&2
          torch_env+=("OPENBLAS_CORETYPE=$forced")
          rc=0; torch_probe || rc=$?
          if [ "$rc" != 0 ]; then torch_skip="probe with OPENBLAS_CORETYPE=$forced failed (exit $rc)"; return; fi
        fi ;;
    esac
  fi
  echo "PyTorch: $(probe_field "p['environment']['torch']"), OpenBLAS core" \
    "$(probe_field "(p['environment']['openblas'] or {}).get('corename', 'none')"), 1024^3 matmul" \
    "$(probe_field "p['matmul_probe']['ms']") ms ($(probe_field "p['matmul_probe']['gflops']") GFLOP/s)"
}

torch_status="not run"
if [ "$run_torch" = 1 ]; then
  if [ -z "$json_py" ]; then torch_skip="$torch_python not found and no python3 on PATH"; else prepare_torch; fi
  if [ -n "$torch_skip" ]; then
    echo "PyTorch side skipped: $torch_skip"
    torch_status="skipped: $torch_skip"
  else
    torch_status="ok"
  fi
fi
quick_args=()
[ "$quick" = 1 ] && quick_args=(--seconds 1.5 --repeats 1 --warmup 3 --lut-seconds 1)

run_torch_round() {  # run_torch_round R: writes $work/pytorch.R.json, or marks the side failed
  check_idle pytorch "$1"
  echo "Round $1/$rounds, PyTorch side: ${torch_env[*]:1} $torch_python bench/pytorch/bench_torch.py --threads $threads ${quick_args[*]} $torch_args"
  local rc=0
  # shellcheck disable=SC2086  # torch_args is a user-given argument string, split into words on purpose
  (cd "$top" && "${torch_env[@]}" "$torch_python" bench/pytorch/bench_torch.py --threads "$threads" \
    --data-dir "$top/data/mnist" "${quick_args[@]}" $torch_args >"$work/pytorch.$1.json") || rc=$?
  if [ "$rc" != 0 ]; then torch_status="failed (exit $rc)"; rm -f "$work/pytorch.$1.json"; fi
}

# ---------------------------------------------------------------- axsim side
# The end-to-end axsim benchmark must print ONE JSON object on stdout:
#   {"workloads": {"mlp_train": {"value": <samples/s>, "unit": "samples/s"}, ...}}
# (a list [{"name": "mlp_train", "value": ..., "unit": ...}, ...] is accepted too) using the same
# workload names as bench/pytorch/bench_torch.py: mlp_train, mlp_infer, lenet_train, mc_flip, drum_infer.
axsim_status="not run"
if [ "$run_axsim" = 1 ]; then
  if [ ! -x "$axsim_bin" ]; then
    axsim_status="skipped: $axsim_bin not built (cmake --build build --target $(basename "$axsim_bin"))"
    echo "axsim side skipped: $axsim_bin not built"
  else
    axsim_status="ok"
  fi
fi

run_axsim_round() {  # run_axsim_round R: writes $work/axsim.R.json, or marks the side failed
  check_idle axsim "$1"
  echo "Round $1/$rounds, axsim side: OMP_NUM_THREADS=$threads $axsim_bin $axsim_args --threads $threads"
  local rc=0
  # shellcheck disable=SC2086  # axsim_args is an argument string, split into words on purpose
  (cd "$top" && OMP_NUM_THREADS="$threads" "$axsim_bin" $axsim_args --threads "$threads" >"$work/axsim.$1.json") || rc=$?
  if [ "$rc" != 0 ]; then axsim_status="failed (exit $rc)"; rm -f "$work/axsim.$1.json"; fi
}

# Rounds alternate which side goes first, so a slow drift of the machine's speed does not favour one side.
for ((round = 1; round <= rounds; round++)); do
  if ((round % 2 == 1)); then order=(torch axsim); else order=(axsim torch); fi
  for side in "${order[@]}"; do
    if [ "$side" = torch ] && [ "$torch_status" = ok ]; then run_torch_round "$round"; fi
    if [ "$side" = axsim ] && [ "$axsim_status" = ok ]; then run_axsim_round "$round"; fi
  done
done

# ---------------------------------------------------------------- merge + ratio table
mkdir -p "$(dirname "$out")"
if [ -n "$json_py" ]; then
  merge_rc=0
  "$json_py" - "$work" "$out" "$torch_status" "$axsim_status" "$threads" "$rounds" <<'PY' || merge_rc=$?
import json, os, sys, datetime, statistics
work, out, torch_status, axsim_status, threads, rounds = sys.argv[1:7]
rounds = int(rounds)

def load(path):
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except ValueError as err:
        print(f"WARNING: {path}: invalid JSON on stdout: {err}")
        return None

def busy(side, r):
    try:
        return int(open(os.path.join(work, f"busy_{side}.{r}")).read())
    except (OSError, ValueError):
        return None

per_round = [{"round": r, "pytorch": load(os.path.join(work, f"pytorch.{r}.json")) if torch_status == "ok" else None,
              "axsim": load(os.path.join(work, f"axsim.{r}.json")) if axsim_status == "ok" else None,
              "busy_percent_before": {"pytorch": busy("pytorch", r), "axsim": busy("axsim", r)}}
             for r in range(1, rounds + 1)]
if torch_status == "ok" and not any(x["pytorch"] for x in per_round):
    torch_status = "failed (no valid output)"
if axsim_status == "ok" and not any(x["axsim"] for x in per_round):
    axsim_status = "failed (no valid output)"

def workloads(side):
    """name -> entry; accepts {"workloads": {name: {...}}} or {"workloads": [{"name": ..., ...}]}."""
    w = (side or {}).get("workloads", {})
    if isinstance(w, list):
        w = {e.get("name"): e for e in w if isinstance(e, dict)}
    return {k: v for k, v in w.items() if isinstance(v, dict)}

def number(entry):
    v = (entry or {}).get("value")
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None

def rows_of_round(torch, axsim):
    """label -> (axsim value, pytorch value, ratio or None, unit, note) for one round."""
    tw, aw = workloads(torch), workloads(axsim)
    result = {}
    for name in list(tw) + [n for n in aw if n not in tw]:
        t, a = tw.get(name), aw.get(name)
        candidates = [(name, t)]
        for variant, entry in ((t or {}).get("variants") or {}).items():
            if variant == (t or {}).get("headline_variant"):
                continue  # same numbers as the headline row
            candidates.append((f"{name} (pytorch {variant})", entry))
        for label, t_entry in candidates:
            tv, av = number(t_entry), number(a)
            unit = (t_entry or a or {}).get("unit", "")
            ratio, note = None, ""
            if tv and av is not None:
                if a.get("unit") and t_entry.get("unit") and a["unit"] != t_entry["unit"]:
                    note = f"units differ: {a['unit']} vs {t_entry['unit']}"
                else:
                    higher = t_entry.get("higher_is_better", True)
                    ratio = av / tv if higher else tv / av
            result[label] = (av, tv, ratio, unit, note)
    return result

round_rows = [rows_of_round(x["pytorch"], x["axsim"]) for x in per_round]
labels = []
for rr in round_rows:
    labels += [label for label in rr if label not in labels]

def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None

summary = {}
for label in labels:
    entries = [rr[label] for rr in round_rows if label in rr]
    ratios = [e[2] for e in entries if e[2] is not None]
    summary[label] = {
        "axsim": median([e[0] for e in entries]), "pytorch": median([e[1] for e in entries]),
        "ratio_axsim_over_pytorch": median(ratios),  # median of the per-round ratios (same-round pairs only)
        "ratio_min": min(ratios) if ratios else None, "ratio_max": max(ratios) if ratios else None,
        "ratios_per_round": ratios, "unit": entries[0][3], "note": next((e[4] for e in entries if e[4]), None)}

merged = {
    "harness": {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "threads": int(threads), "rounds": rounds,
                "status": {"pytorch": torch_status, "axsim": axsim_status}},
    "rounds": per_round, "ratios": summary,
}
tmp = out + ".tmp." + str(os.getpid())
with open(tmp, "w") as f:
    json.dump(merged, f, indent=1)
    f.write("\n")
os.replace(tmp, out)

def fmt(v):
    return "-" if v is None else (f"{v:,.1f}" if v >= 100 else f"{v:.3g}")

print(f"\npytorch: {torch_status}   axsim: {axsim_status}   threads: {threads}   rounds: {rounds}"
      " (values and ratio: medians over rounds; range: min-max of the per-round ratios)")
if labels:
    width = max(len(label) for label in labels)
    print(f"{'workload':<{width}}  {'axsim':>12}  {'pytorch':>12}  {'axsim/pytorch':>13}  {'range':>13}  unit")
    for label in labels:
        e = summary[label]
        ratio = e["ratio_axsim_over_pytorch"]
        span = "-" if ratio is None else f"{e['ratio_min']:.2f}-{e['ratio_max']:.2f}"
        print(f"{label:<{width}}  {fmt(e['axsim']):>12}  {fmt(e['pytorch']):>12}  "
              f"{('-' if ratio is None else f'{ratio:.2f}x'):>13}  {span:>13}  {e['unit']}"
              + (f"  ({e['note']})" if e["note"] else ""))
warnings = set()
for x in per_round:
    for side in ("pytorch", "axsim"):
        warnings.update((x[side] or {}).get("warnings", []))
        if (x["busy_percent_before"][side] or 0) > 10:
            warnings.add(f"round {x['round']}: machine {x['busy_percent_before'][side]}% busy before the {side} side")
for warning in sorted(warnings):
    print(f"WARNING: {warning}")
print(f"results: {out}")
sys.exit(1 if any(s.startswith(("failed", "invalid")) for s in (torch_status, axsim_status)) else 0)
PY
  exit "$merge_rc"  # 1 when a side that ran failed or printed invalid JSON
elif [ "$have_jq" = 1 ]; then
  jq -n --arg torch_status "$torch_status" --arg axsim_status "$axsim_status" \
    --slurpfile t <(cat "$work/pytorch.1.json" 2>/dev/null || echo null) \
    --slurpfile a <(cat "$work/axsim.1.json" 2>/dev/null || echo null) \
    '{harness: {status: {pytorch: $torch_status, axsim: $axsim_status}}, pytorch: $t[0], axsim: $a[0]}' >"$out.tmp.$$"
  mv "$out.tmp.$$" "$out"
  echo "results: $out (no python3 for the ratio table)"
else
  echo "harness.sh: neither python3 nor jq found; cannot merge results" >&2
  exit 1
fi

case "$torch_status $axsim_status" in *failed*) exit 1 ;; esac
exit 0
