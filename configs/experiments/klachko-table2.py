#!/usr/bin/env python3
"""Experiment c: Klachko et al. 2019 Table II (+ Table IV and a per-layer I_max assignment) on Fashion-MNIST.

Trains the analog-klachko CNN (configs/train/analog-klachko-fashion*.yaml, method `analog`) for every row
of Table II and reads the accuracy under the accurate noise model (shot noise eqs. 1/4 on every layer's
pre-activations + programming noise, Monte Carlo over chips, BN statistics re-estimated under each chip's
noise) from each run's train.json (`analog_eval`), then writes the markdown tables.

Rows trained without noise (baseline, BN outputs, clipping) are trained once and tested at every I_max;
the noise rows are trained at each I_max and tested at the same I_max (as in the paper).
Table IV (per-layer noise sensitivity and power) is measured on the baseline at --sensitivity nA; the
per-layer assignment is searched on the "noise + BN outputs + clipping" model trained at --reference nA.

Usage (from the repo root; standard library only):
  python3 configs/experiments/klachko-table2.py --axsim build/tools/axsim --out runs/klachko-table2 \
      --doc docs/results/klachko-table2.md
Re-running skips finished runs (their train.json has analog_eval). --jobs runs trainings in parallel
(each with one OpenMP thread); every training runs under `nice -n 10`.
"""
import argparse
import concurrent.futures as cf
import datetime
import json
import os
import subprocess
import sys
import time

ROWS = [
    # key, label, BN outputs, noise in training, clipping (learned activation thresholds + first-layer weight clip)
    ("baseline", "Baseline", False, False, False),
    ("bn_outputs", "BN outputs", True, False, False),
    ("clipping", "Clipping", False, False, True),
    ("noise", "Noise", False, True, False),
    ("noise_bn", "Noise + BN outputs", True, True, False),
    ("noise_clip", "Noise + clipping", False, True, True),
    ("noise_bn_clip", "Noise + BN outputs + clipping", True, True, True),
]


def fmt_na(i):
    return f"{i:g}nA"


def plan_runs(a):
    grid = a.i_max
    runs = []
    for key, label, bn, noise, clip in ROWS:
        config = "configs/train/analog-klachko-fashion-bnout.yaml" if bn else "configs/train/analog-klachko-fashion.yaml"
        common = [
            f"seed={a.seed}",
            f"training.epochs={a.epochs}",
            f"training.threads={a.threads}",
            f"data.limit_train={a.limit_train}",
            f"data.limit_test={a.limit_test}",
            f"method.noise={'true' if noise else 'false'}",
            f"method.clip={'true' if clip else 'false'}",
            f"method.alpha={a.alpha}",
            f"method.first_layer_weight_clip={a.weight_clip if clip else 0}",
            f"method.evaluate.limit={a.limit_test}",
            f"method.evaluate.trials={a.trials}",
            f"method.evaluate.seed={a.seed}",
            "method.evaluate.bn_recalibration.data=mnist:data/fashion-mnist:train",
            f"method.evaluate.bn_recalibration.batches={a.bn_batches}",
            "method.evaluate.bn_recalibration.batch=100",
        ]
        if not noise:
            extra = [f"method.i_max={fmt_na(a.penalty_i_max)}",
                     "method.evaluate.i_max=[" + ",".join(fmt_na(i) for i in grid) + "]"]
            if key == "baseline" and a.sensitivity > 0:
                extra.append(f"method.evaluate.sensitivity={fmt_na(a.sensitivity)}")
            runs.append((key, None, config, common + extra))
        else:
            for i in grid:
                extra = [f"method.i_max={fmt_na(i)}", f"method.evaluate.i_max=[{fmt_na(i)}]"]
                if key == "noise_bn_clip" and i == a.reference:
                    extra += [f"method.evaluate.assignment.reference={fmt_na(a.reference)}",
                              f"method.evaluate.assignment.tolerance={a.tolerance}",
                              "method.evaluate.assignment.data=mnist:data/fashion-mnist:train",
                              f"method.evaluate.assignment.limit={a.search_limit}",
                              "method.evaluate.assignment.factor=0.5",
                              "method.evaluate.assignment.rounds=6",
                              f"method.evaluate.assignment.trials={a.trials}"]
                runs.append((key, i, config, common + extra))
    return runs


def run_dir(a, key, i):
    return os.path.join(a.out, key if i is None else f"{key}-{i:g}nA")


def finished(d):
    try:
        load_eval(d)
        return os.path.exists(os.path.join(d, "model.safetensors"))
    except (OSError, ValueError, KeyError, IndexError):
        return False


