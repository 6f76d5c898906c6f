#!/usr/bin/env bash
# The remote GPU machine's side of the relay (WINDOWS.md): one subcommand per device call, run from
# the root of the checkout's copy there. What must outlive a call lives in ~, kept while the machine
# stays warm (30 s after a call): ~/c10 (CIFAR-10), ~/inbox (batches sent from the workstation),
# ~/state (the reproduction, zoo and leaderboards after the last stint), ~/outbox (what the last
# stint packed, brought back one batch per call). Nothing here needs more than the machine has:
# python3 with torch, and pyautoattack carried in .vendor/.
#
# The machine cannot know how much of its window is left: every call but `send` is told, --left
# MINUTES (the device minutes left when the call is issued: the last reply's lease.budget_left_s / 60),
# and plans by it (gpu_window.py): a call that could not return in time, or would be too short to be
# useful, is refused in one line with exit status 4 before it starts anything.
#
#   gpu_relay.sh data --left MIN [--last]     carry .data/part-K (gpu_data_parts.py), part 1 first:
#                                             keeps it in ~/c10; once all are there, checks and
#                                             unpacks; --last: exit 3 unless that happened
#   gpu_relay.sh test --left MIN [--at-most M] [pytest options]
#                                             the GPU tests (pytest -q -m gpu tests/, the options
#                                             added) with .vendor on the path and setup.cfg's addopts
#                                             left out; stopped (SIGINT: pytest prints its summary)
#                                             before the command limit or the window ends
#   gpu_relay.sh probe --left MIN [bench options]
#                                             `sam-bench bench --probe` into $OUT/probe.json, its
#                                             budget what the call leaves after a minute to start (at
#                                             most 180 s); stopped as the test call is
#   gpu_relay.sh inbox --left MIN             carry .relay-in/batch-N: keep a batch sent from here
#   gpu_relay.sh weights --left MIN           carry .weights/part-K (gpu_weights.py): zoo and run
#                                             weights this copy cannot fetch (no .git), each checked
#                                             against the sha256 its name gives, into the weights cache
#   gpu_relay.sh work --left MIN RECIPE SCALE [--at-most M] [--batches N] [reproduce options]
#                                             a stint: unpack the inbox, check that every unfinished
#                                             run's kept checkpoint is here (kept_checkpoint.py),
#                                             reproduce for as long as the window allows (at most M
#                                             minutes) with time to pack and for N batches (3) to come
#                                             back, pack what changed into ~/outbox, batch 1 into $OUT
#   gpu_relay.sh start --left MIN RECIPE SCALE [--at-most M] [--batches N] [reproduce options]
#                                             the same stint in the background: it starts a session of
#                                             its own (setsid), which the device lets outlive the call,
#                                             in a copy of the checkout (~/tree: the next call replaces
#                                             the checkout), so it is bound by the window, not by the
#                                             10-minute command limit; the call returns at once
#   gpu_relay.sh wait --left MIN [--at-most M]
#                                             wait for the background stint until the command limit or
#                                             the window: once it has packed, batch 1 into $OUT and its
#                                             console (exit: reproduce's); still running: what it has
#                                             finished since the last wait, batch 1 into $OUT, and
#                                             exit 5: send the rest, then wait again at once
#   gpu_relay.sh send N                       batch N of the last stint into $OUT (never refused)
set -euo pipefail
started=$(date +%s.%N)  # the call's minutes are counted from here
PY=${PYTHON:-python3}
RELAY_DIR=$(dirname "$0")  # relative where the call gives it so: a stint runs the copy in ~/tree
WINDOW_PY="$RELAY_DIR/gpu_window.py"
export PYTHONPATH=".vendor${PYTHONPATH:+:$PYTHONPATH}"
if [ -f COMMIT ]; then export SAM_BENCH_COMMIT; SAM_BENCH_COMMIT=$(cat COMMIT); fi
# What comes back per call: 8 files of at most 16 MiB, 64 MiB together (parts of 15 MiB).
PART_MIB=${RELAY_PART_MIB:-15}
BATCH_FILES=${RELAY_BATCH_FILES:-8}
: "${OUT:?OUT is not set: this runs on the device machine, where \$OUT is the folder that comes back}"

