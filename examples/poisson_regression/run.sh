#!/usr/bin/env bash
# run.sh UNLEARN BUILD_DIR [WORK_DIR]: the example end to end.
#   UNLEARN    the stock binary (e.g. ../../build/unlearn)
#   BUILD_DIR  this project's build folder (libpoisson_plugin.so, poisson_unlearn, forget_poisson)
# 1. the stock command with the plugin: train, four erase requests by four methods, evaluate, export;
# 2. the user's own executable (unlearn::cli), which needs no --plugin;
# 3. the C++ API alone (forget_poisson).
set -euo pipefail
unlearn=$(realpath "$1"); build=$(realpath "$2"); work=$(realpath -m "${3:-$(mktemp -d)}")
cd "$(dirname "${BASH_SOURCE[0]}")"
mkdir -p "$work"
plugin=(--plugin "$build/libpoisson_plugin.so")
run="$work/run"
rm -rf "$run"
"$unlearn" "${plugin[@]}" train poisson.json --out "$run"
"$unlearn" "${plugin[@]}" forget "$run" --ids 0,1,2,3,4,5,6,7,8,9 --method eubo --option lambdas=[0.00001] --option steps=2000
"$unlearn" "${plugin[@]}" forget "$run" --ids 10,11,12,13,14,15,16,17,18,19 --method rkl_closed
"$unlearn" "${plugin[@]}" forget "$run" --ids 20,21,22,23,24,25,26,27,28,29 --method bif
"$unlearn" "${plugin[@]}" forget "$run" --ids 30,31,32,33,34 --method retrain
"$unlearn" "${plugin[@]}" evaluate "$run" --json > "$work/evaluate.json"
"$unlearn" "${plugin[@]}" export "$run" > "$work/export.json"
python3 - "$work/export.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
assert e["generation"] == 4 and len(e["trained_ids"]) == 265, e
print(f"export: generation {e['generation']}, {len(e['trained_ids'])} points remain, mean {e['mean']}")
PY
"$build/poisson_unlearn" export "$run" --generation 0 > /dev/null
echo "poisson_unlearn (the kind linked in, no --plugin): ok"
"$build/forget_poisson" data/poisson_300.csv
