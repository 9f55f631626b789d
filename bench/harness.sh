#!/usr/bin/env bash
# Side-by-side throughput benchmark: axsim's embedded trainer vs PyTorch on CPU, in ONE run on this
# machine, same networks, batches, optimizers and thread count (DESIGN.md section 8). Runs each side
# in turn (never both at once: they would share the cores), collects both JSON outputs into one file and
# prints axsim / PyTorch ratios keyed by workload name (ratio > 1: axsim is faster).
#
#   bench/harness.sh [-o FILE] [--threads N] [--quick] [--install] [--wait-idle SEC]
#                    [--torch-only | --axsim-only] [--axsim-bin PATH] [--torch-args "ARGS"]
#
# PyTorch side: Debian's python3-torch under /usr/bin/python3 (the pyenv `python3` on PATH has no
# torch), with OpenBLAS (libopenblas0-openmp) instead of the slow reference BLAS. Installs nothing
# unless --install is given; if torch is not importable it prints "PyTorch side skipped: <reason>".
# --quick: short timings (smoke run). --wait-idle SEC: wait up to SEC for other processes to leave the
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
  local side=$1 waited=0 busy quiet=0
  while :; do
    busy=$(busy_fraction); waited=$((waited + 1))
    if [ "$busy" -le 10 ]; then quiet=$((quiet + 1)); else quiet=0; fi
    if [ "$quiet" -ge 3 ] || [ "$waited" -ge "$wait_idle" ]; then break; fi
  done
  echo "$busy" >"$work/busy_$side"
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
    check_idle pytorch
    quick_args=()
    [ "$quick" = 1 ] && quick_args=(--seconds 1.5 --repeats 1 --warmup 3 --lut-seconds 1)
    echo "Running PyTorch side: ${torch_env[*]:1} $torch_python bench/pytorch/bench_torch.py --threads $threads ${quick_args[*]} $torch_args"
    rc=0
    # shellcheck disable=SC2086  # torch_args is a user-given argument string, split into words on purpose
    (cd "$top" && "${torch_env[@]}" "$torch_python" bench/pytorch/bench_torch.py --threads "$threads" \
      --data-dir "$top/data/mnist" "${quick_args[@]}" $torch_args >"$work/pytorch.json") || rc=$?
    if [ "$rc" = 0 ]; then torch_status="ok"; else torch_status="failed (exit $rc)"; rm -f "$work/pytorch.json"; fi
  fi
fi

# ---------------------------------------------------------------- axsim side
# HOOK: the lead wires the end-to-end axsim benchmark here. It must print ONE JSON object on stdout:
#   {"workloads": {"mlp_train": {"value": <samples/s>, "unit": "samples/s"}, ...}}
# (a list [{"name": "mlp_train", "value": ..., "unit": ...}, ...] is accepted too) using the same
# workload names as bench/pytorch/bench_torch.py: mlp_train, mlp_infer, lenet_train, mc_flip, drum_infer.
axsim_status="not run"
if [ "$run_axsim" = 1 ]; then
  if [ ! -x "$axsim_bin" ]; then
    axsim_status="skipped: $axsim_bin not built (cmake --build build --target $(basename "$axsim_bin"))"
    echo "axsim side skipped: $axsim_bin not built"
  else
    check_idle axsim
    echo "Running axsim side: OMP_NUM_THREADS=$threads $axsim_bin $axsim_args --threads $threads"
    rc=0
    # shellcheck disable=SC2086  # axsim_args is an argument string, split into words on purpose
    (cd "$top" && OMP_NUM_THREADS="$threads" "$axsim_bin" $axsim_args --threads "$threads" >"$work/axsim.json") || rc=$?
    if [ "$rc" = 0 ]; then axsim_status="ok"; else axsim_status="failed (exit $rc)"; rm -f "$work/axsim.json"; fi
  fi
fi

# ---------------------------------------------------------------- merge + ratio table
mkdir -p "$(dirname "$out")"
busy_torch=$(cat "$work/busy_pytorch" 2>/dev/null || echo null)
busy_axsim=$(cat "$work/busy_axsim" 2>/dev/null || echo null)
if [ -n "$json_py" ]; then
  merge_rc=0
  "$json_py" - "$work" "$out" "$torch_status" "$axsim_status" "$threads" "$busy_torch" "$busy_axsim" <<'PY' || merge_rc=$?