usage() { sed -n '14,48p' "$0" >&2; exit 2; }
cmd=${1:-}
[ $# -gt 0 ] && shift
left=
if [ "${1:-}" = --left ]; then
    [ $# -ge 2 ] || usage
    left=$2
    shift 2
fi
window() {  # ops/remote-gpu/gpu_window.py WHAT ...: the plan for this call; exit 4 (refused) or 2 passed on
    if [ -z "$left" ]; then
        echo "relay: $cmd needs --left MINUTES, the minutes left in the window when the call is issued (ops/remote-gpu/WINDOWS.md)" >&2
        exit 2
    fi
    "$PY" "$WINDOW_PY" "$@" --left "$left" --started "$started"
}

take_inbox() {  # batches carried in this call join the inbox
    if [ -d .relay-in ]; then mkdir -p ~/inbox && cp -r .relay-in/. ~/inbox/; fi
}

stint_options() {  # work and start: RECIPE SCALE [--at-most M] [--batches N] [reproduce options]
    [ $# -ge 2 ] || usage
    recipe=$1 scale=$2
    shift 2
    if [[ ${1:-} =~ ^[0-9]+(\.[0-9]*)?$ ]]; then
        echo "relay: $cmd takes --left MINUTES (the window's) before RECIPE, not a stint's minutes after SCALE (ops/remote-gpu/WINDOWS.md)" >&2
        exit 2
    fi
    plan=()  # the relay's own options come first, then reproduce's
    batches_planned=3
    while [ $# -gt 0 ]; do
        case "$1" in
        --at-most) plan+=(--at-most "${2:?--at-most MINUTES}"); shift 2 ;;
        --batches) batches_planned=${2:?--batches N}; shift 2 ;;
        *) break ;;
        esac
    done
    plan+=(--batches "$batches_planned")
    for option in "$@"; do
        case "$option" in --max-minutes | --max-minutes=*)
            echo "relay: the stint's --max-minutes comes from --left (and --at-most): leave it out" >&2
            exit 2 ;;
        esac
    done
    reproduce_options=("$@")
}

