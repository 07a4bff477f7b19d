#!/usr/bin/env bash
# Installs what building and testing MlNetTransfer needs on a fresh Debian 12 machine with the .NET SDK.
# Idempotent: a second run only checks. Needs root (or sudo) the first time, for apt.
set -euo pipefail
cd "$(dirname "$0")/.."

# nodejs, npm: node runs @tensorflow/tfjs, the reference the TF.js importer is tested against, and onnxruntime-node,
# which runs the exported ONNX classifier outside .NET.
# libonnx-testdata: ONNX's own per-operator conformance cases, the reference the TorchSharp converter is tested against.
# chromium: headless, it renders the HTML report in its test.
# libgomp1: the OpenMP runtime LightGBM's native library (the lightgbm head) links against.
APT_PACKAGES=(nodejs npm libonnx-testdata chromium libgomp1)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A node/npm that came from elsewhere (nvm, a tarball) is as good as Debian's.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
read -r -a missing <<< "${missing[*]:-}"
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ -f tests/js/package-lock.json ]; then
  if [ ! -d tests/js/node_modules ] || [ tests/js/package-lock.json -nt tests/js/node_modules ]; then
    echo "setup: npm ci (tests/js)"
    # onnxruntime-node ships its CPU binaries; skip its optional CUDA download (no network beyond the registry).
    ONNXRUNTIME_NODE_INSTALL=skip npm ci --prefix tests/js --no-audit --no-fund --loglevel=error
  fi
fi

dotnet restore MlNetTransfer.sln --verbosity quiet
