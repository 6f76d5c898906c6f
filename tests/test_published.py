"""RobustBench's published entries beside our full-scale models: the copy tool's selection (on a small
RobustBench-shaped git repository), the committed copy, and the report's section and plot."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from run_records import run_record

from sam_bench import schema
from sam_bench.eps import parse_eps
from sam_bench.evaluation import outcomes
from sam_bench.leaderboard import published
from sam_bench.report import against_published

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "robustbench_references.py"


def info(architecture, clean, autoattack, **extra):
    return {
        "name": "A paper",
        "authors": "Someone",
        "additional_data": False,
        "number_forward_passes": 1,
        "dataset": "cifar10",
        "venue": "ICLR 2020",
        "architecture": architecture,
        "eps": "8/255",
        "clean_acc": clean,
        "reported": "46.06",
        "autoattack_acc": autoattack,
        "link": "https://arxiv.org/abs/0000.00000",
    } | extra


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def robustbench_clone(tmp_path):
    repo = tmp_path / "robustbench"
    folder = repo / "model_info" / "cifar10" / "Linf"
    folder.mkdir(parents=True)
    entries = {
        "Fast2020": info("PreActResNet-18", "83.34", "43.21", footnote="Focuses on fast adversarial training."),
        "Plain2019": info("ResNet-18", "81.30", "40.22"),
        "Big2021": info("WideResNet-70-16", "91.10", "65.87"),  # another architecture: not considered
        "Extra2021": info("PreActResNet-18", "89.02", "57.67", additional_data=True),
        "Gen2021_R18_ddpm": info("PreActResNet-18", "86.86", "57.09"),
        "Proxy2022": info(
            "ResNet-18", "84.59", "55.54", footnote="It uses additional 10M synthetic images in training."
        ),
        "Shaky2020": info("ResNet-18", "88.00", "50.00", unreliable=True),
    }
    for name, entry in entries.items():
        (folder / f"{name}.json").write_text(json.dumps(entry, indent=2))
    (repo / "model_info" / "cifar10" / "L2").mkdir()
    (repo / "model_info" / "cifar10" / "L2" / "Other.json").write_text(json.dumps(info("ResNet-18", "90", "70")))
    git(tmp_path, "init", "-q", str(repo))
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "model info")
    return repo


def test_the_tool_keeps_comparable_entries_with_their_numbers_as_listed(robustbench_clone, tmp_path):
    out = tmp_path / "cifar10-Linf.json"
    done = subprocess.run(
        [sys.executable, str(TOOL), str(robustbench_clone), "--out", str(out)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    found = schema.check("robustbench-references", json.loads(out.read_text()), where=str(out))
    assert [e["id"] for e in found["entries"]] == ["Fast2020", "Plain2019"]
    fast = found["entries"][0]
    assert (fast["clean_acc"], fast["autoattack_acc"], fast["footnote"]) == (
        "83.34",
        "43.21",
        "Focuses on fast adversarial training.",
    )
    # the file read is named by its path and git blob, at the commit named
    assert fast["path"] == "model_info/cifar10/Linf/Fast2020.json"
    assert fast["blob"] == git(robustbench_clone, "rev-parse", "HEAD:model_info/cifar10/Linf/Fast2020.json")
    assert found["source"]["commit"] == git(robustbench_clone, "rev-parse", "HEAD")
    reasons = {e["id"]: e["reason"] for e in found["left_out"]}
    assert set(reasons) == {"Extra2021", "Gen2021_R18_ddpm", "Proxy2022", "Shaky2020"}  # not Big2021: not considered
    assert reasons["Extra2021"] == "trained with additional data"
    assert reasons["Proxy2022"].startswith("trained with synthetic images")
    assert reasons["Shaky2020"] == "flagged unreliable by RobustBench"
    assert "kept Fast2020: PreActResNet-18, clean 83.34, AutoAttack 43.21" in done.stdout


def test_the_tool_refuses_what_is_not_a_robustbench_clone_in_one_line(tmp_path, robustbench_clone):
    not_git = tmp_path / "plain"
    not_git.mkdir()
    for repo, expected in [
        (not_git, "not a clone of RobustBench/robustbench"),
        (robustbench_clone, "no PreActResNet-18 or ResNet-18 entry"),
    ]:
        args = [sys.executable, str(TOOL), str(repo), "--out", str(tmp_path / "x.json")]
        if repo == robustbench_clone:  # a clone, but no entry of those architectures for that data set
            (repo / "model_info" / "cifar10" / "Linf").rename(repo / "model_info" / "cifar10" / "Linf-moved")
            git(repo, "add", "-A")
            git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "moved")
        done = subprocess.run(args, capture_output=True, text=True)
        assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1 and expected in done.stderr
        assert "Traceback" not in done.stderr and not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("threat_model", ["Linf", "L2"])
def test_the_committed_references_agree_with_their_log(threat_model):
    references = published.load("cifar10", threat_model)
    log = (published.FOLDER / f"cifar10-{threat_model}.log").read_text()
    kept = [line for line in log.splitlines() if line.startswith("kept ")]
    assert kept == [
        f"kept {e['id']}: {e['architecture']}, clean {e['clean_acc']}, AutoAttack {e['autoattack_acc']}"
        for e in references["entries"]
    ]
    assert references["source"]["commit"] in log
    assert all(e["architecture"] in ("PreActResNet-18", "ResNet-18") for e in references["entries"])
    assert {e["eps"] for e in references["entries"]} == {references["eps"]}


def record(name, method, seed, width, clean, robust, n=1000, norm="Linf", eps="8/255"):
    """A results record: `clean` and `robust` (AutoAttack at norm/eps, first seed only) of n images right."""

    def flags(count):
        right = np.zeros(n, bool)
        right[:count] = True
        return right

    evaluations = []
    if seed == 0:
        evaluations.append(
            {
                "attack": "autoattack",
                "norm": norm,
                "eps": eps,
                "eps_value": parse_eps(eps),
                "n_examples": n,
                "robust_acc": robust / n,
                "outcomes": outcomes.encode(flags(robust)),
            }
        )
    return run_record(
        {
            "name": name,
            "key": f"{name}-{seed}",
            "seed": seed,
            "primary": seed == 0,
            "config": {"method": method, "arch": "preactresnet18", "width": width, "dataset": "cifar10"},
            "results": {
                "clean_acc": clean / n,
                "clean_outcomes": outcomes.encode(flags(clean)),
                "dataset": {"n_examples": n},
                "evaluations": evaluations,
            },
        }
    )


def test_full_scale_models_are_set_beside_the_published_entries(tmp_path):
    records = [
        record("ST", "standard", 0, 1.0, 9480, 0, n=10_000),
        record("ST", "standard", 1, 1.0, 9470, 0, n=10_000),
        record("AT-Linf-8", "at", 0, 1.0, 822, 475),
        record("AT-L2-128", "at", 0, 1.0, 8800, 6500, n=10_000, norm="L2", eps="0.5"),
    ]
    assert against_published.threat_models(records)
    lines = against_published.section(tmp_path, records)
    text = "\n".join(lines)
    assert text.startswith("## Next to RobustBench's published entries")
    linf, l2 = text.split("### Linf 8/255")[1].split("### L2 0.5")
    for part, norm in [(linf, "Linf"), (l2, "L2")]:
        references = published.load("cifar10", norm)
        assert f"`{references['source']['commit'][:12]}`" in part
        for e in references["entries"]:  # every entry cited with its numbers as listed
            row = next(line for line in part.splitlines() if f"[{e['id']}](" in line)
            assert f"| {e['clean_acc']} | {e['autoattack_acc']} |" in row
        assert (tmp_path / against_published.plot_name(norm)).stat().st_size > 10_000
    assert "| ST | 94.80 (94.3–95.2) | 0.00 (0.0–0.0) | 10,000 |" in linf  # the first seed, Wilson's interval
    assert "| AT-Linf-8 | 82.20 (79.7–84.4) | 47.50 (44.4–50.6) | 1,000 |" in linf
    assert "attacked on fewer images (1,000)" in linf  # RobustBench's figures are on all 10,000 images
    assert "| AT-L2-128 | 88.00 (87.3–88.6) | 65.00 (64.1–65.9) | 10,000 |" in l2 and "fewer" not in l2
    assert "AT-Linf-8" not in l2 and "Rice2020Overfitting" in l2


def test_smaller_models_get_no_such_section():
    records = [record("ST", "standard", 0, 0.125, 800, 0), record("AT-Linf-8", "at", 0, 0.125, 550, 330)]
    assert not against_published.threat_models(records)
    no_autoattack = record("ST", "standard", 1, 1.0, 9480, 0)  # a full-width model's later seed: no AutoAttack
    assert not against_published.threat_models([no_autoattack])
    other_budget = record("AT-Linf-4", "at", 0, 1.0, 8500, 3000, eps="4/255")  # not RobustBench's budget
    assert not against_published.threat_models([other_budget])
