#!/usr/bin/env bash
# The decisive cpu scale of paper-cifar10 and its pilot, then lightweight-cifar10's cpu scale (SAM against
# single-step AT, #37: its ST, SAM and PGD-AT runs are cpu-decisive's, reused; its single-step models train
# here), as two lanes of `--only` slices for a 2-core machine: one process per core, one thread each (the
# recipes' runs are compared at equal threads). Lanes confirm-a and confirm-b run the confirmatory
# replication (#48, paper-cifar10 --scale cpu-confirmatory), each after retraining one of cpu-decisive's
# runs whose weights were not kept, into a folder of its own, to see whether it comes back bit-identical.
# Every slice resumes where it stopped and skips finished work, so the same command continues after
# an interruption (a stopped session, a reboot).
#
#   tools/cpu_decisive.sh a DATA_DIR RAW_LOG &     # lane a (confirm-a for the confirmatory replication)
#   tools/cpu_decisive.sh b DATA_DIR RAW_LOG &     # lane b (confirm-b)
#
# Runs `python -m sam_bench` from this checkout (a git worktree at a commit records a clean commit).
# Each slice's command line goes into the raw log before its output (lightweight-cifar10's into RAW_LOG with
# .lightweight before its suffix, for that reproduction's folder); tools/console_log.py cleans them.
set -euo pipefail
lane=$1 data=$2 log=$3
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1
# The confirmatory lanes run the AVX2 code paths whatever the CPU (ATen and torch.compile's kernels by
# ATEN_CPU_CAPABILITY, oneDNN's by ONEDNN_MAX_CPU_ISA): cpu-decisive's runs, which they reuse and retrain,
# were made on an AVX2-only CPU, and a run resumed on another machine must go on with the same arithmetic.
# (A retrain on an AVX-512 CPU without them gave other weights: ST seed 1, sha256 a0fb1199 against d87cdc86.)
# torch.compile's kernel cache is not keyed by ATEN_CPU_CAPABILITY: kernels compiled for AVX-512 were
# reused under avx2 and the loss went NaN at step 10 (torch 2.13); a cache of their own prevents it.
case $lane in
restore-cpu*) ;; # paper-cifar10-cpu's runs trained on an AVX-512 machine, natively: retrained as they ran
confirm-* | restore-*)
    export ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
    export TORCHINDUCTOR_CACHE_DIR="${TMPDIR:-/tmp}/torchinductor-$(id -un)-avx2"
    ;;
esac

