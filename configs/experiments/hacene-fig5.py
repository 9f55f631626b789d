#!/usr/bin/env python3
"""Experiment 5b: Hacene et al. 2019 Fig. 5 on Fashion-MNIST (no CIFAR-10 here) with LeNet-5.

Accuracy versus memory energy eta * E_o per inference, where E_o counts the words read per inference
(parameters + activations, each 8 bits) and eta(p) = -ln(p)/12.8 (p = exp(-12.8 eta)); a reliable memory
has eta = 1. Curves:
  - reliable networks of reduced width (LeNet-5 `width` = 1, 1/sqrt 2, 1/2 and smaller): energy E_o(width);
  - standard training, full width F, memories at p (bit-masking faults on weights and activations);
  - erasure-regularized training (p_e = 2p on weights and activations, configs/train/erasure-lenet5-fashion.yaml),
    one model per p, tested at that p.
Faulty points are Monte Carlo means over --trials chips with 95 % CIs; the energy reduction at
iso-accuracy of a faulty point is E of the reliable-width curve at the same accuracy (interpolated in
log-energy) divided by the point's energy (the paper: 1.5x standard, 2.3x regularized).

Usage (from the repo root):
  python3 configs/experiments/hacene-fig5.py            # -> docs/results/hacene-fig5.md
"""
import math
import os

from experiment_lib import (Runner, ci_text, common_arguments, eta, header, iso_accuracy_reductions, mean_of,
                            pooled, reduction_text, trained_accuracy, write_doc)

WIDTHS = [1.0, 1 / math.sqrt(2), 0.5, 0.35, 0.25]
P_STANDARD = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 2e-2, 3e-2, 5e-2]
P_REGULARIZED = [1e-3, 3e-3, 1e-2, 2e-2, 3e-2, 5e-2]
DATA = "mnist:data/fashion-mnist:test"


def lenet5_words(width):
    """(parameters, activations) read per inference by LeNet-5 at this width on 28x28 inputs: weights and
    biases of every layer; the input values of every conv/dense layer (image, pooled maps, FC outputs)."""
    w = lambda base: max(1, round(base * width))
    c1, c2, f1, f2 = w(6), w(16), w(120), w(84)
    params = (25 * c1 + c1) + (25 * c1 * c2 + c2) + (25 * c2 * f1 + f1) + (f1 * f2 + f2) + (f2 * 10 + 10)
    activations = 28 * 28 + c1 * 14 * 14 + c2 * 5 * 5 + f1 + f2
    return params, activations


