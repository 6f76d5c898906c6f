"""Copy RobustBench's published CIFAR-10 Linf entries that are comparable to our models into the
package, each with its numbers exactly as RobustBench lists them and the file and commit they came from.

    python tools/robustbench_references.py CLONE > sam_bench/leaderboard/published/cifar10-Linf.log
    python tools/robustbench_references.py CLONE --threat-model L2 > sam_bench/leaderboard/published/cifar10-L2.log

The argument is a clone of github.com/RobustBench/robustbench (bare or not; `--commit` picks the
version, HEAD by default). The report's section "Next to RobustBench's published entries"
(sam_bench/report/against_published.py) plots our full-scale models beside these.

Comparable training, as the rule below reads it: a PreActResNet-18 or ResNet-18 (our full-scale
models are PreActResNet-18s), trained on CIFAR-10's own 50,000 training images (no additional data,
no synthetic or generated images: those buy several points of robustness that no training method of
ours could), not flagged unreliable by RobustBench. Entries of those architectures left out are
listed with the reason, so the selection can be checked.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sam_bench import files, schema  # noqa: E402
from sam_bench.errors import SamBenchError  # noqa: E402

ARCHITECTURES = ("PreActResNet-18", "ResNet-18")
SYNTHETIC = re.compile(r"synthetic|generated|ddpm", re.IGNORECASE)
FOLDER = ROOT / "sam_bench" / "leaderboard" / "published"
COPIED = ("name", "authors", "venue", "link", "architecture", "eps", "clean_acc", "autoattack_acc", "reported")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def why_left_out(model_id: str, info: dict) -> str | None:
    """Why an entry of a comparable architecture is not comparable in training, or None."""
    if info.get("additional_data"):
        return "trained with additional data"
    text = f"{model_id} {info.get('footnote') or ''}"
    if SYNTHETIC.search(text):
        return f"trained with synthetic images ({info.get('footnote') or model_id})"
    if info.get("unreliable"):
        return "flagged unreliable by RobustBench"
    return None


def references(repo: Path, commit: str, dataset: str = "cifar10", threat_model: str = "Linf") -> dict:
    commit = git(repo, "rev-parse", f"{commit}^{{commit}}").strip()
    folder = f"model_info/{dataset}/{threat_model}"
    listing = [line.split(None, 3) for line in git(repo, "ls-tree", commit, f"{folder}/").splitlines()]
    entries, left_out = [], []
    for _mode, _kind, blob, path in sorted(listing, key=lambda row: row[3]):
        if not path.endswith(".json"):
            continue
        info = json.loads(git(repo, "cat-file", "blob", blob))
        if info.get("architecture") not in ARCHITECTURES:
            continue
        model_id = Path(path).stem
        reason = why_left_out(model_id, info)
        if reason:
            left_out.append({"id": model_id, "architecture": info["architecture"], "reason": reason})
            continue
        if entries and info.get("eps") != entries[0]["eps"]:
            left_out.append(
                {
                    "id": model_id,
                    "architecture": info["architecture"],
                    "reason": f"eps {info.get('eps')}, not {entries[0]['eps']}",
                }
            )
            continue
        entry = {"id": model_id, "path": path, "blob": blob}
        entry.update({key: str(info[key]) for key in COPIED if info.get(key) not in (None, "")})
        if info.get("footnote"):
            entry["footnote"] = info["footnote"]
        entries.append(entry)
    if not entries:
        raise SamBenchError(
            f"no {' or '.join(ARCHITECTURES)} entry of comparable training in {folder} at {commit[:12]}"
        )
    return {
        "schema": "sam-bench/robustbench-references/v1",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dataset": dataset,
        "threat_model": threat_model,
        "eps": entries[0]["eps"],
        "source": {
            "repository": "https://github.com/RobustBench/robustbench",
            "commit": commit,
            "commit_date": git(repo, "show", "-s", "--format=%cI", commit).strip(),
            "folder": folder,
        },
        "selection": (
            f"architecture one of {', '.join(ARCHITECTURES)}; no additional data; no synthetic or generated "
            "images; not flagged unreliable"
        ),
        "entries": entries,
        "left_out": left_out,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", type=Path, help="a clone of RobustBench/robustbench (bare or not)")
    parser.add_argument("--commit", default="HEAD")
    parser.add_argument("--threat-model", choices=("Linf", "L2"), default="Linf")
    parser.add_argument("--out", type=Path, help="default: sam_bench/leaderboard/published/cifar10-<threat model>.json")
    args = parser.parse_args()
    args.out = args.out or FOLDER / f"cifar10-{args.threat_model}.json"
    try:
        found = references(args.repo, args.commit, threat_model=args.threat_model)
        schema.check("robustbench-references", found, where=f"what {args.repo} holds")
    except subprocess.CalledProcessError as err:
        sys.exit(f"{args.repo}: not a clone of RobustBench/robustbench at {args.commit}: {err.stderr.strip()}")
    except SamBenchError as err:  # e.g. no entry of those architectures at that commit
        sys.exit(str(err))
    files.write_json(args.out, found)
    print(
        f"$ python tools/robustbench_references.py {args.repo} "
        f"--commit {args.commit} --threat-model {args.threat_model}"
    )
    source = found["source"]
    print(f"RobustBench commit {source['commit']} ({source['commit_date']}), {source['folder']}")
    for e in found["entries"]:
        print(f"kept {e['id']}: {e['architecture']}, clean {e['clean_acc']}, AutoAttack {e['autoattack_acc']}")
    for e in found["left_out"]:
        print(f"left out {e['id']}: {e['architecture']}, {e['reason']}")
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    main()