slice() {  # slice RECIPE SCALE MODELS [OUT]
    local to=$log out=()
    if [ "$1" = lightweight-cifar10 ]; then to="${log%.*}.lightweight.${log##*.}"; fi
    if [ $# -ge 4 ]; then out=(--out "$4"); fi
    # on a line of its own: a slice stopped mid-bar (a session's end) leaves its last frame unterminated
    printf '\n## python -m sam_bench reproduce %s --scale %s --only %s%s (%s)\n' "$1" "$2" "$3" "${4:+ --out $4}" \
        "$(date -u +%FT%TZ)" >> "$to"
    python -m sam_bench reproduce "$1" --scale "$2" --data-dir "$data" --only "$3" "${out[@]}" >> "$to" 2>&1
}

# A retrain comes back bit for bit only on a CPU that computes as the recorded one did: the instruction set
# alone does not settle it (paper-cifar10-cpu and the pilot came back on an AMD EPYC Zen 5, not on an Intel
# Xeon model 207 with the same ATEN_CPU_CAPABILITY and ONEDNN_MAX_CPU_ISA; their first-epoch logs). So a
# restore lane checks its first run's first epoch (minutes) before an hour of retraining that could not match.
same_first_epoch() {  # same_first_epoch RUN_DIR FOLDER: the lane stops unless this CPU retrains RUN's first epoch exactly
    local check
    printf '\n## python tools/first_epoch.py %s (%s)\n' "$1" "$(date -u +%FT%TZ)" >> "$log"
    check=$(python tools/first_epoch.py "$1" --work "${TMPDIR:-/tmp}/first-epoch-gate" 2>> "$log")
    echo "$check" >> "$log"
    if ! grep -q '"equal": true' <<< "$check"; then
        echo "cpu_decisive.sh $lane: this CPU does not retrain $1's first epoch bit for bit, so its retrains would" \
            "not match either; run the lane on a CPU like the one $2/first-epoch.log names" | tee -a "$log" >&2
        exit 3
    fi
}

replayed_out=reproductions/paper-cifar10-cpu-decisive-replayed
replayed() {  # replayed RUN AFTER [STOP]: cpu-decisive's RUN trained again after AFTER's first epoch, one process
    local runs=reproductions/paper-cifar10-cpu-decisive/runs
    local args=("$runs/$1" --into "$replayed_out" --after "$runs/$2" --work "${TMPDIR:-/tmp}/replayed")
    if [ $# -ge 3 ]; then args+=(--stop-after-epochs "$3"); fi
    printf '\n## python tools/retrain_after.py %s (%s)\n' "${args[*]}" "$(date -u +%FT%TZ)" >> "$log"
    python tools/retrain_after.py "${args[@]}" >> "$log" 2>&1
}

# The pilot first (both candidates, three seeds of ST and SAM-0.1 each), in two halves of about equal
# work; then the grid, most wanted first: the first seeds (published, AutoAttack), then the other seeds;
# then the single-step models of lightweight-cifar10 (Linf 2/255 in lane a, the dearer 8/255 in lane b).
case $lane in
a)
    slice paper-cifar10 cpu-decisive ST:1,ST:2,ST:3
    slice paper-cifar10 pilot-6ep ST
    slice paper-cifar10 cpu-decisive SAM-0.1:1
    slice paper-cifar10 cpu-decisive ST:0,SAM-0.1:0,SAM-0.2:0,AT-Linf-2:0
    slice paper-cifar10 cpu-decisive ST:4,SAM-0.1:4,SAM-0.2:1,SAM-0.2:2,SAM-0.4:1,SAM-0.4:2,AT-Linf-2:1
    slice lightweight-cifar10 cpu FGSM-RS-Linf-2:0,N-FGSM-Linf-2:0,FGSM-RS-Linf-2:1,N-FGSM-Linf-2:1
    slice lightweight-cifar10 cpu FGSM-RS-Linf-2:2,N-FGSM-Linf-2:2
    ;;
b)
    slice paper-cifar10 cpu-decisive SAM-0.1:2,SAM-0.1:3
    slice paper-cifar10 pilot-6ep SAM-0.1
    slice paper-cifar10 cpu-decisive SAM-0.4:0,AT-Linf-8:0
    slice paper-cifar10 cpu-decisive SAM-0.2:3,SAM-0.2:4,SAM-0.4:3,SAM-0.4:4,AT-Linf-2:2
    slice lightweight-cifar10 cpu FGSM-RS-Linf-8:0,N-FGSM-Linf-8:0,FGSM-RS-Linf-8:1,N-FGSM-Linf-8:1
    slice lightweight-cifar10 cpu FGSM-RS-Linf-8:2,N-FGSM-Linf-8:2
    ;;
# The confirmatory replication: the primary tests' seeds first, ST and SAM-0.1 seed by seed (a lane cut short
# leaves pairs); then AT-Linf-8's new seeds; last the first seeds' evaluation again (standard AutoAttack at the
# four C2 budgets: hours). About 8 hours of one core per lane (the recipe's compute_budget comment).
confirm-a)
    slice paper-cifar10 cpu-decisive ST:1 reproductions/paper-cifar10-cpu-decisive-retrained
    slice paper-cifar10 cpu-confirmatory ST:1,ST:2,ST:3,ST:4,SAM-0.1:1,SAM-0.1:2,SAM-0.1:3,SAM-0.1:4  # reused
    for s in 5 6 7 8 9 10 11; do slice paper-cifar10 cpu-confirmatory "ST:$s,SAM-0.1:$s"; done
    slice paper-cifar10 cpu-confirmatory AT-Linf-8:1
    slice paper-cifar10 cpu-confirmatory ST:0,SAM-0.1:0
    ;;
confirm-b)
    slice paper-cifar10 cpu-decisive SAM-0.1:1 reproductions/paper-cifar10-cpu-decisive-retrained
    for s in 12 13 14 15 16 17 18 19; do slice paper-cifar10 cpu-confirmatory "ST:$s,SAM-0.1:$s"; done
    slice paper-cifar10 cpu-confirmatory AT-Linf-8:2
    slice paper-cifar10 cpu-confirmatory AT-Linf-8:0
    ;;