def execute(a, run):
    key, i, config, overrides = run
    d = run_dir(a, key, i)
    if finished(d):
        return d, 0.0, "skipped (done)"
    cmd = ["nice", "-n", "10", a.axsim, "train", config, "-o", d, "-q"]
    for o in overrides:
        cmd += ["-p", o]
    t0 = time.time()
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "command.txt"), "w") as f:
        f.write(" ".join(cmd) + "\n")
    with open(os.path.join(d, "log.txt"), "w") as log:
        rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
    dt = time.time() - t0
    return d, dt, "ok" if rc == 0 else f"FAILED rc={rc} (see {d}/log.txt)"


def load_eval(d):
    with open(os.path.join(d, "train.json")) as f:
        j = json.load(f)
    return j, j["epochs"][-1]["analog_eval"]


def pct(x):
    return f"{100 * x:.2f}"


def cell(u):
    h = u.get("ci95_half_width")
    return pct(u["accuracy_mean"]) + (f" ± {100 * h:.2f}" if h is not None else "")


def write_doc(a, runs, wall, command):
    grid = a.i_max
    lines = []
    lines.append("# Klachko et al. 2019 Table II on Fashion-MNIST (analog-noise training)\n")
    lines.append(f"- Command: `{command}`")
    lines.append(f"- Date: {datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M UTC')}; wall time of this invocation "
                 f"{wall / 60:.1f} min (runs done by an earlier invocation are reused); 2 shared cores, "
                 f"{a.jobs} training(s) at a time, 1 OpenMP thread each, `nice -n 10`.")
    lines.append(f"- Seed {a.seed} (training, noise and Monte Carlo streams). Network: "
                 "configs/train/analog-klachko-fashion{,-bnout}.yaml (conv5x5x16-pool-conv5x5x32-pool-fc96-fc10, BN after "
                 "conv1/conv2/fc1; widths ~1/4 of the paper's 65/120/390 to fit the time budget).")
    lines.append(f"- Training: {a.epochs} epochs on the first {a.limit_train} Fashion-MNIST training images, Adam lr 0.001 "
                 f"cosine, batch 64, inputs quantized to 4 bits (merged-DAC first layer). Clipping rows: learned "
                 f"per-layer activation thresholds (start: 99th percentile of the first batch), alpha = {a.alpha}, "
                 f"first-layer weights clipped to ±{a.weight_clip}. Rows without noise use I_max = "
                 f"{a.penalty_i_max:g} nA in the threshold penalty.")
    lines.append(f"- Test: first {a.limit_test} test images; accuracy under the accurate noise model: shot noise "
                 f"(eqs. 1, 4 of the paper, models/analog_vmm) in every layer + programming noise "
                 f"U(±0.1 nA / I_max) on the weights; {a.trials} Monte Carlo chips per cell (mean ± 95 % Student-t "
                 f"CI half-width over chips); BN statistics re-estimated under each chip's noise on "
                 f"{a.bn_batches}x100 training images (EMA), as the paper recomputes them when train and test "
                 "distributions differ. I_max is the same in every layer.")
    lines.append("- Scale-downs versus the paper (CIFAR-10, 250 epochs, 5 runs per point, full width): Fashion-MNIST, "
                 "narrow network, few epochs, one training run per cell; so differences smaller than a few CI widths "
                 "are not meaningful.\n")
    lines.append("## Table II: accuracy (%) under the accurate noise model\n")
    lines.append("| Training | noise-free | " + " | ".join(f"{i:g} nA" for i in grid) + " |")
    lines.append("|---|---|" + "---|" * len(grid))
    for key, label, bn, noise, clip in ROWS:
        cells, clean = [], None
        if not noise:
            try:
                _, ev = load_eval(run_dir(a, key, None))
                clean = pct(ev["noise_free_accuracy"])
                by = {round(u["i_max_na"][next(iter(u["i_max_na"]))], 6): u for u in ev["uniform"]}
                cells = [cell(by[round(i, 6)]) if round(i, 6) in by else "n/a" for i in grid]
            except (OSError, KeyError, ValueError):
                cells = ["n/a"] * len(grid)
        else:
            cleans = []
            for i in grid:
                try:
                    _, ev = load_eval(run_dir(a, key, i))
                    cells.append(cell(ev["uniform"][0]))
                    cleans.append(pct(ev["noise_free_accuracy"]))
                except (OSError, KeyError, ValueError):
                    cells.append("n/a")
            clean = "/".join(cleans) if cleans else "n/a"
        lines.append(f"| {label} | {clean} | " + " | ".join(cells) + " |")
    lines.append("\nnoise-free: the same network without noise (noise rows: one value per trained I_max, in column order).\n")
    # Table IV
    try:
        _, ev = load_eval(run_dir(a, "baseline", None))
        s = ev["sensitivity"]
        lines.append(f"## Table IV: per-layer noise sensitivity and power (baseline model, I_max = {s['i_max_na']:g} nA)\n")
        lines.append("Sensitivity = noise-free accuracy minus the accuracy with noise (shot + programming) in that layer only. "
                     "Power = V_dd x total cell current per inference (all output pixels of a convolution), "
                     "mean over the test images, all layers at this I_max.\n")
        lines.append("| Layer | accuracy with noise in this layer only (%) | sensitivity (points) | power (uW) | power share |")
        lines.append("|---|---|---|---|---|")
        for r in s["layers"]:
            lines.append(f"| {r['layer']} | {pct(r['accuracy_mean'])} | {100 * r['accuracy_drop']:.2f} | "
                         f"{1e6 * r['power_w']:.3f} | {100 * r['power_share']:.1f} % |")
        lines.append(f"\nAll layers noisy at {s['i_max_na']:g} nA: {cell(s['all_layers'])} %, total power "
                     f"{1e6 * s['all_layers']['total_power_w']:.3f} uW.\n")
    except (OSError, KeyError, ValueError) as e:
        lines.append(f"## Table IV\n\nnot available ({e})\n")
    # Assignment
    try:
        _, ev = load_eval(run_dir(a, "noise_bn_clip", a.reference))
        s = ev["assignment"]
        ref, found = s["uniform_reference_test"], s["per_layer_test"]
        lines.append(f"## Per-layer I_max assignment (noise + BN outputs + clipping model trained at {a.reference:g} nA)\n")
        lines.append(f"Greedy search (halve one layer's I_max at a time, keep the step that saves the most power) on "
                     f"{s['search_samples']} training images; target = accuracy at uniform {s['reference_i_max_na']:g} nA "
                     f"on those images minus {100 * s['tolerance']:.1f} points "
                     f"({pct(s['target_accuracy_on_search_data'])} %); reached {pct(s['found_accuracy_on_search_data'])} %. "
                     "Reported on the test images:\n")
        names = list(ref["i_max_na"].keys())
        lines.append("| Assignment | " + " | ".join(f"{n} I_max (nA)" for n in names) + " | accuracy (%) | power (uW) |")
        lines.append("|---|" + "---|" * len(names) + "---|---|")
        for label, r in (("uniform", ref), ("per-layer (found)", found)):
            lines.append(f"| {label} | " + " | ".join(f"{r['i_max_na'][n]:g}" for n in names) +
                         f" | {cell(r)} | {1e6 * r['total_power_w']:.3f} |")
        lines.append("")
    except (OSError, KeyError, ValueError) as e:
        lines.append(f"## Per-layer assignment\n\nnot available ({e})\n")
    os.makedirs(os.path.dirname(a.doc) or ".", exist_ok=True)
    with open(a.doc, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--axsim", default="build/tools/axsim")
    p.add_argument("--out", default="runs/klachko-table2")
    p.add_argument("--doc", default="docs/results/klachko-table2.md")
    p.add_argument("--i-max", default="1,3,5,10,20,50,100", help="I_max grid in nA (comma separated)")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--limit-train", type=int, default=20000)
    p.add_argument("--limit-test", type=int, default=10000)
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--bn-batches", type=int, default=10)
    p.add_argument("--alpha", type=float, default=0.01)
    p.add_argument("--weight-clip", type=float, default=0.3)
    p.add_argument("--penalty-i-max", type=float, default=10.0)
    p.add_argument("--sensitivity", type=float, default=10.0)
    p.add_argument("--reference", type=float, default=10.0)
    p.add_argument("--tolerance", type=float, default=0.01)
    p.add_argument("--search-limit", type=int, default=2000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--table-only", action="store_true", help="only rewrite the markdown from finished runs")
    a = p.parse_args()
    a.i_max = [float(x) for x in a.i_max.split(",")]
    command = "python3 " + " ".join(sys.argv)
    t0 = time.time()
    if not a.table_only:
        runs = plan_runs(a)
        # Longest first: noise rows at low I_max and the assignment run take longer to evaluate.
        with cf.ThreadPoolExecutor(max_workers=a.jobs) as pool:
            for d, dt, status in pool.map(lambda r: execute(a, r), runs):
                print(f"{d}: {status} ({dt / 60:.1f} min)", flush=True)
    write_doc(a, None, time.time() - t0, command)
    print(a.doc)


if __name__ == "__main__":
    main()
