#!/usr/bin/env bash
# Time the README's quick start as a new user meets it: a fresh clone, the install, then
# `sam-bench reproduce paper-cifar10 --scale smoke`. Runs it N times (default 3) and writes every
# wall time, their median and the machine into benchmarks/quickstart-<host>.txt, and the median into
# the README between the markers `quickstart-time start` / `end` (so no one types the number).
#   tools/time_quickstart.sh [N]
set -eu
n=${1:-3}
repo=$(cd "$(dirname "$0")/.." && pwd)
out="$repo/benchmarks/quickstart-$(hostname -s).txt"
load=$(cut -d' ' -f1-3 /proc/loadavg)  # other work on the machine slows the runs: say how much there was
times=()
for i in $(seq "$n"); do
  d=$(mktemp -d)
  git clone -q "$repo" "$d/p"
  (cd "$d/p" && pip install -q -c constraints-cpu.txt -e . >/dev/null 2>&1)
  start=$(date +%s.%N)
  (cd "$d/p" && sam-bench reproduce paper-cifar10 --scale smoke --quiet) > "$d/run.log" 2>&1
  end=$(date +%s.%N)
  times+=("$(python3 -c "print(f'{$end - $start:.1f}')")")
  tail -n 12 "$d/run.log"
  rm -rf "$d"
done
(cd "$repo" && pip install -q -c constraints-cpu.txt -e . >/dev/null 2>&1)  # the checkout's own install again
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
{
  echo "quick start (sam-bench reproduce paper-cifar10 --scale smoke, after the install) in a fresh clone"
  echo "commit $(git -C "$repo" rev-parse --short HEAD), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "load average (1, 5, 15 min) before the runs: $load"
  echo "wall seconds: ${times[*]}"
  echo "median seconds: $median"
} > "$out"
cat "$out"
python3 - "$repo/README.md" "$median" "$n" "$(nproc)" "$(basename "$out")" <<'PY'
import re, sys
readme, median, n, cores, name = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
text = open(readme).read()
line = (f"{median / 60:.1f} minutes after the install on this project's {cores}-core CPU machine "
        f"(median of {n} fresh clones, {median:.0f} s: `benchmarks/{name}`)")
new = re.sub(r"(<!-- quickstart-time start -->).*?(<!-- quickstart-time end -->)", lambda m: m[1] + line + m[2],
             text, flags=re.S)
if new == text and line not in text:
    sys.exit("README.md has no quickstart-time markers")
open(readme, "w").write(new)
PY