# cpu-decisive's runs whose weights were not kept, trained again bit for bit (ST and SAM-0.1 seed 1 came
# back identical under the AVX2 code paths: weights and every per-image outcome); `sam-bench zoo keep
# reproductions/paper-cifar10-cpu-decisive --from reproductions/paper-cifar10-cpu-decisive-retrained` then
# takes each one whose weights have exactly the recorded sha256. The confirmatory replication's first.
# Not every run comes back: SAM-0.1:4, SAM-0.2:2 and SAM-0.2:3 were retrained in full and have other weights;
# SAM-0.2:4, SAM-0.4:2, SAM-0.4:3, SAM-0.4:4 and AT-Linf-2:1 differ already in their first epoch's loss in a
# fresh process (tools/first_epoch.py: first-epoch.log in the retrained folder; SAM-0.4:1, the control,
# matched), so they are not trained again here. Same commit, torch, threads and recorded instruction set as the runs that did come
# back. Each was recorded after other runs in its lane's process, and what a process trained before can
# change a compiled run's weights (AT-Linf-2:1's recorded first epoch came back after five other first
# epochs in one process, not in a fresh one); the processor is not recorded for them (runs record cpu_model
# now). AT-Linf-2:1's first epoch does come back after SAM-0.4:1's in one process (tools/first_epoch.py
# --after: first-epoch-after.log): a retrain that replays its lane's sequence in one process is what is left,
# and it brought all eight back bit for bit (lanes restore-c and restore-d below).
restore-a)
    slice paper-cifar10 cpu-decisive ST:2,ST:3,ST:4 reproductions/paper-cifar10-cpu-decisive-retrained
    slice paper-cifar10 cpu-decisive SAM-0.2:1,SAM-0.2:2,SAM-0.2:3 reproductions/paper-cifar10-cpu-decisive-retrained
    ;;
restore-b)
    slice paper-cifar10 cpu-decisive SAM-0.1:2,SAM-0.1:3,SAM-0.1:4 reproductions/paper-cifar10-cpu-decisive-retrained
    slice paper-cifar10 cpu-decisive SAM-0.4:1 reproductions/paper-cifar10-cpu-decisive-retrained
    slice paper-cifar10 cpu-decisive AT-Linf-2:2 reproductions/paper-cifar10-cpu-decisive-retrained
    ;;
# The runs left, trained again with their process's history replayed (all eight came back bit for bit, weights
# and every per-image outcome) (tools/retrain_after.py says why history
# counts; tools/first_epoch.py --after showed the first epochs coming back: first-epoch-after.log in the
# retrained folder): AT-Linf-2:1 trained epochs 1-2 after SAM runs in one process and epochs 3-8 in a fresh one;
# every lost SAM run trained after an AT run in its process (AT-Linf-2:1 or :2, resumed there). Into a folder of
# their own, beside the fresh-process retrains of the restore lanes; then `reproduce` evaluates each. The
# single-step runs of lightweight-cifar10 whose weights were not kept come back in a fresh process (their first
# epochs: first-epoch.log in lightweight-cifar10-cpu-retrained), one process each.
restore-c)
    replayed AT-Linf-2-9b7be827cb SAM-0.4-7123b68260 2
    slice paper-cifar10 cpu-decisive AT-Linf-2:1 "$replayed_out"
    for run in SAM-0.1-4d3bf7e06c:SAM-0.1:4 SAM-0.2-bfbead0746:SAM-0.2:2 SAM-0.4-8a36163fa9:SAM-0.4:2; do
        replayed "${run%%:*}" AT-Linf-2-57db371ad0
        slice paper-cifar10 cpu-decisive "${run#*:}" "$replayed_out"
    done
    for cell in FGSM-RS-Linf-2:1 N-FGSM-Linf-2:1 FGSM-RS-Linf-8:1; do
        slice lightweight-cifar10 cpu "$cell" reproductions/lightweight-cifar10-cpu-retrained
    done
    ;;
restore-d)
    for run in SAM-0.2-9e3c161d96:SAM-0.2:3 SAM-0.4-45a076aff0:SAM-0.4:3 SAM-0.2-348cd07441:SAM-0.2:4 \
        SAM-0.4-b8f92ed4bc:SAM-0.4:4; do
        replayed "${run%%:*}" AT-Linf-2-57db371ad0
        slice paper-cifar10 cpu-decisive "${run#*:}" "$replayed_out"
    done
    for cell in FGSM-RS-Linf-2:2 N-FGSM-Linf-2:2 FGSM-RS-Linf-8:2 N-FGSM-Linf-8:1 N-FGSM-Linf-8:2; do
        slice lightweight-cifar10 cpu "$cell" reproductions/lightweight-cifar10-cpu-retrained
    done
    ;;
