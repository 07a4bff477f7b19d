#!/usr/bin/env bash
# The main job on its built-in default: an ImageNet MobileNetV2 (the ONNX Model Zoo int8 file, hash-verified)
# as a frozen feature extractor, an SDCA head, on the hymenoptera ants/bees photos; then predictions on the
# validation images. Outputs in out/main/.
#   Backbone: installed from a local mirror when ../shared/models exists (or MLNET_TRANSFER_MIRRORS), else
#             downloaded from the zoo's official URL.
#   Data:     ../shared/data/hymenoptera when it exists, or the folder given as $1; without either, a Fashion-MNIST
#             subset made from Debian's dataset-fashion-mnist (installed with apt).
set -euo pipefail
cd "$(dirname "$0")/.."
out=out/main
mlnet() { dotnet run -c Release --project src/MlNetTransfer.Cli -- "$@"; }

mirror_args=()
[ -d ../shared/models ] && mirror_args=(--mirror ../shared/models)

data=${1:-../shared/data/hymenoptera}
if [ ! -d "$data" ]; then
  if [ ! -d /usr/share/datasets/fashion-mnist ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist
  fi
  data=$out/fashion-mnist-100
  [ -d "$data" ] || mlnet data fashion-mnist --out "$data" --train-per-class 100 --val-per-class 50 --test-per-class 100
fi

mlnet train --data "$data" --backbone mobilenet_v2 "${mirror_args[@]}" --strategy feature-extractor --trainer sdca \
  --out "$out/model.zip" --report "$out/report.json"
val=$data/val; [ -d "$val" ] || val=$data
mlnet predict --model "$out/model.zip" --input "$val" --out "$out/predictions.csv" > "$out/predict.log"
echo "Predictions for $val: $out/predictions.csv ($(($(wc -l < "$out/predictions.csv") - 1)) images)"
