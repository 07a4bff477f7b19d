#!/usr/bin/env bash
# Writes an imbalanced manifest of hymenoptera: every ant, one bee in six (every sixth in sorted path order), train and val
# pooled (the run splits them again). Paths are absolute; nothing is copied.
# Usage: bash bench/ClassImbalance/make-manifest.sh [HYMENOPTERA_DIR] [OUT.csv]
set -euo pipefail
src=$(cd "${1:-$(dirname "$0")/../../../shared/data/hymenoptera}" && pwd)
out=${2:-out/imbalance/hymenoptera-1in6.csv}
mkdir -p "$(dirname "$out")"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
echo "path,label" > "$tmp"
find "$src" -path '*/ants/*' -type f | LC_ALL=C sort | sed 's/$/,ants/' >> "$tmp"
find "$src" -path '*/bees/*' -type f | LC_ALL=C sort | awk 'NR % 6 == 1' | sed 's/$/,bees/' >> "$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "$out: $(grep -c ',ants$' "$out") ants, $(grep -c ',bees$' "$out") bees"
