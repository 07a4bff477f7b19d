#!/usr/bin/env bash
# Issue 17's evidence: `train --strategy auto --budget 5m` against the best row of `experiment --budget 60m` on the same
# split (seed 42) of hymenoptera, hds_shapes and the Fashion-MNIST 100/class subset, and against the best frozen head.
# Also hds_shapes_3way: the same 960 drawings with a test split neither run chooses by (its val/ becomes test/, and every
# 6th training file of each class, in name order, becomes val/: 600/120/240), so the chosen models can be compared on
# images no choice saw (auto_vs_experiment.py's second table; Fashion-MNIST's subset has a test split of its own).
# Usage: [SHARED=DIR] [CLI="dotnet path/to/mlnet-transfer.dll"] auto-vs-experiment.sh OUT_DIR
# About 4.5 hours on 2 cores (four 60-minute experiments); one job at a time. Steps whose report exists are skipped, so
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

three_way() { # hds_shapes with a test split, in $out/hds_shapes_3way
  local src="$shared/data/hds_shapes" dst="$out/hds_shapes_3way" class i f
  [ -d "$dst" ] && return 0
  for class in $(ls "$src/train"); do
    mkdir -p "$dst.partial/train/$class" "$dst.partial/val/$class" "$dst.partial/test/$class"
    i=0
    for f in $(ls "$src/train/$class" | LC_ALL=C sort); do
      if [ $((i % 6)) -eq 5 ]; then cp "$src/train/$class/$f" "$dst.partial/val/$class/"; else cp "$src/train/$class/$f" "$dst.partial/train/$class/"; fi
      i=$((i + 1))
    done
    cp "$src/val/$class/"* "$dst.partial/test/$class/"
  done
  mv "$dst.partial" "$dst"
}
three_way

for set in hymenoptera:"$shared/data/hymenoptera" hds_shapes:"$shared/data/hds_shapes" hds_shapes_3way:"$out/hds_shapes_3way" fmnist:"$out/fmnist"; do
  name=${set%%:*} data=${set#*:}
  step "auto-$name" train --data "$data" "${common[@]}" --strategy auto --budget 5m --out "$out/auto-$name/model.zip" --report "$out/auto-$name/report.json"
  step "experiment-$name" experiment --data "$data" "${common[@]}" --budget 60m --out "$out/experiment-$name"
done
/usr/bin/python3 "$(dirname "$0")/auto_vs_experiment.py" "$out"
