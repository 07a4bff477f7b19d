#!/usr/bin/env bash
# The single-node Slurm proof of sharded featurization (issue 21). Not in CI: it installs and starts a scheduler.
#
#   bash bench/Scale/run.sh            # as root, on Debian 12; writes bench/Scale/RESULTS.md and out/scale/
#
# 1. installs Debian's slurm-wlm and munge (apt), starts munged, and a one-node Slurm (slurmctld + slurmd on 127.0.0.1,
#    2 CPUs) from a slurm.conf written under out/scale/slurm;
# 2. for hymenoptera and hds_shapes (../shared/data): featurizes in one process (featurize --threads 2), then as a 4-task
#    job array (deploy/slurm/featurize.sbatch, 1 CPU per task) with a dependent train job (deploy/slurm/train.sbatch);
#    compares the two shard sets row by row (bench/Scale/ScaleCheck compare: same rows, bit-identical embeddings, every
#    path once) and the accuracy of 'train --embeddings' on each with 'train --data' on the images;
# 3. submits the array again into an empty folder, scancels task 2 while it runs, shows that train refuses the incomplete
#    folder naming the shard, resubmits the whole array (finished shards are skipped, shard 2 is redone) and compares
#    again with the single-process run: nothing lost, nothing duplicated;
# 4. stops the daemons it started (by pid).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
SHARED=${SHARED:-$(cd "$REPO/.." && pwd)/shared}
[ -d "$SHARED/data/hymenoptera" ] || SHARED=/work/shared
WORK=${WORK:-$REPO/out/scale}
MODELS=$SHARED/models
BACKBONE=${BACKBONE:-mobilenet_v2}
TASKS=4
RESULTS=$REPO/bench/Scale/RESULTS.md
rm -rf "$WORK"
mkdir -p "$WORK/logs"
LOG=$WORK/run.log
exec > >(tee "$LOG") 2>&1
say() { printf '\n== %s\n' "$*"; }

say "install slurm-wlm and munge"
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi
dpkg-query -W -f='${Package} ${Version}\n' slurm-wlm slurmctld slurmd munge

# MLNET_TRANSFER and SCALECHECK may name already built commands (e.g. copies, while another build runs in this tree).
if [ -z "${MLNET_TRANSFER:-}" ] || [ -z "${SCALECHECK:-}" ]; then
  say "build the CLI and ScaleCheck"
  dotnet build src/MlNetTransfer.Cli -c Release -v q -nologo | tail -1
  dotnet build bench/Scale/ScaleCheck -c Release -v q -nologo | tail -1
fi
export MLNET_TRANSFER=${MLNET_TRANSFER:-"dotnet $REPO/src/MlNetTransfer.Cli/bin/Release/net10.0/mlnet-transfer.dll"}
CHECK=${SCALECHECK:-"dotnet $REPO/bench/Scale/ScaleCheck/bin/Release/net10.0/ScaleCheck.dll"}
export NO_COLOR=1 COLUMNS=160
# The backbone installs once from the mirror, before any task asks for it (tasks would otherwise race to install it).
$MLNET_TRANSFER backbones install "$BACKBONE" --mirror "$MODELS" | tail -1

say "start munged"
STARTED=()
mkdir -p /etc/munge /var/log/munge /run/munge /var/lib/munge
if [ ! -s /etc/munge/munge.key ]; then mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none; fi
chown -R munge:munge /etc/munge /var/log/munge /run/munge /var/lib/munge
chmod 0400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged
  sleep 1
  STARTED+=("$(cat /run/munge/munged.pid)")
fi
munge -n | unmunge | grep -E '^STATUS'

