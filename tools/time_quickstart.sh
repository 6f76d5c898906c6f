#!/usr/bin/env bash
# Time the README's quick start as a new user meets it, in wall time and its own CPU-seconds (what an idle
# machine's wall time approaches, per core): a fresh clone, the install, then
# `sam-bench reproduce paper-cifar10 --scale smoke`. Runs it N times (default 3) and writes every run's
# wall time, split into training, evaluation and the rest (read from the reproduction's own records), the
# machine (cores, CPU model) and its load during each run (the load average before and after, and the share
# of the cores other work used meanwhile, from /proc/stat less the run's own CPU time) into
# benchmarks/quickstart-<host>.txt, and the medians into the README between the markers
# `quickstart-time start` / `end` (so no one types a number, and a busy machine says so). The clones are
# installed into a virtual environment of the tool's own, made fresh for each call (as a new user's), so the
# environment it is called from is left as it was.
#   tools/time_quickstart.sh [N]
set -eu
n=${1:-3}
repo=$(cd "$(dirname "$0")/.." && pwd)
out="$repo/benchmarks/quickstart-$(hostname -s).txt"
work=$(mktemp -d)
runs="$work/runs.jsonl"
python3 -m venv "$work/venv"
py="$work/venv/bin/python"
for i in $(seq "$n"); do
  d="$work/clone-$i"
  git clone -q "$repo" "$d"
  commit=$(git -C "$d" rev-parse --short HEAD)  # what was timed
  (cd "$d" && "$py" -m pip install -q -c constraints-cpu.txt -e . >/dev/null 2>&1)
  # One run, measured: one JSON line (seconds; load averages; other work's share of the cores)
  (cd "$d" && "$py" - >> "$runs" <<'PY'
import json, os, resource, subprocess, sys, time

def busy_seconds():  # CPU time every process on the machine has used so far
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait

load_before, busy_before, started = os.getloadavg()[0], busy_seconds(), time.time()
command = [os.path.join(os.path.dirname(sys.executable), "sam-bench"), "reproduce", "paper-cifar10", "--scale", "smoke"]
with open("run.log", "w") as log:
    subprocess.run([*command, "--quiet"], stdout=log, stderr=subprocess.STDOUT, check=True)
wall, busy, load_after = time.time() - started, busy_seconds() - busy_before, os.getloadavg()[0]
own = resource.getrusage(resource.RUSAGE_CHILDREN)
from sam_bench.report import spent
from sam_bench.report.folder import Folder

totals = spent.of_records(Folder.load("reproductions/paper-cifar10-smoke").records)
print(json.dumps({
    "wall_s": wall,
    "cpu_s": own.ru_utime + own.ru_stime,  # the quick start's own CPU time, every core it used together
    "training_s": totals["training_wall_s"],
    "evaluation_s": totals["evaluation_wall_s"],
    "load_before": load_before,
    "load_after": load_after,
    "others_share": max(0.0, busy - own.ru_utime - own.ru_stime) / (wall * os.cpu_count()),
}))
PY
  )
  tail -n 12 "$d/run.log"
  rm -rf "$d"
done
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
python3 - "$runs" "$out" "$repo/README.md" "$commit" "$cpu" <<'PY'
import json, os, re, statistics, sys, time
runs_file, out, readme, commit, cpu = sys.argv[1:]
runs = [json.loads(line) for line in open(runs_file)]
median = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
rest = [r["wall_s"] - r["training_s"] - r["evaluation_s"] for r in runs]
cores, name = os.cpu_count(), os.path.basename(out)
lines = [
    "quick start (sam-bench reproduce paper-cifar10 --scale smoke, after the install) in a fresh clone",
    f"commit {commit}, {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}, {cores} cores: {cpu}",
    "per run: wall s = training + evaluation + the rest (start-up, zoo, the leaderboard gate's re-measurement of"
    " the results, C4's timing, report);"
    " its own CPU s; load average (1 min) before -> after; other work's share of the cores during the run",
    *(f"  {r['wall_s']:.1f} = {r['training_s']:.1f} + {r['evaluation_s']:.1f} + {x:.1f}; CPU {r.get('cpu_s', 0):.1f} s;"
      f" load {r['load_before']:.2f} -> {r['load_after']:.2f}; others {100 * r['others_share']:.0f}%"
      for r, x in zip(runs, rest)),
    f"median seconds: {median['wall_s']:.1f} (training {median['training_s']:.1f}, evaluation"
    f" {median['evaluation_s']:.1f}, the rest {statistics.median(rest):.1f})",
]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
loads = sorted(r[k] for r in runs for k in ("load_before", "load_after"))
busy = max(r["others_share"] for r in runs)
line = (
    f"{median['wall_s'] / 60:.1f} minutes after the install on this project's {cores}-core {cpu} machine ("
    + (f"median of {len(runs)} fresh clones" if len(runs) > 1 else "one fresh clone")
    + f", {median['wall_s']:.0f} s wall and {median['cpu_s']:.0f} CPU-seconds of its own: training {median['training_s']:.0f} s, evaluation "
    f"{median['evaluation_s']:.0f} s, the rest (start-up, zoo, the leaderboard gate measuring a sample of the results again before it publishes "
    f"them, report) {statistics.median(rest):.0f} s; "
    f"1-minute load average {loads[0]:.1f} to {loads[-1]:.1f} around the runs; "
    + (
        "the machine otherwise idle"
        if busy < 0.05
        else f"the machine shared: other work used up to {100 * busy:.0f}% of the cores meanwhile, so an idle one "
        f"takes less wall time (about its {median['cpu_s'] / cores / 60:.1f} CPU-minutes per core at the least)"
    )
    + f": `benchmarks/{name}`)"
)
text = open(readme).read()
new = re.sub(r"(<!-- quickstart-time start -->).*?(<!-- quickstart-time end -->)", lambda m: m[1] + line + m[2],
             text, flags=re.S)
if new == text and line not in text:
    sys.exit("README.md has no quickstart-time markers")
open(readme, "w").write(new)
PY
rm -rf "$work"
