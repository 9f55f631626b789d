#!/usr/bin/env python3
"""Epoch cost of a hardware-aware training method against the same network trained plainly, in one run.

For each pair, trains the plain recipe and the method recipe alternately (--rounds times each, --epochs
epochs, one OpenMP thread unless --threads), reads the per-epoch `seconds` of every train.json and prints
the median epoch time of each side and their ratio. Alternating puts both sides under the same machine
load, so the ratio is meaningful on a shared machine even when the absolute times are not.

  python3 bench/method_cost.py [--pairs lanmax,uniform] [--rounds 3] [--epochs 3]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

PAIRS = {
    # name: (plain recipe, method recipe, overrides applied to both, target ratio)
    "lanmax": ("configs/train/bc-fashion.yaml", "configs/train/lanmax-fashion.yaml", [], 1.15),
    "uniform": ("configs/train/bc-fashion.yaml", "configs/train/bc-uniform-fashion.yaml", [], None),
    "axtrain_pas": ("configs/train/mlp-mnist.yaml", "configs/train/axtrain-pas-mlp-mnist.yaml", [], 1.3),
}


def epoch_seconds(axsim, config, out, epochs, threads, overrides):
    cmd = [axsim, "train", config, "-o", out, "-q", "-p", f"training.epochs={epochs}",
           "-p", f"training.threads={threads}"]
    for o in overrides:
        cmd += ["-p", o]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr}")
    with open(os.path.join(out, "train.json")) as f:
        return [e["seconds"] for e in json.load(f)["epochs"]]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--axsim", default="build/tools/axsim")
    ap.add_argument("--pairs", default="lanmax", help="comma-separated: " + ", ".join(PAIRS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    print("| method | plain epoch (median s) | method epoch (median s) | ratio | target |")
    print("|---|---|---|---|---|")
    for name in a.pairs.split(","):
        if name not in PAIRS:
            sys.exit(f"--pairs: unknown pair '{name}' (known: {', '.join(PAIRS)})")
        plain_cfg, method_cfg, overrides, target = PAIRS[name]
        plain, method = [], []
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(a.rounds):
                plain += epoch_seconds(a.axsim, plain_cfg, f"{tmp}/plain{r}", a.epochs, a.threads, overrides)
                method += epoch_seconds(a.axsim, method_cfg, f"{tmp}/method{r}", a.epochs, a.threads, overrides)
        mp, mm = statistics.median(plain), statistics.median(method)
        print(f"| {name} ({os.path.basename(method_cfg)} vs {os.path.basename(plain_cfg)}, {a.rounds}x{a.epochs} "
              f"epochs alternated, {a.threads} thread) | {mp:.2f} | {mm:.2f} | {mm / mp:.2f}x | "
              f"{'<= ' + format(target, 'g') + 'x' if target else 'stated'} |", flush=True)


if __name__ == "__main__":
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    main()
