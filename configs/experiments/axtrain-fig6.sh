#!/usr/bin/env bash
# AxTrain Fig. 6 (He et al. 2018): output error of an MNIST network under DRUM-k multipliers (the paper's
# four most aggressive settings, k = 1..4, 8-bit fixed-point operands), normalized to the same network's
# error with the exact multiplier, for plain BP, AxTrain-act and AxTrain (act, then pas trained with the
# DRUM-k it is tested with). "Output error" = test classification error (1 - accuracy) of the quantized
# network (`axsim eval --multiplier drum<k>`; deterministic, no faults).
#
# One command per network, from the repository root:
#   nice -n 10 configs/experiments/axtrain-fig6.sh              # MLP 784-128-128-10 -> docs/results/axtrain-fig6.md
#   NET=lenet5 nice -n 10 configs/experiments/axtrain-fig6.sh   # LeNet-5 -> docs/results/axtrain-fig6-lenet5.md
# Knobs (environment): NET (mlp | lenet5), KS ("1 2 3 4"), RUNS, OUT, and those of axtrain_common.sh
# (AXSIM, THREADS, SEEDS, EPOCHS, ACT_EPOCHS). Budget: every model trains EPOCHS epochs (BP, act and AxTrain
# see the same number); act epochs cost ~1.7x (LeNet-5) to ~4x (MLP) a plain epoch.
set -euo pipefail
source "$(dirname "$0")/axtrain_common.sh"
NET=${NET:-mlp}
KS=${KS:-"1 2 3 4"}
case "$NET" in
  mlp) BP_CFG=configs/train/mlp-mnist.yaml ACT_CFG=configs/train/axtrain-act-mlp-mnist.yaml
       AX_CFG=configs/train/axtrain-mlp-mnist.yaml NET_TAG="" NET_NAME="MLP 784-128-128-10" ;;
  lenet5) BP_CFG=configs/train/lenet5-mnist.yaml ACT_CFG=configs/train/axtrain-act-lenet5-mnist.yaml
          AX_CFG=configs/train/axtrain-lenet5-mnist.yaml NET_TAG="-lenet5" NET_NAME="LeNet-5" ;;
  *) echo "axtrain-fig6.sh: NET must be mlp or lenet5, found '$NET'" >&2; exit 2 ;;
esac
# Finished runs are reused, so the directory names the settings that shape a trained model.
RUNS=${RUNS:-runs/axtrain-fig6${NET_TAG}-e${EPOCHS}-act${ACT_EPOCHS}}
OUT=${OUT:-docs/results/axtrain-fig6${NET_TAG}.md}
evaluate() {  # dir multiplier
  [[ -f $1/eval-$2.json ]] || "$AXSIM" eval --model "$1/model.safetensors" --data $DATA --multiplier "$2" --threads "$THREADS" -q -o "$1/eval-$2.json"
}
for seed in $SEEDS; do
  d=$RUNS/s$seed
  train "$d/bp" "$BP_CFG" -p seed="$seed"
  train "$d/act" "$ACT_CFG" -p seed="$seed"
  for k in $KS; do
    train "$d/axtrain-k$k" "$AX_CFG" -p seed="$seed" -p method.pas.multiplier=drum"$k" \
      -p method.act.max_epochs="$ACT_EPOCHS"
  done
  for m in exact $(for k in $KS; do echo drum$k; done); do
    evaluate "$d/bp" "$m"
    evaluate "$d/act" "$m"
  done
  for k in $KS; do
    evaluate "$d/axtrain-k$k" exact
    evaluate "$d/axtrain-k$k" drum"$k"
  done