say "start a one-node Slurm on 127.0.0.1"
S=$WORK/slurm
mkdir -p "$S/state" "$S/spool"
cat > "$S/slurm.conf" <<EOF
ClusterName=mlnet
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/slurmctld.log
SlurmdLogFile=$S/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
MinJobAge=3600
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 RealMemory=16000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$S/slurm.conf
stop_slurm() {
  for pidfile in "$S/slurmd.pid" "$S/slurmctld.pid"; do [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true; done
  for pid in "${STARTED[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap stop_slurm EXIT
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF" -N localhost
for _ in $(seq 60); do [ "$(sinfo -h -o %T 2>/dev/null)" = idle ] && break; sleep 1; done
# "idle" can come before the node's registration is complete: wait until a job with a memory request actually runs.
for try in $(seq 30); do sbatch --wait --quiet --mem=1G --output=/dev/null --wrap=true 2>/dev/null && break; sleep 2; done
sinfo

wait_job() { while squeue -h -j "$1" 2>/dev/null | grep -q .; do sleep 2; done; }
accuracy() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['metrics']['accuracy'])" "$1"; }
marker() { python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print(m['rows'], round(m['seconds'],1), m['host'])" "$1"; }

TABLE=$WORK/table.md
echo "| data set | images | one process, 2 threads: s (images/s) | 4-task array, 1 CPU each: wall s; task s | shards vs one process | accuracy: images / one-process shards / array shards |" > "$TABLE"
echo "|---|---|---|---|---|---|" >> "$TABLE"
for D in hymenoptera hds_shapes; do
  DATA=$SHARED/data/$D
  W=$WORK/$D
  say "$D: featurize in one process"
  start=$(date +%s.%N)
  $MLNET_TRANSFER featurize --data "$DATA" --backbone "$BACKBONE" --mirror "$MODELS" --out "$W/single" --threads 2 | grep -E '^(Shard|Wrote|skipped)'
  single_s=$(python3 -c "print(round($(date +%s.%N)-$start,1))")
  rows=$(marker "$W/single/embeddings-00000-of-00001.json" | cut -d' ' -f1)

  say "$D: featurize as a $TASKS-task Slurm array, then train on the gathered shards (dependent job)"
  start=$(date +%s.%N)
  jid=$(sbatch --parsable --array=0-$((TASKS-1)) --cpus-per-task=1 --output="$WORK/logs/$D-featurize-%A_%a.out" \
        deploy/slurm/featurize.sbatch "$DATA" "$BACKBONE" "$W/array" --mirror "$MODELS")
  tid=$(sbatch --parsable --dependency=afterok:"$jid" --cpus-per-task=2 --output="$WORK/logs/$D-train-%j.out" \
        deploy/slurm/train.sbatch "$W/array" "$W/model-array/model.zip" --mirror "$MODELS")
  echo "array job $jid, train job $tid"
  wait_job "$jid"
  array_s=$(python3 -c "print(round($(date +%s.%N)-$start,1))")
  wait_job "$tid"
  scontrol show job "$jid" | grep -E 'JobId|JobState' | paste - - | sed 's/^ *//'
  scontrol show job "$tid" | grep -E 'JobState' | sed 's/^ */train: /'
  tasks=""
  for f in "$W"/array/embeddings-*.json; do echo "$(basename "$f"): $(marker "$f")"; tasks="$tasks$(marker "$f" | cut -d' ' -f2) "; done
  grep -hE '^(Shard|Wrote|skipped)' "$WORK"/logs/"$D"-featurize-"$jid"_*.out

  say "$D: compare the shards with the one-process run"
  compare=$($CHECK compare "$W/single" "$W/array") && verdict=identical || verdict=DIFFERENT
  echo "$compare"

  say "$D: train on the one-process shards and on the images, for the accuracy"
  $MLNET_TRANSFER train --embeddings "$W/single" --out "$W/model-single/model.zip" --mirror "$MODELS" >/dev/null
  $MLNET_TRANSFER train --data "$DATA" --backbone "$BACKBONE" --mirror "$MODELS" --no-cache --out "$W/model-images/model.zip" >/dev/null
  a_img=$(accuracy "$W/model-images/report.json"); a_single=$(accuracy "$W/model-single/report.json"); a_array=$(accuracy "$W/model-array/report.json")
  echo "accuracy: from images $a_img, from one-process shards $a_single, from array shards $a_array"
  [ "$a_img" = "$a_single" ] && [ "$a_single" = "$a_array" ] || { echo "ACCURACY DIFFERS"; verdict="$verdict, accuracy differs"; }
  echo "| $D | $rows | $single_s ($(python3 -c "print(round($rows/$single_s,1))")) | $array_s; ${tasks% } | $verdict ($(echo "$compare" | sed 's/.*rows; //')) | $a_img / $a_single / $a_array |" >> "$TABLE"
done

say "kill one task mid-run, then rerun the array"
D=hds_shapes
DATA=$SHARED/data/$D
K=$WORK/killed
jid=$(sbatch --parsable --array=0-$((TASKS-1)) --cpus-per-task=1 --output="$WORK/logs/kill-%A_%a.out" \
      deploy/slurm/featurize.sbatch "$DATA" "$BACKBONE" "$K" --mirror "$MODELS")
echo "array job $jid"
victim=2
for _ in $(seq 600); do
  state=$(squeue -h -j "${jid}_${victim}" -o '%T %M' 2>/dev/null || true)
  case "$state" in RUNNING\ 0:0[5-9]|RUNNING\ 0:[1-5]?|RUNNING\ [1-9]*) break ;; esac
  sleep 1
done
echo "task $victim before scancel: $state; marker present: $([ -e "$K/embeddings-0000$victim-of-0000$TASKS.json" ] && echo yes || echo no)"
scancel "${jid}_${victim}"
wait_job "$jid"
scontrol show job "${jid}" | grep -E 'JobId|JobState' | paste - - | sed 's/^ *//'
killed_ok=yes
[ -e "$K/embeddings-0000$victim-of-0000$TASKS.json" ] && { echo "task $victim finished before the cancel reached it"; killed_ok=no; }
echo "files after the cancel:"; ls -la "$K" | sed 1d
echo "train on the incomplete folder:"
if $MLNET_TRANSFER train --embeddings "$K" --out "$WORK/killed-model/model.zip" --mirror "$MODELS" > "$WORK/killed-train.out" 2>&1; then
  echo "train accepted an incomplete folder"; killed_ok=no
else
  echo "exit $? — $(tr -s ' \n' ' ' < "$WORK/killed-train.out" | sed 's/.*error: //')"
fi
echo "resubmit the whole array:"
jid2=$(sbatch --parsable --array=0-$((TASKS-1)) --cpus-per-task=1 --output="$WORK/logs/rerun-%A_%a.out" \
       deploy/slurm/featurize.sbatch "$DATA" "$BACKBONE" "$K" --mirror "$MODELS")
wait_job "$jid2"
grep -hE '^(Shard|Wrote|redone|skipped)' "$WORK"/logs/rerun-"$jid2"_*.out
rerun_compare=$($CHECK compare "$WORK/$D/single" "$K") && rerun=identical || { rerun=DIFFERENT; killed_ok=no; }
echo "$rerun_compare"

say "gather cost on synthetic 1280-float embeddings (no scheduler)"
GATHER=$WORK/gather.txt
: > "$GATHER"
for n in ${GATHER_SIZES-10000 30000 100000}; do
  for t in lbfgs sdca; do
    /usr/bin/time -f "  max RSS %M KB, wall %e s" $CHECK gather "$n" 1280 10 "$t" 2>&1 | tee -a "$GATHER"
  done
done

say "write $RESULTS"
{
  echo "# bench/Scale: sharded featurization on a one-node Slurm"
  echo
  echo "Written by \`bash bench/Scale/run.sh\` on $(date -u +%Y-%m-%d) ($(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GB; Slurm $(dpkg-query -W -f='${Version}' slurm-wlm), munge $(dpkg-query -W -f='${Version}' munge));"
  echo "backbone $BACKBONE from $MODELS. The machine was shared with other developers' builds and tests while this ran"
  echo "(load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)), so the seconds below are what this run saw, not a clean-machine rate."
  echo
  echo "## One process vs a 4-task job array"
  echo
  cat "$TABLE"
  echo
  echo "\"identical\" is \`ScaleCheck compare\`: the same rows (path, label, split, content SHA-256, backbone SHA-256) and"
  echo "bit-identical embeddings, no path missing or duplicated. The array's tasks share the node's 2 cores (2 run at a time),"
  echo "so its wall time measures scheduling and per-task start-up on one node, not the speed-up of n nodes."
  echo
  echo "## Killing a task mid-run"
  echo
  echo "hds_shapes, array job $jid: task $victim was cancelled with \`scancel ${jid}_${victim}\` while running ($state, no marker yet)."
  echo "\`train --embeddings\` on that folder then failed:"
  echo
  echo '```'
  tr -s ' \n' ' ' < "$WORK/killed-train.out" | sed 's/^ *//' | fold -s -w 118
  echo
  echo '```'
  echo
  echo "Resubmitting the same array (job $jid2):"
  echo
  echo '```'
  grep -hE '^(Shard|redone)' "$WORK"/logs/rerun-"$jid2"_*.out
  echo "$rerun_compare"
  echo '```'
  echo
  echo "Outcome: $([ "$killed_ok" = yes ] && echo "the rerun redid only the cancelled shard; the result equals the one-process run ($rerun), nothing lost or duplicated." || echo "CHECK FAILED (see out/scale/run.log).")"
  echo
  echo "## Gather: training the head on N x 1280 embeddings"
  echo
  echo "\`ScaleCheck gather N 1280 10 TRAINER\`: synthetic embeddings (10 Gaussian-ish classes), one Parquet file written and read"
  echo "back with the shard reader, then the head fitted as \`train --embeddings --head-cv 0\` fits it (one fit; the default 5-fold"
  echo "regularisation search costs 3-11 such fits, in parallel). Max RSS is the whole process."
  echo
  echo '```'
  cat "$GATHER"
  echo '```'
} > "$RESULTS"
[ -s "$GATHER" ] || echo "(GATHER_SIZES was empty: the gather section has no figures)" >> "$RESULTS"
cat "$RESULTS"
[ "$killed_ok" = yes ] && ! grep -q -e DIFFERENT -e "accuracy differs" "$TABLE"
