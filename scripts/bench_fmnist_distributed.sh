#!/usr/bin/env bash
# Scaling of the Fashion-MNIST BNN study (issue 9) from 1 to 2 processes on this machine: LeNet-5
# on all 60 000 training images, VI / SGLD / SGHMC each trained (origin) and retrained without
# class 0 (target) for 300 steps of batch 128, and the whole class (6 000 points, 94 requests of
# 64) forgotten with BIF. One run of each; the machine should be otherwise idle.
#   scripts/bench_fmnist_distributed.sh [BUILD_DIR] [CONFIG]
# Prints, per method, training ms/step and steps/s and the whole-class forget's wall time, for
# W = 1 with one thread (the default), W = 1 with two threads, and W = 2 (one thread each).
set -euo pipefail
BUILD=${1:-build}
CONFIG=${2:-configs/fmnist_bif_scaling.json}
UNLEARN=$BUILD/unlearn
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

report() {
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
label, path, wall = sys.argv[1], sys.argv[2], float(sys.argv[3])
r = json.load(open(path))
parts = []
for m, t in r["timings"].items():
    ms = t["train_ms_per_step"]
    parts.append(f"{m}: train {ms:.1f} ms/step ({1e3 / ms:.1f} steps/s), retrain {t['retrain_seconds']:.1f} s, "
                 f"forget {t['forget_seconds']:.1f} s")
print(f"{label:<22} wall {wall:6.1f} s | " + " | ".join(parts))
PY
}
run() {
  local label=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  "$@" --out "$WORK/$label" --quiet >/dev/null
  t1=$(date +%s.%N)
  report "$label" "$WORK/$label/results.json" "$(python3 -c "print($t1 - $t0)")"
}
run w1_threads1 "$UNLEARN" --threads 1 experiment "$CONFIG"
run w1_threads2 "$UNLEARN" --threads 2 experiment "$CONFIG"
run w2_threads1 "$UNLEARN" --threads 1 launch -n 2 -- experiment "$CONFIG"
