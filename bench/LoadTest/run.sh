#!/usr/bin/env bash
# Load test of `mlnet-transfer serve` on loopback with Debian's wrk, against the ceiling of a bare ONNX Runtime session
# doing the same per-image work in process. Prints requests/s, p50/p99 latency, errors (must be 0), the server's
# memory (RSS) before and after each round, and the ratio server ÷ ceiling.
#
#   bench/LoadTest/run.sh                                  # a generated model (synthetic-cnn on generated shapes)
#   bench/LoadTest/run.sh --model m.zip --backbone b.onnx --images DIR [--duration 30] [--connections 4] [--rounds 3]
#
# Needs: wrk (apt-get install wrk), the .NET SDK. Listens on 127.0.0.1 only; stops its server with SIGTERM at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."

model="" backbone="" images="" duration=20 connections=4 threads=2 rounds=3 count=32
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model=$2; shift 2 ;;
    --backbone) backbone=$2; shift 2 ;;
    --images) images=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --count) count=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }

work=$(mktemp -d /tmp/loadtest.XXXXXX)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then kill -TERM "$server_pid"; wait "$server_pid" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== build (Release)"
dotnet build -c Release -v quiet -nologo src/MlNetTransfer.Cli >/dev/null
dotnet build -c Release -v quiet -nologo bench/LoadTest/OrtCeiling >/dev/null
cli="dotnet src/MlNetTransfer.Cli/bin/Release/net10.0/mlnet-transfer.dll"

if [ -z "$model" ]; then
  echo "== no --model: training one on generated shapes with the generated synthetic-cnn backbone"
  $cli data synthetic --out "$work/shapes" --images-per-class 40 --size 256 >/dev/null
  $cli train --data "$work/shapes" --backbone synthetic-cnn --out "$work/model.zip" --no-cache >/dev/null
  model="$work/model.zip" backbone="synthetic-cnn"
  [ -n "$images" ] || images="$work/shapes"
fi
[ -n "$images" ] || { echo "--images DIR is required with --model" >&2; exit 2; }

# The first $count JPEG/PNG files (sorted), the same list for the server and the ceiling.
mapfile -t files < <(find "$images" -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) | sort | head -n "$count")
[ "${#files[@]}" -gt 0 ] || { echo "no JPEG/PNG files under $images" >&2; exit 1; }

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

