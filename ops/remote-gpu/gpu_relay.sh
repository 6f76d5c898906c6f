#!/usr/bin/env bash
# The GPU machine's side of the relay (README.md here): one subcommand per device call, run from the root of the
# checkout's copy there. What must outlive a call lives in ~, kept while the machine stays warm (30 s after a
# call): ~/c10 (CIFAR-10), ~/inbox (batches carried in), ~/state (the reproduction after the last reproduce call),
# ~/outbox (what that call packed, brought back one batch per call). It needs python3 with torch, and pyautoattack
# carried in .vendor/.
#
# The machine cannot know how much of its window is left: every call but `send` is told, --left MINUTES (the
# device minutes left when the call is issued), and plans by it (gpu_window.py): a call that could not return in
# time, or would be too short to be useful, is refused in one line with exit status 4 before it starts anything.
#
#   gpu_relay.sh data --left MIN [--last]     carry .data/part-K (gpu_data_parts.py), part 1 first: kept in
#                                             ~/c10; once all are there, checked and unpacked; --last: exit 3
#                                             unless that happened
#   gpu_relay.sh weights --left MIN           carry .weights/part-K (gpu_weights.py): committed weights this copy
#                                             cannot fetch (no .git), each checked against the sha256 its name
#                                             gives, into the weights cache
#   gpu_relay.sh inbox --left MIN             carry .relay-in/batch-N (gpu_prepare.py): kept until reproduce
#                                             unpacks it into the tree
#   SAM_BENCH_COMMIT=SHA gpu_relay.sh reproduce --left MIN RECIPE SCALE [--at-most M] [--batches B] [options]
#                                             `sam-bench reproduce` for as long as the window allows
#                                             (--max-minutes from MIN, leaving time to pack and for B batches to
#                                             come back), after unpacking the inbox (the call may carry its last
#                                             batch), the runs recording SHA as their code; what it changed
#                                             packed into ~/outbox, batch 1 into $OUT
#   gpu_relay.sh send N                       batch N of the last reproduce call into $OUT (never refused)
set -euo pipefail
started=$(date +%s.%N)  # the call's minutes are counted from here
PY=${PYTHON:-python3}
RELAY_DIR=$(dirname "$0")
export PYTHONPATH=".vendor${PYTHONPATH:+:$PYTHONPATH}"
# What comes back per call: 8 files of at most 16 MiB, 64 MiB together (parts of 15 MiB).
PART_MIB=${RELAY_PART_MIB:-15}
BATCH_FILES=${RELAY_BATCH_FILES:-8}
: "${OUT:?OUT is not set: this runs on the device machine, where \$OUT is the folder that comes back}"

