#!/usr/bin/env bash
# The experiment command's side-by-side comparison on hymenoptera and the Fashion-MNIST subset, plus auto on both
# (README "Experiment" and "Auto" tables). Usage: [SHARED=DIR] [CLI=cmd] run.sh OUT_DIR  (one job at a time: 2 cores)
set -euo pipefail
out=${1:?usage: run.sh OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
shared=${SHARED:-$repo/../shared}
cli=${CLI:-"dotnet $repo/src/MlNetTransfer.Cli/bin/Release/net10.0/mlnet-transfer.dll"}
common=(--mirror "$shared/models" --backbone mobilenet_v2 --no-cache --seed 42)
mkdir -p "$out"
[ -d "$out/fmnist" ] || $cli data fashion-mnist --out "$out/fmnist" --train-per-class 100

step() { # name command args... (skipped when its report.json exists, so an interrupted run resumes)
  local name=$1; shift
  [ -f "$out/$name/report.json" ] && return 0
  mkdir -p "$out/$name"
  echo "== $name: mlnet-transfer $*" | tee "$out/$name/command.txt"
  $cli "$@" > "$out/$name/log.txt" 2>&1
}

h=$shared/data/hymenoptera
f=$out/fmnist
step experiment-hymenoptera experiment --data "$h" "${common[@]}" --budget 60m --out "$out/experiment-hymenoptera"
step auto-fmnist train --strategy auto --data "$f" "${common[@]}" --budget 25m --out "$out/auto-fmnist/model.zip"
step experiment-fmnist experiment --data "$f" "${common[@]}" --budget 60m --epochs 15 --out "$out/experiment-fmnist"

for name in experiment-hymenoptera experiment-fmnist auto-fmnist; do
  [ -f "$out/$name/report.json" ] && /usr/bin/python3 "$here/summarize.py" "$out/$name/report.json" "$name" && echo
done
