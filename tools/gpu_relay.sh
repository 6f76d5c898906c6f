#!/usr/bin/env bash
# The lent GPU machine's side of the relay (docs/gpu.md): one subcommand per device call, run from
# the root of the checkout's copy there. What must outlive a call lives in ~, kept while the machine
# stays warm (30 s after a call): ~/c10 (CIFAR-10), ~/inbox (batches sent from the workstation),
# ~/state (the reproduction, zoo and leaderboards after the last stint), ~/outbox (what the last
# stint packed, brought back one batch per call). Nothing here needs more than the machine has:
# python3 with torch, and pyautoattack carried in .vendor/.
#
#   tools/gpu_relay.sh data [--last]              carry .data/part-K (tools/gpu_data_parts.py), part 1
#                                                 first: keeps it in ~/c10; once all are there, checks
#                                                 and unpacks; --last: exit 3 unless that happened
#   tools/gpu_relay.sh inbox                      carry .relay-in/batch-N: keep a batch sent from here
#   tools/gpu_relay.sh work RECIPE SCALE MINUTES [reproduce options]
#                                                 a stint: unpack the inbox, reproduce for MINUTES, pack
#                                                 what changed into ~/outbox, batch 1 into $OUT
#   tools/gpu_relay.sh send N                     batch N of the last stint into $OUT
set -euo pipefail
PY=${PYTHON:-python3}
export PYTHONPATH=".vendor${PYTHONPATH:+:$PYTHONPATH}"
if [ -f COMMIT ]; then export SAM_BENCH_COMMIT; SAM_BENCH_COMMIT=$(cat COMMIT); fi
# What comes back per call: 8 files of at most 16 MiB, 64 MiB together (parts of 15 MiB).
PART_MIB=${RELAY_PART_MIB:-15}
BATCH_FILES=${RELAY_BATCH_FILES:-8}
: "${OUT:?OUT is not set: this runs on the device machine, where \$OUT is the folder that comes back}"

take_inbox() {  # batches carried in this call join the inbox
    if [ -d .relay-in ]; then mkdir -p ~/inbox && cp -r .relay-in/. ~/inbox/; fi
}

case "${1:-}" in
data)
    compgen -G ".data/part-*/*" >/dev/null || { echo "no .data/part-K carried in this call" >&2; exit 2; }
    mkdir -p ~/c10 && cp .data/part-*/* ~/c10/
    if [ ! -f ~/c10/manifest.json ]; then
        echo "~/c10 has no part 1 (manifest.json): the machine was handed back, or part 1 was not sent first; start again with part 1" >&2
        exit 3
    fi
    # the files the manifest names that have not come yet
    missing=$("$PY" -c 'import json, os
c10 = os.path.expanduser("~/c10")
m = json.load(open(os.path.join(c10, "manifest.json")))
names = [f["file"] for split in m["splits"].values() for f in split["files"]] + [m["labels_file"], "cifar10_unpack.py"]
print(" ".join(n for n in names if not os.path.isfile(os.path.join(c10, n))))')
    if [ -z "$missing" ]; then
        [ -f ~/c10/cifar10.npz ] || "$PY" ~/c10/cifar10_unpack.py ~/c10/cifar10.npz --src ~/c10
        echo "data: complete, checked and unpacked in ~/c10/cifar10.npz"
    elif [ "${2:-}" = --last ]; then
        echo "data: still missing after the last part: $missing (start again with part 1)" >&2
        exit 3
    else
        echo "data: $(ls ~/c10 | wc -l) files in ~/c10; still to come: $missing"
    fi ;;
inbox)
    take_inbox
    echo "inbox: $(find ~/inbox -name '*.part-*' | wc -l) parts" ;;
work)
    [ $# -ge 4 ] || { echo "usage: tools/gpu_relay.sh work RECIPE SCALE MINUTES [reproduce options]" >&2; exit 2; }
    recipe=$2 scale=$3 minutes=$4
    shift 4
    take_inbox
    if [ -d ~/state ]; then cp -a ~/state/. .; fi  # the last stint on this machine
    if compgen -G "$HOME/inbox/*/*.manifest.json" >/dev/null; then
        "$PY" -m sam_bench unpack ~/inbox --overwrite && rm -rf ~/inbox
    fi
    mkdir -p reproductions/relay-logs
    log="reproductions/relay-logs/$(date -u +%Y%m%dT%H%M%SZ)-$recipe-$scale.log"
    touch ~/stint-start
    # The stint's time limit leaves about a minute of the 10-minute call for packing and the transfer.
    set +e
    "$PY" -m sam_bench reproduce "$recipe" --scale "$scale" --max-minutes "$minutes" --quiet "$@" 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    set -e
    "$PY" - >>"$log" <<'EOF'
import json, torch
from sam_bench.provenance import environment
print("environment:", json.dumps(environment(torch.device("cuda" if torch.cuda.is_available() else "cpu"))))
EOF
    mkdir -p ~/state && cp -a reproductions model_zoo leaderboards ~/state/
    rm -rf ~/outbox
    "$PY" -m sam_bench pack reproductions model_zoo leaderboards --newer-than ~/stint-start \
        --exclude 'reproductions/*/runs/*/model.safetensors' --drop-finished-checkpoints \
        --part-mib "$PART_MIB" --batch-files "$BATCH_FILES" --name stint --out ~/outbox \
        --note "tools/gpu_relay.sh work $recipe $scale $minutes (reproduce exit $status)"
    cp -r ~/outbox/batch-1 "$OUT/"
    batches=$(ls -d ~/outbox/batch-* | wc -l)
    echo "reproduce exited $status; batch 1 of $batches in \$OUT"
    if [ "$batches" -gt 1 ]; then echo "bring the rest back at once, one call each: tools/gpu_relay.sh send 2 ... $batches"; fi
    exit "$status" ;;
send)
    [ -d ~/outbox/batch-"${2:?usage: tools/gpu_relay.sh send N}" ] || {
        echo "no batch $2 in ~/outbox: the machine was handed back, or the stint made fewer batches" >&2; exit 3; }
    cp -r ~/outbox/batch-"$2" "$OUT/"
    echo "batch $2 of $(ls -d ~/outbox/batch-* | wc -l) in \$OUT" ;;
*)
    sed -n '2,16p' "$0" >&2
    exit 2 ;;
esac
