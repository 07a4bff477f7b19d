#!/usr/bin/env bash
# `--strategy auto --budget 5m` on hymenoptera, hds_shapes and the Fashion-MNIST 100/class subset: each candidate's
# fine-tuning epochs, img/s and validation accuracy (README, Speed: "Auto within 5 minutes").
# Usage: [SHARED=DIR] [CLI="dotnet path/to/mlnet-transfer.dll"] run-auto.sh OUT_DIR   (one job at a time on the machine)
set -euo pipefail
source "$(dirname "$0")/common.sh" "${1:-}"

for set in hymenoptera:"$shared/data/hymenoptera" hds_shapes:"$shared/data/hds_shapes" fmnist:"$out/fmnist"; do
  name=${set%%:*} data=${set#*:}
  [ -f "$out/$name/report.json" ] && continue
  mkdir -p "$out/$name"
  $cli train --data "$data" --mirror "$shared/models" --backbone mobilenet_v2 --strategy auto --budget 5m \
    --no-cache --threads 2 --seed 42 --out "$out/$name/model.zip" --report "$out/$name/report.json" > "$out/$name/log.txt" 2>&1
done
/usr/bin/python3 "$here/summarize_auto.py" "$out"
