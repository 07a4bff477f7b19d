#!/usr/bin/env bash
# Accuracy and wall time of the four strategies on hymenoptera and a Fashion-MNIST subset (see RESULTS.md).
# Usage: [SHARED=DIR] run-results.sh OUT_DIR   (needs ../shared/models and ../shared/data/hymenoptera beside the repo; one job at a time)
set -euo pipefail
source "$(dirname "$0")/common.sh" "${1:-}"
common=(--mirror "$shared/models" --backbone mobilenet_v2 --no-cache --threads 2 --seed 42)

run() { # name data extra-args...
  local name=$1 data=$2; shift 2
  [ -f "$out/$name/report.json" ] && return 0
  mkdir -p "$out/$name"
  echo "== $name: mlnet-transfer train --data $data ${common[*]} $* --out $out/$name/model.zip" | tee "$out/$name/command.txt"
  $cli train --data "$data" "${common[@]}" "$@" --out "$out/$name/model.zip" > "$out/$name/log.txt" 2>&1
}

h=$shared/data/hymenoptera
f=$out/fmnist
# Most informative first (each run is skipped when its report.json exists, so an interrupted run resumes).
# hymenoptera has no test split: the validation split is the one reported, so no early stopping selects on it.
# Fashion-MNIST has train/ val/ test/: early stopping watches val, the test split is reported.
run h-feature-extractor "$h" --strategy feature-extractor
run h-fine-tune-top     "$h" --strategy fine-tune --freeze 0.7 --epochs 8 --patience 0
run f-feature-extractor "$f" --strategy feature-extractor
run f-fine-tune-all     "$f" --strategy fine-tune --freeze 0 --epochs 5
run h-fine-tune-all     "$h" --strategy fine-tune --freeze 0 --epochs 8 --patience 0
# Learning rate, optimizer and depth on hymenoptera; a higher rate on Fashion-MNIST. Chain-thaw: bench/Experiment.
run h-fine-tune-top-lr1e-3  "$h" --strategy fine-tune --freeze 0.7 --lr 0.001 --epochs 10 --patience 0
run h-fine-tune-all-lr1e-3  "$h" --strategy fine-tune --freeze 0 --lr 0.001 --epochs 10 --patience 0
run h-fine-tune-top-sgd     "$h" --strategy fine-tune --freeze 0.7 --optimizer sgd --lr 0.01 --epochs 10 --patience 0
run h-fine-tune-half-lr1e-3 "$h" --strategy fine-tune --freeze 0.5 --lr 0.001 --epochs 10 --patience 0
run f-fine-tune-all-lr1e-3  "$f" --strategy fine-tune --freeze 0 --lr 0.001 --epochs 8
# The head started as a linear probe (LP-FT) with a 10x lower rate, against the random head at that rate; seeds 1-3 of
# the probe row are the same command with --seed N (bench/FineTuneBench/RESULTS.md).
run h-probe-top-lr3e-5      "$h" --strategy fine-tune --head-init probe --freeze 0.7 --lr 3e-5 --epochs 8 --patience 0
run h-fine-tune-top-lr3e-5  "$h" --strategy fine-tune --freeze 0.7 --lr 3e-5 --epochs 8 --patience 0
run h-probe-all-lr3e-5      "$h" --strategy fine-tune --head-init probe --freeze 0 --lr 3e-5 --epochs 8 --patience 0
run h-probe-chain-thaw-lr3e-5 "$h" --strategy chain-thaw --head-init probe --lr 3e-5 --epochs 8 --patience 0
run f-probe-all             "$f" --strategy fine-tune --head-init probe --freeze 0 --epochs 5
run f-fine-tune-all-layers-x3 "$f" --strategy fine-tune --freeze 0 --epochs 10 --pretrained-lr-factor 0.33
run f-fine-tune-all-layers-x3-20 "$f" --strategy fine-tune --freeze 0 --epochs 20 --patience 5 --pretrained-lr-factor 0.33
# The same 20 epochs to the end of the cosine schedule, then with a milder crop (28-pixel garments fill the frame).
run f-fine-tune-all-layers-x3-20-full "$f" --strategy fine-tune --freeze 0 --epochs 20 --patience 0 --pretrained-lr-factor 0.33
run f-fine-tune-all-layers-x3-20-crop0.7 "$f" --strategy fine-tune --freeze 0 --epochs 20 --patience 0 --pretrained-lr-factor 0.33 --crop-min-area 0.7

/usr/bin/python3 "$here/summarize.py" "$out"