import json, os, sys, datetime
work, out, torch_status, axsim_status, threads, busy_t, busy_a = sys.argv[1:8]

def load(name, status):
    path = os.path.join(work, name)
    if status != "ok" or not os.path.exists(path):
        return None, status
    try:
        with open(path) as f:
            return json.load(f), status
    except ValueError as err:
        return None, f"invalid JSON on stdout: {err}"

torch, torch_status = load("pytorch.json", torch_status)
axsim, axsim_status = load("axsim.json", axsim_status)

def workloads(side):
    """name -> entry; accepts {"workloads": {name: {...}}} or {"workloads": [{"name": ..., ...}]}."""
    w = (side or {}).get("workloads", {})
    if isinstance(w, list):
        w = {e.get("name"): e for e in w if isinstance(e, dict)}
    return {k: v for k, v in w.items() if isinstance(v, dict)}

def number(entry):
    v = entry.get("value")
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None

tw, aw = workloads(torch), workloads(axsim)
rows, ratios = [], {}
for name in list(tw) + [n for n in aw if n not in tw]:
    t, a = tw.get(name), aw.get(name)
    candidates = [(name, t)]
    for variant, entry in ((t or {}).get("variants") or {}).items():
        if variant == (t or {}).get("headline_variant"):
            continue  # same numbers as the headline row
        candidates.append((f"{name} (pytorch {variant})", entry))
    for label, t_entry in candidates:
        tv = number(t_entry) if t_entry else None
        av = number(a) if a else None
        unit = (t_entry or a or {}).get("unit", "")
        ratio = None
        note = ""
        if tv and av is not None:
            if a.get("unit") and t_entry.get("unit") and a["unit"] != t_entry["unit"]:
                note = f"units differ: {a['unit']} vs {t_entry['unit']}"
            else:
                higher = t_entry.get("higher_is_better", True)
                ratio = av / tv if higher else tv / av
        rows.append((label, av, tv, ratio, unit, note))
        ratios[label] = {"axsim": av, "pytorch": tv, "ratio_axsim_over_pytorch": ratio, "unit": unit, "note": note or None}

merged = {
    "harness": {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "threads": int(threads), "busy_percent_before": {"pytorch": json.loads(busy_t), "axsim": json.loads(busy_a)},
                "status": {"pytorch": torch_status, "axsim": axsim_status}},
    "pytorch": torch, "axsim": axsim, "ratios": ratios,
}
tmp = out + ".tmp." + str(os.getpid())
with open(tmp, "w") as f:
    json.dump(merged, f, indent=1)
    f.write("\n")
os.replace(tmp, out)

def fmt(v):
    return "-" if v is None else (f"{v:,.1f}" if v >= 100 else f"{v:.3g}")

print(f"\npytorch: {torch_status}   axsim: {axsim_status}   threads: {threads}")
if rows:
    width = max(len(r[0]) for r in rows)
    print(f"{'workload':<{width}}  {'axsim':>12}  {'pytorch':>12}  {'axsim/pytorch':>13}  unit")
    for label, av, tv, ratio, unit, note in rows:
        print(f"{label:<{width}}  {fmt(av):>12}  {fmt(tv):>12}  {('-' if ratio is None else f'{ratio:.2f}x'):>13}  {unit}"
              + (f"  ({note})" if note else ""))
for warning in (torch or {}).get("warnings", []) + (axsim or {}).get("warnings", []):
    print(f"WARNING: {warning}")
print(f"results: {out}")
sys.exit(1 if any(s.startswith(("failed", "invalid")) for s in (torch_status, axsim_status)) else 0)
PY
  exit "$merge_rc"  # 1 when a side that ran failed or printed invalid JSON
elif [ "$have_jq" = 1 ]; then
  jq -n --arg torch_status "$torch_status" --arg axsim_status "$axsim_status" \
    --slurpfile t <(cat "$work/pytorch.json" 2>/dev/null || echo null) \
    --slurpfile a <(cat "$work/axsim.json" 2>/dev/null || echo null) \
    '{harness: {status: {pytorch: $torch_status, axsim: $axsim_status}}, pytorch: $t[0], axsim: $a[0]}' >"$out.tmp.$$"
  mv "$out.tmp.$$" "$out"
  echo "results: $out (no python3 for the ratio table)"
else
  echo "harness.sh: neither python3 nor jq found; cannot merge results" >&2
  exit 1
fi

case "$torch_status $axsim_status" in *failed*) exit 1 ;; esac
exit 0