echo "== serve $model on 127.0.0.1"
$cli serve --model "$model" --port 0 > "$work/serve.log" 2>&1 &
server_pid=$!
url=""
for _ in $(seq 1 120); do
  url=$(grep -oE 'Listening on http://127\.0\.0\.1:[0-9]+' "$work/serve.log" | awk '{print $3}' || true)
  [ -n "$url" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
  sleep 0.5
done
[ -n "$url" ] || { echo "server did not start" >&2; cat "$work/serve.log" >&2; exit 1; }
curl -sf "$url/health" >/dev/null
rss_start=$(rss_kb "$server_pid")
echo "server $url, pid $server_pid, RSS after load ${rss_start} kB; ${#files[@]} images; wrk -t$threads -c$connections -d${duration}s"

echo "== warm-up (5 s)"
wrk -t"$threads" -c"$connections" -d5s -s bench/LoadTest/predict.lua "$url" -- "${files[@]}" | grep RESULT
rss_warm=$(rss_kb "$server_pid")

ceiling() { # the bare session for $duration s per thread count; prints "best-images/s lowest-cpu-ms-per-image"
  dotnet bench/LoadTest/OrtCeiling/bin/Release/net10.0/OrtCeiling.dll --model "$model" --backbone "$backbone" --seconds "$duration" "${files[@]}" \
    | tee -a "$work/ceiling.log" | sed -nE 's/^CEILING images_per_s=([0-9.]+) cpu_ms_per_image=([0-9.]+)/\1 \2/p'
}
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.0f", ($14 + $15) * 1000 / hz}' "/proc/$1/stat"; } # user+system CPU of a process

# Rounds alternate server and ceiling, so both see the same machine (other load on it drifts over minutes).
# Two ratios per round: requests/s over the ceiling's images/s (what a client sees; swayed by other load on a shared
# machine), and the ceiling's CPU time per image over the server's per request (the server's own overhead, steadier).
declare -a rps_list=() p50_list=() p99_list=() err_list=() rss_list=() ceiling_list=() ratio_list=() cpu_list=() cpu_ratio_list=()
for r in $(seq 1 "$rounds"); do
  cpu0=$(cpu_ms "$server_pid")
  line=$(wrk -t"$threads" -c"$connections" -d"${duration}s" --latency -s bench/LoadTest/predict.lua "$url" -- "${files[@]}" | grep RESULT)
  cpu1=$(cpu_ms "$server_pid")
  rss=$(rss_kb "$server_pid")
  rps=$(sed -E 's/.* rps=([0-9.]+).*/\1/' <<<"$line")
  requests=$(sed -E 's/.*RESULT requests=([0-9]+).*/\1/' <<<"$line")
  server_cpu=$(awk -v a="$cpu0" -v b="$cpu1" -v n="$requests" 'BEGIN {printf "%.2f", (b - a) / n}')
  read -r c c_cpu <<<"$(ceiling)"
  ratio=$(awk -v a="$rps" -v b="$c" 'BEGIN {printf "%.2f", a / b}')
  cpu_ratio=$(awk -v a="$c_cpu" -v b="$server_cpu" 'BEGIN {printf "%.2f", a / b}')
  echo "round $r: $line rss_kb=$rss server_cpu_ms_per_request=$server_cpu ceiling_images_per_s=$c ceiling_cpu_ms_per_image=$c_cpu ratio=$ratio cpu_ratio=$cpu_ratio"
  rps_list+=("$rps"); rss_list+=("$rss"); ceiling_list+=("$c"); ratio_list+=("$ratio"); cpu_list+=("$server_cpu/$c_cpu"); cpu_ratio_list+=("$cpu_ratio")
  p50_list+=("$(sed -E 's/.* p50_ms=([0-9.]+).*/\1/' <<<"$line")")
  p99_list+=("$(sed -E 's/.* p99_ms=([0-9.]+).*/\1/' <<<"$line")")
  err_list+=("$(sed -E 's/.* errors=([0-9]+).*/\1/' <<<"$line")")
done

echo "== stop the server (SIGTERM)"
kill -TERM "$server_pid"
set +e; wait "$server_pid"; server_exit=$?; set -e
server_pid=""
echo "server exit code $server_exit; $(tail -n 1 "$work/serve.log")"
grep -m1 '^backbone' "$work/ceiling.log"

errors=0; for e in "${err_list[@]}"; do errors=$((errors + e)); done
echo
echo "== summary"
printf 'rounds: %s x %ss, wrk -t%s -c%s, %s images (%s)\n' "$rounds" "$duration" "$threads" "$connections" "${#files[@]}" "$images"
printf 'requests/s per round: %s\n' "${rps_list[*]}"
printf 'p50 ms per round:     %s\n' "${p50_list[*]}"
printf 'p99 ms per round:     %s\n' "${p99_list[*]}"
printf 'errors per round:     %s  (total %s)\n' "${err_list[*]}" "$errors"
printf 'RSS kB: after load %s, after warm-up %s, after each round %s\n' "$rss_start" "$rss_warm" "${rss_list[*]}"
printf 'ceiling images/s per round (bare ONNX Runtime, best of 1 and %s threads): %s\n' "$(nproc)" "${ceiling_list[*]}"
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf 'ratio requests/s ÷ ceiling images/s per round: %s  (median %s)\n' "${ratio_list[*]}" "$(median "${ratio_list[@]}")"
printf 'CPU ms per image, server/ceiling, per round: %s\n' "${cpu_list[*]}"
printf 'ratio ceiling CPU ÷ server CPU per image per round: %s  (median %s)\n' "${cpu_ratio_list[*]}" "$(median "${cpu_ratio_list[@]}")"
[ "$errors" -eq 0 ] && [ "$server_exit" -eq 0 ] || { echo "FAILED: errors or unclean shutdown" >&2; exit 1; }