usage() { sed -n '12,26p' "$0" >&2; exit 2; }
cmd=${1:-}
[ $# -gt 0 ] && shift
left=
if [ "${1:-}" = --left ]; then
    [ $# -ge 2 ] || usage
    left=$2
    shift 2
fi
window() {  # gpu_window.py WHAT ...: the plan for this call; exit 4 (refused) or 2 passed on
    if [ -z "$left" ]; then
        echo "relay: $cmd needs --left MINUTES, the minutes left in the window when the call is issued" >&2
        exit 2
    fi
    "$PY" "$RELAY_DIR/gpu_window.py" "$@" --left "$left" --started "$started"
}

folder_of() {  # RECIPE SCALE [reproduce options]: reproduce's --out, else its default folder
    local recipe=$1 scale=$2 i
    shift 2
    local options=("$@")
    for ((i = 0; i < ${#options[@]}; i++)); do
        case "${options[$i]}" in
        --out) echo "${options[$((i + 1))]:-}"; return ;;
        --out=*) echo "${options[$i]#--out=}"; return ;;
        esac
    done
    echo "reproductions/$recipe-$scale"
}

case "$cmd" in
data)
    window call
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
    elif [ "${1:-}" = --last ]; then
        echo "data: still missing after the last part: $missing (start again with part 1)" >&2
        exit 3
    else
        echo "data: $(ls ~/c10 | wc -l) files in ~/c10; still to come: $missing"
    fi ;;
weights)
    # A model evaluated here whose committed weights live in the git history only (a first seed's zoo entry, a
    # later seed's own run weights): they come named by their sha256 and go where sam_bench/rundir/blobs.py looks
    # after the tree
    window call
    compgen -G ".weights/part-*/*.safetensors" >/dev/null || { echo "no .weights/part-K carried in this call" >&2; exit 2; }
    cache="${SAM_BENCH_CACHE:-$HOME/.cache/sam-bench}/weights"
    mkdir -p "$cache"
    for f in .weights/part-*/*.safetensors; do
        name=$(basename "$f" .safetensors)
        sum=$(sha256sum "$f" | cut -d' ' -f1)
        if [ "$sum" != "$name" ]; then
            echo "weights: $f has sha256 $sum, not the one its name gives: not taken" >&2
            exit 3
        fi
        cp "$f" "$cache/$name.safetensors.tmp" && mv "$cache/$name.safetensors.tmp" "$cache/$name.safetensors"
    done
    echo "weights: $(compgen -G "$cache/*.safetensors" | wc -l) files in the machine's weights cache" ;;
inbox)
    window call
    compgen -G ".relay-in/batch-*" >/dev/null || { echo "no .relay-in/batch-N carried in this call" >&2; exit 2; }
    mkdir -p ~/inbox && cp -r .relay-in/. ~/inbox/
    echo "inbox: $(find ~/inbox -name '*.part-*' | wc -l) parts" ;;
reproduce)
    [ $# -ge 2 ] || usage
    recipe=$1 scale=$2
    shift 2
    plan=()  # the relay's own options come first, then reproduce's
    batches=2
    while [ $# -gt 0 ]; do
        case "$1" in
        --at-most) plan+=(--at-most "${2:?--at-most MINUTES}"); shift 2 ;;
        --batches) batches=${2:?--batches N}; shift 2 ;;
        *) break ;;
        esac
    done
    plan+=(--batches "$batches")
    for option in "$@"; do
        case "$option" in --max-minutes | --max-minutes=*)
            echo "relay: reproduce's --max-minutes comes from --left (and --at-most): leave it out" >&2
            exit 2 ;;
        esac
    done
    minutes=$(window reproduce "${plan[@]}") || exit $?  # refused before anything starts
    longest=$(window reproduce --batches "$batches")  # what the window allows, whatever --at-most asks
    # This copy has no .git: the runs name their code by the commit the workstation sent (gpu_prepare.py refuses
    # to send a tree whose sam_bench/ differs from it), or they would record none.
    if [ -z "${SAM_BENCH_COMMIT:-}" ]; then
        echo "relay: reproduce needs SAM_BENCH_COMMIT=<the commit sent> before it on the command line (gpu_prepare.py prints the call)" >&2
        exit 2
    fi
    export SAM_BENCH_COMMIT
    folder=$(folder_of "$recipe" "$scale" "$@")
    # the last reproduce call on this machine, then what the inbox holds with what this call carries (a missing or
    # altered batch stops here)
    if [ -d ~/state ]; then cp -a ~/state/. .; fi
    if [ -d .relay-in ]; then mkdir -p ~/inbox && cp -r .relay-in/. ~/inbox/; fi
    if compgen -G "$HOME/inbox/*/*.manifest.json" >/dev/null; then
        "$PY" "$RELAY_DIR/unpack.py" ~/inbox --overwrite
        rm -rf ~/inbox
    fi
    # an unfinished run whose checkpoint is kept in git must have it here (this copy has no git), or reproduce
    # would train it again from its start
    if [ -d "$folder/runs" ] && ! "$PY" "$RELAY_DIR/kept_checkpoint.py" restore "$folder" >&2; then
        echo "relay: a kept checkpoint of $folder is not here: carry it in first (inbox calls)" >&2
        exit 3
    fi
    mkdir -p reproductions/relay-logs
    log="reproductions/relay-logs/$(date -u +%Y%m%dT%H%M%SZ)-$recipe-$scale.log"
    mark=$(mktemp)  # what changes from here on is packed
    # reproduce stops itself between epochs and chunks; past what the window allows, by half its time to pack, it is
    # interrupted (SIGINT: what it finished is saved, and the call still packs in time)
    seconds=$("$PY" -c "import sys; print(int(float(sys.argv[1]) * 60) + 30)" "$longest")
    echo "relay: $left minutes left in the window: reproduce for $minutes minutes (stopped after $seconds s at the latest), code $SAM_BENCH_COMMIT, $batches batches planned" | tee "$log"
    set +e
    # the folder named: reproduce writes the project's committed evidence only when told so by name
    timeout -s INT -k 10 "$seconds" "$PY" -m sam_bench reproduce "$recipe" --scale "$scale" --max-minutes "$minutes" \
        --quiet --out "$folder" "$@" 2>&1 | tee -a "$log"
    status=${PIPESTATUS[0]}
    set -e
    "$PY" - >>"$log" <<'PYTHON'
import json, torch
from sam_bench.runtime.provenance import environment
print("environment:", json.dumps(environment(torch.device("cuda" if torch.cuda.is_available() else "cpu"))))
PYTHON
    mkdir -p ~/state && cp -a reproductions model_zoo leaderboards ~/state/
    # what reproduce changed, in the parts and batches a call brings back; a run's own weights only where they are
    # its only copy (a finished later seed's: run_files.py), an unfinished run's checkpoint, never a finished one's
    rm -rf ~/outbox ~/pack
    "$PY" "$RELAY_DIR/pack.py" reproductions model_zoo leaderboards --newer-than "$mark" \
        --drop-published-run-weights --drop-finished-checkpoints --part-mib "$PART_MIB" --batch-files "$BATCH_FILES" \
        --name "$scale" --out ~/pack --note "gpu_relay.sh reproduce --left $left $recipe $scale $*: $minutes minutes (exit $status)"
    mv ~/pack ~/outbox
    cp -r ~/outbox/batch-1 "$OUT/"
    count=$(ls -d ~/outbox/batch-* | wc -l)
    echo "reproduce exited $status; batch 1 of $count in \$OUT"
    if [ "$count" -gt 1 ]; then
        echo "bring the rest back at once, one call each: ops/remote-gpu/gpu_relay.sh send 2 ... $count"
    fi
    if [ "$count" -gt "$batches" ]; then
        echo "relay: $count batches, planned for $batches: the window may end before the last send" >&2
    fi
    exit "$status" ;;
send)
    [ -d ~/outbox/batch-"${1:?usage: ops/remote-gpu/gpu_relay.sh send N}" ] || {
        echo "no batch $1 in ~/outbox: the machine was handed back, or the call packed fewer batches" >&2; exit 3; }
    cp -r ~/outbox/batch-"$1" "$OUT/"
    echo "batch $1 of $(ls -d ~/outbox/batch-* | wc -l) in \$OUT" ;;
*)
    usage ;;
esac
