#!/usr/bin/env bash
# Macro-F1 with and without class weighting on the imbalanced hymenoptera manifest, over seeds (README's table).
# Usage: bash bench/ClassImbalance/run.sh OUT_DIR [strategy] [seeds...]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-out/imbalance}; strategy=${2:-feature-extractor}; shift 2 || true
seeds=("$@"); [ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3 4 5)
bash bench/ClassImbalance/make-manifest.sh ../shared/data/hymenoptera "$out/hymenoptera-1in6.csv"
cli="dotnet src/MlNetTransfer.Cli/bin/Release/net10.0/mlnet-transfer.dll"
for seed in "${seeds[@]}"; do for w in auto off; do
  d="$out/$strategy-$w-$seed"; mkdir -p "$d"
  $cli train --data "$out/hymenoptera-1in6.csv" --mirror ../shared/models --backbone mobilenet_v2 --strategy "$strategy" \
    --trainer sdca --split 0.6,0.4,0 --seed "$seed" --class-weights "$w" --out "$d/model.zip" --report "$d/report.json" > "$d/log.txt" 2>&1
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); m=r['metrics']; b=[c for c in m['perClass'] if c['class']=='bees'][0]; print(*sys.argv[2:5], 'acc %.3f macroF1 %.3f bees-recall %.3f bees-F1 %.3f n=%d' % (m['accuracy'], m['macroF1'], b['recall'], b['f1'], m['examples']))" \
    "$d/report.json" "$strategy" "$w" "$seed" | tee -a "$out/results-$strategy.txt"
done; done