def main():
    ap = common_arguments(__doc__.splitlines()[0], "runs/hacene-fig5", "docs/results/hacene-fig5.md")
    ap.add_argument("--epochs", type=int, default=10)
    a = ap.parse_args()
    seeds = a.seeds.split(",")
    r = Runner(a)
    base = [f"training.epochs={a.epochs}"]
    trainings = []
    for s in seeds:
        for wd in WIDTHS:
            trainings.append(lambda s=s, wd=wd: r.train(f"{a.out}/lenet5-w{wd:.3f}-e{a.epochs}-s{s}",
                                                        "configs/train/lenet5-fashion.yaml",
                                                        base + [f"seed={s}", f"network.width={wd:.6f}"]))
        for p in P_REGULARIZED:
            trainings.append(lambda s=s, p=p: r.train(
                f"{a.out}/erasure-p{p:g}-e{a.epochs}-s{s}", "configs/train/erasure-lenet5-fashion.yaml",
                base + [f"seed={s}", f"method.p={p:g}", "method.activations=true"]))
    r.parallel(trainings)

    def faulty_eval(model_dir, p):
        out = f"{model_dir}/bm-wa-p{p:g}-t{a.trials}.json"
        return lambda: r.eval(f"{model_dir}/model.safetensors", out,
                              ["--data", DATA, "--channel", "bit_mask", "--p", f"{p:g}", "--p-act", f"{p:g}",
                               "--trials", str(a.trials)])

    def reliable_eval(model_dir):
        return lambda: r.eval(f"{model_dir}/model.safetensors", f"{model_dir}/reliable.json",
                              ["--data", DATA, "--trials", "1"])

    jobs, keys = [], []
    for s in seeds:
        for wd in WIDTHS:
            jobs.append(reliable_eval(f"{a.out}/lenet5-w{wd:.3f}-e{a.epochs}-s{s}"))
            keys.append(("reliable", wd, s))
        for p in P_STANDARD:
            jobs.append(faulty_eval(f"{a.out}/lenet5-w1.000-e{a.epochs}-s{s}", p))
            keys.append(("standard", p, s))
        for p in P_REGULARIZED:
            jobs.append(faulty_eval(f"{a.out}/erasure-p{p:g}-e{a.epochs}-s{s}", p))
            keys.append(("regularized", p, s))
    res = {}
    for k, v in zip(keys, r.parallel(jobs)):
        res.setdefault(k[:2], []).append(v)

    e_full = sum(lenet5_words(1.0))
    reliable = []
    lines = header(
        "Hacene et al. 2019 Fig. 5: accuracy vs memory energy, LeNet-5 on Fashion-MNIST",
        f"python3 configs/experiments/hacene-fig5.py --seeds {a.seeds} --trials {a.trials} --epochs {a.epochs} "
        f"--jobs {a.jobs} --threads {a.threads}", seeds, r,
        [f"LeNet-5 (Adam 1e-3 cosine, {a.epochs} epochs) deployed with 8-bit weights and activations. Energy = "
         "eta(p) x E_o, E_o = words read per inference (parameters + layer-input activations), eta(p) = -ln(p)/12.8, "
         f"reliable memory eta = 1; normalized to the full-width network's E_o = {e_full} words.",
         "Faulty points: bit_mask faults at p on the stored weights and activations, "
         f"{a.trials} chips per point and seed; accuracy mean ± 95 % CI over the chips pooled over seeds. "
         "Reliable points: the deterministic 8-bit accuracy, mean over seeds.",
         "Regularized: configs/train/erasure-lenet5-fashion.yaml with p_e = 2p on weights and activations, "
         "cosine schedule, one model per p, tested at that p. CIFAR-10/PreActResNet18 are not available here."])
    lines += ["## Reliable networks of reduced width", "",
              "| width | parameters | activations | energy (normalized) | accuracy (%) |", "|---|---|---|---|---|"]
    for wd in WIDTHS:
        prm, act = lenet5_words(wd)
        acc = mean_of([x["result"]["accuracy_mean"] for x in res[("reliable", wd)]])
        e = (prm + act) / e_full
        reliable.append((e, acc))
        label = {1.0: "F", 0.5: "F/2"}.get(wd, "F/sqrt 2" if abs(wd - 1 / math.sqrt(2)) < 1e-9 else f"{wd:g} F")
        lines.append(f"| {label} | {prm} | {act} | {e:.3f} | {100 * acc:.2f} |")
    summary = []
    for kind, grid in (("standard", P_STANDARD), ("regularized", P_REGULARIZED)):
        lines += ["", f"## Full width F, {kind} training, memories at p", "",
                  "| p | eta(p) | energy (normalized) | accuracy (%) | reliable-curve energy at this accuracy | "
                  "reduction at iso-accuracy |", "|---|---|---|---|---|---|"]
        cands = []
        for p in grid:
            m, h, _ = pooled(res[(kind, p)])
            cands.append((p, eta(p), m, h))
        reds = iso_accuracy_reductions(reliable, [(p, e, m) for p, e, m, h in cands])
        for (p, e, m, h), (_, _, _, red, bound) in zip(cands, reds):
            lines.append(f"| {p:g} | {e:.3f} | {e:.3f} | {ci_text(m, h)} | {bound} {red * e:.3f} | "
                         f"{reduction_text(red, bound)} |")
        valid = [(red, p) for (p, e, m, h), (_, _, _, red, bound) in zip(cands, reds) if bound == "="]
        full_acc = reliable[0][1]
        # The paper's headline: the largest reduction among points at least as accurate as the reliable F network
        # (within the point's CI).
        iso_full = [(1 / e, p, m) for p, e, m, h in cands if m + h >= full_acc]
        summary.append((kind, max(valid) if valid else None, max(iso_full) if iso_full else None))
    lines += ["", "## Summary", ""]
    for kind, best, iso in summary:
        t = f"- {kind}: best reduction vs the reliable-width curve "
        t += f"{best[0]:.2f}x (at p = {best[1]:g})" if best else "n/a"
        t += "; at the full reliable network's accuracy (within CI): "
        t += f"{iso[0]:.2f}x (p = {iso[1]:g}, {100 * iso[2]:.2f} %)" if iso else "no faulty point reaches it"
        lines.append(t + ".")
    gains = []
    for p in P_REGULARIZED:
        if p in P_STANDARD:
            ms, hs, _ = pooled(res[("standard", p)])
            mr, hr, _ = pooled(res[("regularized", p)])
            gains.append(f"{p:g}: {100 * (mr - ms):+.2f} ± {100 * math.hypot(hs, hr):.2f}")
    lines.append("- Regularized − standard accuracy at the same p (points, 95 % CI): " + "; ".join(gains) + ".")
    lines.append("- The paper (PreActResNet18, CIFAR-10): 1.5x standard (p = 0.001), 2.3x regularized (p = 0.01).")
    write_doc(a.doc, lines)


if __name__ == "__main__":
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    main()
