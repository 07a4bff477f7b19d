#!/usr/bin/env bash
# Rewrites the public-API baselines (src/*/PublicAPI.Unshipped.txt) from what the analyzer finds in the code, after a
# change to a library's public surface (or a merge of branches that each changed it). Review the diff: every line is a
# public type or member that users will depend on.
#
#   bash scripts/update-public-api.sh            # every packable library
#   bash scripts/update-public-api.sh src/MlNetTransfer.FineTuning
#
# How: each library is compiled with PublicApiBaselineUpdate=true (RS0016/RS0017 stay warnings instead of failing the
# build); every RS0016 ("not part of the declared public API") symbol is added to PublicAPI.Unshipped.txt, every RS0017
# ("part of the declared API, but not public or not found") symbol is removed from it, or, if a release shipped it,
# recorded as *REMOVED* there. Libraries are done in dependency order, the core first.
set -euo pipefail
cd "$(dirname "$0")/.."

projects=("$@")
[ "${#projects[@]}" -gt 0 ] || projects=(src/MlNetTransfer src/MlNetTransfer.FineTuning src/MlNetTransfer.Reporting src/MlNetTransfer.Serving.AspNetCore)

# Builds what the libraries reference once, so each one can then be recompiled alone.
for p in "${projects[@]}"; do
  dotnet build "$p" -c Release -p:PublicApiBaselineUpdate=true -v:q -nologo -clp:NoSummary >/dev/null || {
    echo "update-public-api: $p does not build (errors other than the public API's); fix them first:" >&2
    dotnet build "$p" -c Release -p:PublicApiBaselineUpdate=true -v:q -nologo 2>&1 | grep -E " error " | sort -u >&2
    exit 1
  }
done

log=$(mktemp)
trap 'rm -f "$log"' EXIT
for p in "${projects[@]}"; do
  shipped="$p/PublicAPI.Shipped.txt" unshipped="$p/PublicAPI.Unshipped.txt"
  [ -f "$shipped" ] || printf '#nullable enable\n' > "$shipped"
  [ -f "$unshipped" ] || printf '#nullable enable\n' > "$unshipped"
  # --no-incremental: the analyzer reports only when the compiler runs.
  dotnet build "$p" -c Release --no-dependencies --no-incremental -p:PublicApiBaselineUpdate=true -nologo -clp:NoSummary > "$log" 2>&1 || {
    echo "update-public-api: $p failed to build:" >&2; grep -E " error " "$log" | sort -u >&2; exit 1; }
  python3 - "$log" "$shipped" "$unshipped" <<'EOF'
import re, sys
log, shipped_path, unshipped_path = sys.argv[1:]
text = open(log, encoding="utf-8").read()
added = set(re.findall(r"warning RS0016: Symbol '(.*)' is not part of the declared public API", text))
removed = set(re.findall(r"warning RS0017: Symbol '(.*)' is part of the declared API, but is either not public or could not be found", text))

def read(path):
    lines = [l.rstrip("\n") for l in open(path, encoding="utf-8")]
    return [l for l in lines if l.strip() and l.strip() != "#nullable enable"]

shipped = set(read(shipped_path))
unshipped = [l for l in read(unshipped_path) if l not in removed]
unshipped += [f"*REMOVED*{s}" for s in sorted(removed & shipped) if f"*REMOVED*{s}" not in unshipped]
unshipped += sorted(added - set(unshipped))
with open(unshipped_path, "w", encoding="utf-8", newline="\n") as f:
    f.write("#nullable enable\n" + "".join(l + "\n" for l in sorted(set(unshipped), key=lambda l: l.removeprefix("*REMOVED*"))))
print(f"{unshipped_path}: {len(added)} added, {len(removed)} removed")
EOF
done

# The result must build with the check on.
for p in "${projects[@]}"; do
  dotnet build "$p" -c Release -v:q -nologo -clp:NoSummary >/dev/null || {
    echo "update-public-api: $p still fails the public API check:" >&2
    dotnet build "$p" -c Release -v:q -nologo 2>&1 | grep -E "RS00[0-9]+" | sort -u >&2
    exit 1
  }
done
echo "update-public-api: baselines up to date; review and commit src/*/PublicAPI.*.txt"
