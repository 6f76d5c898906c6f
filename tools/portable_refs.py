"""Results (and analysis) files of a reproduction that name their run by a path of the machine that wrote them,
rewritten to name it as every results file written now does: `runs/<run>`, relative to the reproduction folder
(sam_bench/evaluation/run_location.py). Only the `"ref"` line of the model changes, and only where the run found
there records the weights the results measured (`weights_sha256`); every other byte stays. A file on the list of
results recorded before per-image draws keeps its place on it: its sha256 is replaced in recorded_before.sha256
and recorded_before_checks.json (what a check of it refuses depends on its outcomes, not on where its run lies),
and a board entry that pins the file by its sha256 (a corruptions entry's `results`) pins its new one.

    python tools/portable_refs.py reproductions/*/results/*.json reproductions/*/extensions/*/*.json \
        reproductions/*/analysis/*.json
    python tools/portable_refs.py --check reproductions/*/results/*.json   # exit 1 naming each that needs it
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sam_bench.evaluation import run_location  # noqa: E402
from sam_bench.evaluation.recorded_before import LIST  # noqa: E402

CHECKS = LIST.with_name("recorded_before_checks.json")
BOARDS = ROOT / "leaderboards"


def portable(path: Path) -> str | None:
    """The file's text naming its run as `runs/<run>`, or None where it names it so already (or names no run)."""
    text = path.read_text()
    model = json.loads(text).get("model")
    if not isinstance(model, dict):
        return None  # not a results file (a partial evaluation's state names no model)
    ref = model.get("ref")
    if model.get("kind") != "run" or not ref or not Path(ref).is_absolute():
        return None
    found = run_location.located(ref, model.get("weights_sha256"), path)
    relative = run_location.run_ref(Path(ref).name)
    folder = run_location.reproduction_folder(path)
    if folder is None or found != str(folder / relative):
        raise SystemExit(f"{path}: no run here records the weights it measured ({ref})")
    line = f'"ref": {json.dumps(ref)},'
    if text.count(line) != 1:
        raise SystemExit(f"{path}: its model's ref is not one line as sam-bench writes it")
    return text.replace(line, f'"ref": {json.dumps(relative)},')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    needed = [(p, text) for p in args.paths if (text := portable(p)) is not None]
    if args.check:
        for path, _ in needed:
            print(f"{path}: names its run by an absolute path")
        return 1 if needed else 0
    for path, text in needed:
        old = hashlib.sha256(path.read_bytes()).hexdigest()
        new = hashlib.sha256(text.encode()).hexdigest()
        path.write_text(text)
        for listed in (LIST, CHECKS, *BOARDS.rglob("*.json")):
            if old in (pinned := listed.read_text()):
                listed.write_text(pinned.replace(old, new))
        print(f"{path}: names {json.loads(text)['model']['ref']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
