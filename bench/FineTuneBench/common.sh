# Sourced by run-results.sh and run-auto.sh: where the repository, the shared data and models, and the CLI are, and the
# Fashion-MNIST 100/class subset both use. Usage: source common.sh OUT_DIR  (sets here, repo, shared, cli, out).
out=${1:?usage: $(basename "$0") OUT_DIR}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
shared=${SHARED:-$repo/../shared}
cli=${CLI:-"dotnet $repo/src/MlNetTransfer.Cli/bin/Release/net10.0/mlnet-transfer.dll"}
mkdir -p "$out"
[ -d "$out/fmnist" ] || $cli data fashion-mnist --out "$out/fmnist" --train-per-class 100