done
wall=$(( $(date +%s) - start ))
THREADS=$THREADS python3 - "$RUNS" "$OUT" "$wall" "$SEEDS" "$KS" "$EPOCHS" "$ACT_EPOCHS" "$NET" "$NET_NAME" "$BP_CFG" "$ACT_CFG" "$AX_CFG" <<'PY'
import json, math, sys, datetime, os
runs, out, wall, seeds, ks, epochs, act_epochs, net, net_name, bp_cfg, act_cfg, ax_cfg = sys.argv[1:13]
seeds, ks = seeds.split(), ks.split()
T = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
def acc(d, m): return json.load(open(f"{runs}/s{d}/eval-{m}.json"))["result"]["accuracy_mean"]
def stat(xs):
    n = len(xs); mu = sum(xs) / n
    if n < 2: return mu, float("nan")
    sd = math.sqrt(sum((x - mu) ** 2 for x in xs) / (n - 1)); return mu, T.get(n - 1, 2.0) * sd / math.sqrt(n)
def fmt(s): return f"{s[0]:.2f}" + ("" if math.isnan(s[1]) else f" ± {s[1]:.2f}")
def norm(s, model, k): return (1 - acc(f"{s}/{model}", f"drum{k}")) / (1 - acc(f"{s}/{model}", "exact"))
lines = [f"# AxTrain Fig. 6: MNIST {net_name} error under DRUM-k, normalized to the exact multiplier", "",
         f"Command: `{'' if net == 'mlp' else 'NET=' + net + ' '}nice -n 10 configs/experiments/axtrain-fig6.sh` (THREADS={os.environ.get('THREADS','2')} SEEDS=\"{' '.join(seeds)}\" EPOCHS={epochs} ACT_EPOCHS={act_epochs} KS=\"{' '.join(ks)}\")  ",
         f"Date: {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC; wall time {int(wall)//60} min {int(wall)%60} s (2-core machine shared with other jobs)  ",
         f"Seeds: {', '.join(seeds)} (training seed; evaluation is deterministic). Every model trains {epochs} epochs:",
         f"BP = {bp_cfg}, AxTrain-act = {act_cfg}, AxTrain = {ax_cfg}",
         f"(act for at most {act_epochs} epochs, then pas with the DRUM-k of the column's test). Error = 1 - test accuracy of the 8-bit",
         "quantized network (`axsim eval --multiplier drum<k>`), divided by the same model's error with the exact multiplier.",
         "Mean ± 95 % t-interval over seeds.", "",
         "| multiplier | BP | AxTrain-act | AxTrain | act vs BP | AxTrain vs BP |", "|---|---|---|---|---|---|"]
for k in ks:
    bp = [norm(s, "bp", k) for s in seeds]; act = [norm(s, "act", k) for s in seeds]; ax = [norm(s, f"axtrain-k{k}", k) for s in seeds]
    b, a, x = stat(bp), stat(act), stat(ax)
    lines.append(f"| drum{k} | {fmt(b)} | {fmt(a)} | {fmt(x)} | {100*(1-a[0]/b[0]):+.1f} % | {100*(1-x[0]/b[0]):+.1f} % |")
lines += ["", "Raw test accuracy (%, mean over seeds):", "", "| model | exact | " + " | ".join(f"drum{k}" for k in ks) + " |",
          "|---|---|" + "---|" * len(ks)]
for model in ["bp", "act"]:
    lines.append(f"| {model} | " + " | ".join(f"{100*stat([acc(f'{s}/{model}', m) for s in seeds])[0]:.2f}" for m in ["exact"] + [f"drum{k}" for k in ks]) + " |")
for k in ks:
    row = [f"{100*stat([acc(f'{s}/axtrain-k{k}', 'exact') for s in seeds])[0]:.2f}"] + [
        f"{100*stat([acc(f'{s}/axtrain-k{k}', f'drum{j}') for s in seeds])[0]:.2f}" if j == k else "" for j in ks]
    lines.append(f"| axtrain (pas drum{k}) | " + " | ".join(row) + " |")
lines += ["", "\"act vs BP\" / \"AxTrain vs BP\": reduction of the normalized error relative to BP (the paper reports",
          "40.8 % / 75.6 % at its most aggressive setting, averaged over six applications). Not tuned toward it."]
os.makedirs(os.path.dirname(out), exist_ok=True)
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
