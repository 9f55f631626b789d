"""Shared plumbing of the memory-fault experiment scripts (hacene-fig3.py, hacene-fig5.py, lanmax-fig3.py).

Standard library only. Every run goes through the `axsim` CLI: `axsim train` writes a run directory,
`axsim eval` a JSON result. Finished outputs are reused (a run whose model.safetensors exists is not
retrained, an eval whose JSON exists is not re-run), so an interrupted experiment resumes; the run
directory names the settings that shape its result. Jobs run in parallel (--jobs), each niced and with
its own OpenMP thread count.
"""
import argparse
import concurrent.futures as cf
import datetime
import json
import math
import os
import subprocess
import sys
import time

A_RELIABILITY = 12.8  # eta(p) = -ln(p)/a, Hacene et al. 2019 / Henwood et al. 2020


def eta(p, a=A_RELIABILITY):
    """Normalized memory energy per bit at bit-error rate p (eta(0) = 1, clamped to [0, 1])."""
    if p <= 0:
        return 1.0
    return min(1.0, max(0.0, -math.log(p) / a))


def p_for_eta(e, a=A_RELIABILITY):
    return math.exp(-a * e)


def common_arguments(description, out_default, doc_default):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--axsim", default="build/tools/axsim")
    ap.add_argument("--out", default=out_default, help="run directories (reused when finished)")
    ap.add_argument("--doc", default=doc_default, help="markdown table written here")
    ap.add_argument("--jobs", type=int, default=2, help="trainings/evaluations run in parallel")
    ap.add_argument("--threads", type=int, default=1, help="OpenMP threads per job")
    ap.add_argument("--seeds", default="1", help="training seeds, comma-separated")
    ap.add_argument("--trials", type=int, default=30, help="Monte Carlo chips per faulty point")
    ap.add_argument("-p", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="extra override for every training (e.g. data.limit_train=2000 for a quick try; "
                         "use another --out then, since finished runs are reused)")
    return ap


class Runner:
    def __init__(self, args):
        self.args = args
        self.start = time.time()
        self.reused = 0  # trainings/evaluations found finished from an earlier invocation

    def _run(self, cmd, what):
        cmd = ["nice", "-n", "10", self.args.axsim] + cmd
        t = time.time()
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            sys.exit(f"{what} failed (exit {p.returncode}): {' '.join(cmd)}\n{p.stderr}")
        print(f"  done {what} ({time.time() - t:.0f} s)", flush=True)
        return p

    def train(self, run_dir, config, overrides):
        """axsim train CONFIG -o RUN_DIR -p ... unless RUN_DIR/model.safetensors exists."""
        if os.path.exists(os.path.join(run_dir, "model.safetensors")):
            self.reused += 1
            return run_dir
        cmd = ["train", config, "-o", run_dir, "-q", "-p", f"training.threads={self.args.threads}"]
        for o in list(overrides) + self.args.overrides:
            cmd += ["-p", o]
        self._run(cmd, f"train {run_dir}")
        return run_dir

    def eval(self, model, out_json, eval_args):
        """axsim eval --model MODEL ... -o OUT_JSON unless OUT_JSON exists; returns the parsed JSON."""
        if os.path.exists(out_json):
            self.reused += 1
        else:
            cmd = ["eval", "--model", model, "-q", "--threads", str(self.args.threads), "-o", out_json] + eval_args
            self._run(cmd, f"eval {out_json}")
        with open(out_json) as f:
            return json.load(f)

    def parallel(self, jobs):
        """Runs callables (no arguments) on --jobs workers; returns their results in order."""
        with cf.ThreadPoolExecutor(max_workers=max(1, self.args.jobs)) as ex:
            return [f.result() for f in [ex.submit(j) for j in jobs]]

    def wall(self):
        w = int(time.time() - self.start)
        text = f"{w // 60} min {w % 60} s"
        return text + (f" for this invocation, which reused {self.reused} finished runs of earlier ones" if self.reused else "")


def trained_accuracy(run_dir):
    with open(os.path.join(run_dir, "train.json")) as f:
        return json.load(f)["final_test_accuracy"]


def pooled(results):
    """Pools the Monte Carlo trials of several eval results (e.g. one per training seed): mean and the
    95 % half-width of the mean over all trials (normal approximation; the spread includes the
    seed-to-seed variation when there are several seeds)."""
    acc = []
    for r in results:
        acc += r["result"]["per_trial_accuracy"]
    n = len(acc)
    mean = sum(acc) / n
    if n < 2:
        return mean, 0.0, n
    var = sum((x - mean) ** 2 for x in acc) / (n - 1)
    return mean, 1.96 * math.sqrt(var / n), n


def mean_of(values):
    return sum(values) / len(values)


def energy_on_curve(curve, accuracy):
    """Energy the reference `curve` [(energy, accuracy), ...] needs to reach `accuracy`: linear
    interpolation in log-energy along the curve's upper envelope (points sorted by energy, accuracy made
    non-decreasing). Returns (energy, bound): bound "=" inside the curve's accuracy range; "<=" when the
    accuracy is below every point (the curve's lowest energy already exceeds it); ">=" when it is above
    every point (the curve never reaches it; its highest energy is a lower bound)."""
    env, best = [], -1.0
    for e, a in sorted(curve):
        best = max(best, a)
        env.append((e, best))
    if accuracy > env[-1][1]:
        return env[-1][0], ">="
    if accuracy < env[0][1]:
        return env[0][0], "<="
    for (e0, a0), (e1, a1) in zip(env, env[1:]):
        if a0 < accuracy <= a1:
            t = (accuracy - a0) / (a1 - a0)
            return math.exp(math.log(e0) + t * (math.log(e1) - math.log(e0))), "="
    return env[0][0], "="


def iso_accuracy_reductions(reference, candidates):
    """For each candidate (label, energy, accuracy): (label, energy, accuracy, reduction, bound) with
    reduction = reference energy at that accuracy / candidate energy and bound as in energy_on_curve
    ("<=": at most this reduction, ">=": at least)."""
    out = []
    for label, e, a in candidates:
        ref, bound = energy_on_curve(reference, a)
        out.append((label, e, a, ref / e, bound))
    return out


def reduction_text(reduction, bound):
    return f"{'' if bound == '=' else bound + ' '}{reduction:.2f}x"


def pct(x):
    return f"{100 * x:.2f}"


def ci_text(mean, half):
    return f"{100 * mean:.2f} ± {100 * half:.2f}"


def write_doc(path, lines):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)
    print("\n".join(lines))


def header(title, command, seeds, runner, extra):
    return [f"# {title}", "",
            f"Command (from the repository root): `{command}`  ",
            f"Date: {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC; wall time {runner.wall()} "
            f"(2-core machine, {runner.args.jobs} jobs x {runner.args.threads} thread, shared with other work)  ",
            f"Training seeds: {', '.join(seeds)}; Monte Carlo fault seed 1 (chip t draws its faults from (seed, t))."] + \
        extra + [""]