# The two earlier folders' later seeds, whose weights were not kept either: paper-cifar10-cpu (eager, trained
# under AVX-512) and the pilot of cpu-decisive (compiled, AVX2; ST after ST and SAM-0.1 after SAM-0.1 in their
# processes, so a fresh process is their history). Their first epochs come back in fresh processes
# (first-epoch.log in each retrained folder); one process per run. The pilot's came back whole on an AMD EPYC Zen 3
# (AVX2 only) as on the Zen 5; paper-cifar10-cpu's need AVX-512 (first-epoch-zen3.log).
# paper-cifar10-cpu's six in one lane (restore-cpu), or in two of equal work, one per core (a seed each of ST,
# SAM-0.1 and AT-Linf-2, cheapest first); each checks first.
restore-cpu | restore-cpu-a | restore-cpu-b)
    same_first_epoch reproductions/paper-cifar10-cpu/runs/ST-844917c126 reproductions/paper-cifar10-cpu-retrained
    case $lane in
    restore-cpu) cells=(ST:1 ST:2 SAM-0.1:1 SAM-0.1:2 AT-Linf-2:1 AT-Linf-2:2) ;;
    restore-cpu-a) cells=(ST:1 SAM-0.1:1 AT-Linf-2:1) ;;
    restore-cpu-b) cells=(ST:2 SAM-0.1:2 AT-Linf-2:2) ;;
    esac
    for cell in "${cells[@]}"; do
        slice paper-cifar10 cpu "$cell" reproductions/paper-cifar10-cpu-retrained
    done
    ;;
# The pilot's six in one lane (restore-pilot), or in two of about equal work, one per core (a SAM-0.1 run takes
# about twice an ST run: restore-pilot-a three ST and one SAM-0.1, restore-pilot-b two SAM-0.1); each checks first.
restore-pilot | restore-pilot-a | restore-pilot-b)
    same_first_epoch reproductions/paper-cifar10-pilot-6ep/runs/ST-ee55878216 reproductions/paper-cifar10-pilot-6ep-retrained
    case $lane in
    restore-pilot) cells=(ST:0 ST:1 ST:2 SAM-0.1:0 SAM-0.1:1 SAM-0.1:2) ;;
    restore-pilot-a) cells=(ST:0 ST:1 ST:2 SAM-0.1:2) ;;
    restore-pilot-b) cells=(SAM-0.1:0 SAM-0.1:1) ;;
    esac
    for cell in "${cells[@]}"; do
        slice paper-cifar10 pilot-6ep "$cell" reproductions/paper-cifar10-pilot-6ep-retrained
    done
    ;;
# Then, in a checkout holding the restore lanes' folders: every retrain that came back bit-identical is kept in
# cpu-decisive (the fresh-process and the replayed ones), and the confirmatory replication's reused seeds 1-4 of ST and SAM-0.1 whose weights are kept
# again are evaluated there like seed 0 (clean on all 10,000 test images, the primary AutoAttack); the others
# keep the results they came with.
confirm-reused)
    for retrained in reproductions/paper-cifar10-cpu-decisive-retrained "$replayed_out"; do
        printf '\n## python -m sam_bench zoo keep reproductions/paper-cifar10-cpu-decisive --from %s (%s)\n' \
            "$retrained" "$(date -u +%FT%TZ)" >> "$log"
        python -m sam_bench zoo keep reproductions/paper-cifar10-cpu-decisive --from "$retrained" >> "$log" 2>&1
    done
    slice paper-cifar10 cpu-confirmatory ST:1,ST:2,ST:3,ST:4,SAM-0.1:1,SAM-0.1:2,SAM-0.1:3,SAM-0.1:4
    ;;
*)
    echo "usage: tools/cpu_decisive.sh a|b|confirm-a|confirm-b|restore-a|restore-b|restore-c|restore-d|restore-cpu[-a|-b]|restore-pilot[-a|-b]|confirm-reused DATA_DIR RAW_LOG" >&2
    exit 2
    ;;
esac
echo "## lane $lane done ($(date -u +%FT%TZ))" >> "$log"
