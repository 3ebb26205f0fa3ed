#!/usr/bin/env bash
# Scaling of data-parallel training and a whole-class forget, 1 -> 2 processes on this machine
# (issue 9): a Bayesian MLP on a Fashion-MNIST subset, mean-field VI, then forgetting every
# training point of class 0 with EUBO. One run; prints wall times and steps/s.
#   scripts/bench_distributed.sh [BUILD_DIR] [SUBSET] [STEPS]
set -euo pipefail
BUILD=${1:-build}
SUBSET=${2:-10000}
STEPS=${3:-300}
FORGET_STEPS=${FORGET_STEPS:-100}
UNLEARN=$BUILD/unlearn
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cat >"$WORK/cfg.json" <<JSON
{
  "seed": 0,
  "data": {"kind": "fashion_mnist", "subset": $SUBSET, "dtype": "float32"},
  "model": {"kind": "bnn_mlp", "hidden": [100], "prior_std": 0.15},
  "posterior": {"family": "mean_field"},
  "train": {"method": "vi", "steps": $STEPS, "num_samples": 4, "lr": 0.003, "batch_size": 256,
            "checkpoint_every": 0}
}
JSON

now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }

"$UNLEARN" train "$WORK/cfg.json" --out "$WORK/w1" --quiet
# The ids of class 0 among the trained points (ids are row numbers of the training split).
"$UNLEARN" export "$WORK/w1" >"$WORK/export.json"
python3 - "$WORK" <<'PY'
import gzip, json, sys
work = sys.argv[1]
with gzip.open('/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz') as f:
    labels = f.read()[8:]
ids = json.load(open(f'{work}/export.json'))['trained_ids']
def flat(v):
    return [x for y in v for x in flat(y)] if isinstance(v, list) else ([v] if isinstance(v, (int, float)) else flat(v.get('data', [])))
ids = [int(i) for i in flat(ids)]
cls0 = [i for i in ids if labels[i] == 0]
open(f'{work}/class0.txt', 'w').write('\n'.join(map(str, cls0)) + '\n')
print(f'class 0: {len(cls0)} of {len(ids)} training points')
PY
rm -rf "$WORK/w1"

HIDDEN=${HIDDEN:-100}
BATCH=${BATCH:-256}
sed -i "s/\"hidden\": \[100\]/\"hidden\": [$HIDDEN]/; s/\"batch_size\": 256/\"batch_size\": $BATCH/" "$WORK/cfg.json"
field() { python3 -c "import json,sys; print(f\"{json.load(sys.stdin)['seconds']:.2f}\")"; }
for W in 1 2; do
  run() { if [ "$W" = 1 ]; then "$UNLEARN" "$@"; else "$UNLEARN" launch -n "$W" -- "$@" 2>/dev/null; fi; }
  t0=$(now)
  train_in=$(run train "$WORK/cfg.json" --out "$WORK/w$W" --quiet --json | field)
  t1=$(now)
  forget_in=$(run forget "$WORK/w$W" --ids-file "$WORK/class0.txt" --method eubo --steps "$FORGET_STEPS" \
                  --num-samples 4 --quiet --json | field)
  t2=$(now)
  python3 -c "
w, s, fs = $W, $STEPS, $FORGET_STEPS
tr, fo = $train_in, $forget_in
print(f'W={w}  train {s} steps: {tr:.2f} s in the loop ({s/tr:.1f} steps/s), {$t1-$t0:.2f} s wall;'
      f'  whole-class EUBO forget {fs} steps: {fo:.2f} s ({fs/fo:.1f} steps/s), {$t2-$t1:.2f} s wall')"
done
