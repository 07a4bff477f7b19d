#!/usr/bin/env bash
# Issue 17's evidence: `train --strategy auto --budget 5m` against the best row of `experiment --budget 60m` on the same
# split (seed 42) of hymenoptera, hds_shapes and the Fashion-MNIST 100/class subset, and against the best frozen head.
# Usage: [SHARED=DIR] [CLI="dotnet path/to/mlnet-transfer.dll"] auto-vs-experiment.sh OUT_DIR
# About 3.5 hours on 2 cores (three 60-minute experiments); one job at a time. Steps whose report exists are skipped, so
# an interrupted run resumes. Prints the table README's "Auto against the 60-minute experiment" holds.
set -euo pipefail
source "$(dirname "$0")/../FineTuneBench/common.sh" "${1:-}"
common=(--mirror "$shared/models" --backbone mobilenet_v2 --no-cache --threads 2 --seed 42)

step() { # name command args...
  local name=$1; shift
  [ -f "$out/$name/report.json" ] && return 0
  mkdir -p "$out/$name"
  echo "== $name: mlnet-transfer $*" | tee "$out/$name/command.txt"
  $cli "$@" > "$out/$name/log.txt" 2>&1
}

for set in hymenoptera:"$shared/data/hymenoptera" hds_shapes:"$shared/data/hds_shapes" fmnist:"$out/fmnist"; do
  name=${set%%:*} data=${set#*:}
  step "auto-$name" train --data "$data" "${common[@]}" --strategy auto --budget 5m --out "$out/auto-$name/model.zip" --report "$out/auto-$name/report.json"
  step "experiment-$name" experiment --data "$data" "${common[@]}" --budget 60m --out "$out/experiment-$name"
done
/usr/bin/python3 "$(dirname "$0")/auto_vs_experiment.py" "$out"