stint_folder() {  # RECIPE SCALE [reproduce options]: the reproduction folder the stint works on: reproduce's
    # --out, else its default (arguments, not the caller's variables: start's background stint has only these)
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

restore() {  # the inbox, then the last stint on this machine (~/state), then what the inbox holds unpacked;
    # then every unfinished run of the stint's folder whose checkpoint is kept in git must have it here (the
    # inbox brings it: this copy has no git), or the stint would train that run again from its start: refused
    # in one line instead
    take_inbox
    if [ -d ~/state ]; then cp -a ~/state/. .; fi
    unpacked=
    if compgen -G "$HOME/inbox/*/*.manifest.json" >/dev/null; then
        "$PY" "$RELAY_DIR/unpack.py" ~/inbox --overwrite  # a missing or altered batch stops the call here
        unpacked=1
    fi
    local folder
    folder=$(stint_folder "$recipe" "$scale" "${reproduce_options[@]}")
    if [ -d "$folder/runs" ] && ! "$PY" "$RELAY_DIR/kept_checkpoint.py" restore "$folder" >&2; then
        echo "relay: a kept checkpoint of $folder is not here: carry it in first (inbox calls, WINDOWS.md section 3)" >&2
        exit 3
    fi
}

stint() {  # LEFT MINUTES BATCHES RECIPE SCALE [reproduce options], in the current folder: reproduce, its log,
    # ~/state, and what it changed packed into ~/stint-pack; ~/stint-done says reproduce's exit and the batches planned
    local left=$1 minutes=$2 batches_planned=$3 recipe=$4 scale=$5
    shift 5
    mkdir -p reproductions/relay-logs
    local log
    log="reproductions/relay-logs/$(date -u +%Y%m%dT%H%M%SZ)-$recipe-$scale.log"
    touch ~/stint-start
    echo "relay: $left minutes left in the window: a stint of $minutes minutes, planned for $batches_planned batches" | tee "$log"
    set +e
    # the folder named: reproduce writes the project's committed evidence only when told so by name
    "$PY" -m sam_bench reproduce "$recipe" --scale "$scale" --max-minutes "$minutes" --quiet --out "$(stint_folder "$recipe" "$scale" "$@")" "$@" \
        2>&1 | tee -a "$log"
    local status=${PIPESTATUS[0]}
    set -e
    "$PY" - >>"$log" <<'PYTHON'
import json, torch
from sam_bench.runtime.provenance import environment
print("environment:", json.dumps(environment(torch.device("cuda" if torch.cuda.is_available() else "cpu"))))
PYTHON
    mkdir -p ~/state && cp -a reproductions model_zoo leaderboards ~/state/
    # everything the stint changed (what a wait collected on the way comes again: unpacked, it is identical);
    # into a folder of its own, which hand_back makes the outbox: a wait may be sending a collection meanwhile
    pack_changes ~/stint-pack stint ~/stint-start \
        "ops/remote-gpu/gpu_relay.sh $cmd --left $left $recipe $scale: a $minutes-minute stint (reproduce exit $status)" \
        --drop-finished-checkpoints
    echo "$status $batches_planned" > ~/stint-done.tmp
    mv ~/stint-done.tmp ~/stint-done
}

pack_changes() {  # OUT NAME MARK NOTE [pack options]: what changed under the three folders since MARK was touched,
    # in the parts and batches a call brings back; a run's own weights only where they are its only copy: a
    # finished later seed's (the zoo keeps a first seed's in fp16, and its entry comes back instead; run_files.py)
    local out=$1 name=$2 mark=$3 note=$4
    shift 4
    rm -rf "$out"
    "$PY" "$RELAY_DIR/pack.py" reproductions model_zoo leaderboards --newer-than "$mark" \
        --drop-published-run-weights --part-mib "$PART_MIB" --batch-files "$BATCH_FILES" \
        --name "$name" --out "$out" --note "$note" "$@"
}

to_outbox() {  # PACK: a finished pack becomes the outbox (`send` reads it), batch 1 goes into $OUT; prints the batches
    rm -rf ~/outbox && mv "$1" ~/outbox
    cp -r ~/outbox/batch-1 "$OUT/"
    ls -d ~/outbox/batch-* | wc -l
}

hand_back() {  # after a stint has packed: batch 1 into $OUT, and the sends it leaves to make; exit as reproduce
    local status planned batches
    read -r status planned < ~/stint-done
    batches=$(to_outbox ~/stint-pack)
    echo "reproduce exited $status; batch 1 of $batches in \$OUT"
    if [ "$batches" -gt 1 ]; then
        echo "bring the rest back at once, one call each: ops/remote-gpu/gpu_relay.sh send 2 ... $batches"
        window sends --batches "$batches" --planned "$planned"
    fi
    exit "$status"
}

collect() {  # while the background stint runs: what it finished since the last collection (or its start),
    # packed into the outbox, batch 1 into $OUT. Runs still training are left out (their files are changing
    # and their checkpoints are large); so are a first seed's run weights (the zoo keeps fp16), not a later
    # seed's. A machine lost before the stint packs then loses only what it had not finished.
    local mark=~/stint-start
    if [ -f ~/collect-mark ]; then mark=~/collect-mark; fi
    touch ~/collect-mark.next  # what changes from here on goes in the next collection
    if (cd ~/tree && pack_changes ~/collect-pack collected "$mark" \
        "ops/remote-gpu/gpu_relay.sh wait: what the background stint finished so far" \
        --finished-runs-only --exclude '*/checkpoint.pt') >~/collect.out 2>&1; then
        mv ~/collect-mark.next ~/collect-mark
        local batches
        batches=$(to_outbox ~/collect-pack)
        echo "relay: collected what the stint finished since the last wait: batch 1 of $batches in \$OUT" \
            "(unpack the batches in the order they came)"
        if [ "$batches" -gt 1 ]; then
            echo "bring the rest back at once, one call each: ops/remote-gpu/gpu_relay.sh send 2 ... $batches; then wait again"
        fi
    elif grep -q "nothing to pack" ~/collect.out; then
        mv ~/collect-mark.next ~/collect-mark
        echo "relay: nothing finished since the last wait"
    else
        cat ~/collect.out
        echo "relay: what the stint finished so far could not be packed (above); the stint goes on" >&2
    fi
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
test)
    # setup.cfg's addopts (--dist loadfile --no-loadscope-reorder) are for CI's `-n auto`, and the
    # second needs pytest-xdist 3.8 (2025-06-30); the GPU tests run in one process: addopts are left
    # out, so that whichever pytest-xdist the image has (or none) does not matter. No cache: the
    # checkout is a fresh copy each call.
    at_most=()
    if [ "${1:-}" = --at-most ]; then at_most=(--at-most "${2:?--at-most MINUTES}"); shift 2; fi
    seconds=$(window test "${at_most[@]}") || exit $?
    set +e
    timeout -s INT -k 30 "$seconds" "$PY" -m pytest -o addopts= -p no:cacheprovider -q --durations=15 -m gpu tests/ "$@"
    status=$?
    set -e
    if [ "$status" -eq 124 ]; then
        echo "relay: the GPU tests were stopped after $seconds s, to return before the command limit or the window's end" >&2
    fi
    exit "$status" ;;
probe)
    # sized as the test call (ops/remote-gpu/gpu_window.py test); the probe's own budget leaves a minute for
    # python, torch and CUDA to start and the record to be written, and the record is written after
    # every round, so a stopped probe still brings back what it measured
    seconds=$(window test) || exit $?
    budget=$(( seconds - 60 < 180 ? seconds - 60 : 180 ))
    [ "$budget" -ge 20 ] || budget=20
    set +e
    timeout -s INT -k 30 "$seconds" "$PY" -m sam_bench bench --probe --device cuda --budget-s "$budget" \
        --out "$OUT/probe.json" "$@"
    status=$?
    set -e
    echo "probe exited $status (budget $budget s); the record is \$OUT/probe.json"
    exit "$status" ;;
