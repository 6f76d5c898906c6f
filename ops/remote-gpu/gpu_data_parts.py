"""Cut CIFAR-10 into the fewest parts that each travel to the lent GPU machine in one device call.

A device call carries the working tree (tracked and untracked-not-ignored files) plus the carried
paths, at most 64 MiB in all (README.md here). CIFAR-10 packed is about 98 MiB, so it goes over in parts,
one call each, `ops/remote-gpu/gpu_relay.sh data` keeping them in ~/c10 until the last one is there. How many
parts depends on how big the tree is today: this measures it, and what the last data call also carries
(.vendor, for the reproduce call that goes with it), and cuts as few parts as fit with a margin:

    python ops/remote-gpu/gpu_data_parts.py                 # writes .data/part-1 .. .data/part-N, prints the calls

Part 1 holds manifest.json, labels.npz and the unpacker, so that every later call can tell whether
the machine kept the earlier parts (a machine handed back loses ~/c10).
"""

from __future__ import annotations

import argparse
import math
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MIB = 1 << 20
CALL_LIMIT = 64 * MIB  # what one device call may carry, the working tree included
MARGIN = 1 * MIB  # for files that change between cutting the parts and the calls (a log, a results file)
SOURCE = ROOT.parent / "shared" / "data" / "cifar10"
UNPACKER = ROOT.parent / "shared" / "tools" / "cifar10_unpack.py"
FIRST_PART = ("manifest.json", "labels.npz", "cifar10_unpack.py")  # the relay looks for these first


class TooBig(Exception):
    pass


def tree_files(checkout: Path) -> list[str]:
    """What every call carries: the files git would not ignore (no .git travels)."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=checkout, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    return [name for name in listed if name and (checkout / name).is_file()]


def tree_bytes(checkout: Path) -> int:
    return sum((checkout / name).stat().st_size for name in tree_files(checkout))


def path_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def cut(files: dict[str, int], room: int) -> list[list[str]]:
    """The fewest parts of at most `room` bytes each, as even as the files allow (largest file first
    into the emptiest part); FIRST_PART's files go into part 1."""
    if room <= 0:
        raise TooBig(f"the working tree and the code leave no room for data in a {CALL_LIMIT // MIB} MiB call")
    biggest = max(files.values())
    if biggest > room:
        raise TooBig(f"a data file of {biggest / MIB:.1f} MiB does not fit in the {room / MIB:.1f} MiB a call has left")
    for count in range(max(1, math.ceil(sum(files.values()) / room)), len(files) + 1):
        parts: list[list[str]] = [[] for _ in range(count)]
        sizes = [0] * count
        for name in FIRST_PART:
            if name in files:
                parts[0].append(name)
                sizes[0] += files[name]
        rest = sorted((n for n in files if n not in FIRST_PART), key=lambda n: (-files[n], n))
        for name in rest:
            emptiest = min(range(count), key=lambda i: (sizes[i], i))
            parts[emptiest].append(name)
            sizes[emptiest] += files[name]
        if max(sizes) <= room:
            return [sorted(p) for p in parts]
    raise TooBig("the data cannot be cut to fit")  # not reached: one file per part fits (checked above)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=SOURCE, help=f"the packed CIFAR-10 (default {SOURCE})")
    parser.add_argument("--unpacker", type=Path, default=UNPACKER, help=f"cifar10_unpack.py (default {UNPACKER})")
    parser.add_argument("--out", type=Path, default=Path(".data"), help="where the parts go (default .data, replaced)")
    parser.add_argument(
        "--code", action="append", default=None, help="what the last data call also carries (default .vendor)"
    )
    args = parser.parse_args()
    checkout = Path.cwd()
    if not (args.src / "manifest.json").is_file():
        print(f"error: no manifest.json in {args.src}: give the packed CIFAR-10 folder with --src", file=sys.stderr)
        return 2
    if not args.unpacker.is_file():
        print(f"error: no unpacker at {args.unpacker}: give it with --unpacker", file=sys.stderr)
        return 2
    sources = {p.name: p for p in sorted(args.src.iterdir()) if p.is_file() and p.name != "README.md"}
    sources[args.unpacker.name] = args.unpacker
    code = args.code if args.code is not None else [".vendor"]
    try:
        tree = tree_bytes(checkout)
        carried = sum(path_bytes(checkout / c) for c in code)
        room = CALL_LIMIT - tree - carried - MARGIN
        parts = cut({name: path.stat().st_size for name, path in sources.items()}, room)
    except TooBig as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError:
        print(f"error: {checkout} is not a git checkout: run this from the checkout's root", file=sys.stderr)
        return 2
    shutil.rmtree(args.out, ignore_errors=True)
    print(f"working tree {tree / MIB:.1f} MiB, {' + '.join(code)} {carried / MIB:.2f} MiB: {len(parts)} data calls")
    for number, names in enumerate(parts, 1):
        folder = args.out / f"part-{number}"
        folder.mkdir(parents=True)
        for name in names:
            shutil.copyfile(sources[name], folder / name)  # not its read-only mode: a later copy overwrites it
        last = number == len(parts)
        # L: the minutes left in the window when the call is issued; gpu_prepare.py prints the whole window, the
        # reproduce call after the last part
        command = "ops/remote-gpu/gpu_relay.sh data --left L" + (" --last" if last else "")
        carry = [str(folder), *(code if last else [])]
        sent = tree + path_bytes(folder) + (carried if last else 0)
        print(f"call {number}: {command}  (carry {', '.join(carry)}: {sent / MIB:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