weights)
    # A stint that evaluates a trained model needs its committed weights (a first seed's zoo entry, a later
    # seed's own run weights), which live in the git history only: they come named by their sha256 and go where
    # sam_bench/rundir/blobs.py looks after the tree (a run's weights.json, a zoo entry, names its sha256)
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
    take_inbox
    echo "inbox: $(find ~/inbox -name '*.part-*' | wc -l) parts" ;;
work)
    stint_options "$@"
    window work "${plan[@]}" >/dev/null || exit $?  # refused before anything starts
    restore
    # planned again, less the minutes the unpacking took: the stint, its packing and its sends end in
    # time (ops/remote-gpu/gpu_window.py has the arithmetic and its margins)
    minutes=$(window work "${plan[@]}") || exit $?
    if [ -n "$unpacked" ]; then rm -rf ~/inbox; fi
    rm -rf ~/stint-done ~/stint-pack
    stint "$left" "$minutes" "$batches_planned" "$recipe" "$scale" "${reproduce_options[@]}"
    hand_back ;;
start)
    stint_options "$@"
    window start "${plan[@]}" >/dev/null || exit $?  # refused before anything starts
    if [ -f ~/stint.pid ] && kill -0 "$(cat ~/stint.pid)" 2>/dev/null; then
        echo "relay: a stint is still running in the background: ops/remote-gpu/gpu_relay.sh wait --left MIN" >&2
        exit 3
    fi
    restore
    minutes=$(window start "${plan[@]}") || exit $?
    if [ -n "$unpacked" ]; then rm -rf ~/inbox; fi
    rm -rf ~/stint-done ~/stint.pid ~/collect-mark ~/stint-pack
    # The next call replaces this checkout: the stint runs in a copy of its own. Its own session (setsid)
    # outlives the call; its output goes to ~/stint.out, so the call returns at once.
    rm -rf ~/tree && cp -a . ~/tree
    cd ~/tree
    # made here, not by the background job's redirection: a `wait` issued at once on a busy machine can come
    # before that job has run at all, and must find the console (empty) rather than fail to read it
    : >~/stint.out
    setsid bash ops/remote-gpu/gpu_relay.sh _stint "$left" "$minutes" "$batches_planned" "$recipe" "$scale" \
        "${reproduce_options[@]}" >>~/stint.out 2>&1 </dev/null &
    pid=$!
    echo "$pid" > ~/stint.pid
    # The call's process group is ended when the call returns (the device's, and the rehearsal's, way), and a
    # busy machine may not yet have run the stint's setsid(): return only once it leads a session of its own
    # (field 6 of /proc/PID/stat; at most 10 s). Under load the rehearsal once lost its stint to this race.
    for _ in $(seq 200); do
        [ "$(awk '{print $6}' /proc/"$pid"/stat 2>/dev/null)" = "$pid" ] && break
        sleep 0.05
    done
    echo "relay: a stint of $minutes minutes started in the background (pid $pid); call" \
        "ops/remote-gpu/gpu_relay.sh wait --left MIN at once, and again while it exits 5" ;;
_stint)  # start's background stint (not a call of its own)
    cmd=start
    stint "$@" ;;
wait)
    at_most=()
    if [ "${1:-}" = --at-most ]; then at_most=(--at-most "${2:?--at-most MINUTES}"); shift 2; fi
    seconds=$(window wait "${at_most[@]}") || exit $?
    if [ ! -f ~/stint.pid ]; then
        echo "relay: no stint was started on this machine (it was handed back, or start was not called)" >&2
        exit 3
    fi
    pid=$(cat ~/stint.pid)
    # returns when the stint's process ends (it has packed) or when the call must return
    timeout "$seconds" tail --pid="$pid" -f /dev/null || true
    if [ -f ~/stint-done ] && ! kill -0 "$pid" 2>/dev/null; then
        cat ~/stint.out
        hand_back
    elif kill -0 "$pid" 2>/dev/null; then
        echo "relay: the stint is still running ($(( ($(date +%s) - $(stat -c %Y ~/stint.pid)) / 60 )) minutes since it started); its console's last lines:"
        tail -n 5 ~/stint.out
        collect
        echo "relay: call ops/remote-gpu/gpu_relay.sh wait --left MIN again at once"
        exit 5
    else
        tail -n 40 ~/stint.out
        echo "relay: the background stint ended without packing (its console above)" >&2
        exit 3
    fi ;;
send)
    [ -d ~/outbox/batch-"${1:?usage: ops/remote-gpu/gpu_relay.sh send N}" ] || {
        echo "no batch $1 in ~/outbox: the machine was handed back, or the stint made fewer batches" >&2; exit 3; }
    cp -r ~/outbox/batch-"$1" "$OUT/"
    echo "batch $1 of $(ls -d ~/outbox/batch-* | wc -l) in \$OUT" ;;
*)
    usage ;;
esac
