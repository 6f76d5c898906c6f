"""Which rule a spot check holds an evaluation to (sam_bench/evaluation/check_rules.py): chosen by what the checking
machine can reproduce and by whether the file's bytes are one of the files recorded before per-image draws, never
loosened by a field the file states of itself. Every combination of forged circumstances gives a rule at least as
strict as the measured rate of other arithmetic, sampled so that a 1-point change is refused with the designed
power; a file recorded before per-image draws keeps the rule that fits it only while its bytes are the listed ones."""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sam_bench.attacks import draws
from sam_bench.evaluation import attack_table, check_power, check_rules, recorded_before
from sam_bench.evaluation.recorded_before import listed
from sam_bench.evaluation.results_record import Evaluation

ROOT = Path(__file__).resolve().parents[1]
HERE = check_rules.Here("cpu", "AVX512", "AMD EPYC 9654 (AuthenticAMD, family 25, model 17, stepping 1)", "2.13.0+cpu")
ENV = {
    "device": "cpu",
    "device_name": "cpu (x86_64, 1 threads)",
    "cpu_threads": 1,
    "torch_version": HERE.torch_version,
    "cpu_isa": {"aten": "AVX512", "onednn_max_cpu_isa": None},
    "cpu_model": HERE.cpu_model,
}
SETTINGS = {
    "pgd": {"steps": 10, "step_size": 0.5 / 255, "restarts": 1, "random_start": True, "loss": "ce", "seed": 0},
    "autoattack": {
        "version": "standard",
        "attacks": ["apgd-ce", "apgd-t", "fab-t", "square"],
        "seed": 0,
        "config": {"fab-t": {"restarts": 1, "target_classes": 9}},
    },
    "clean": {},
}
FORGERIES = {
    "device": {"device": "cuda"},
    "kernels": {"cpu_isa": {"aten": "AVX2", "onednn_max_cpu_isa": "SSE41"}},
    "processor": {"cpu_model": "another processor"},
    "no processor": {"cpu_model": None},
    "torch": {"torch_version": "2.0.0+cu118"},
    "threads": {"cpu_threads": 10**6},
}


def evaluation(attack: str, keyed: bool = True, resumed: int = 0) -> Evaluation:
    settings = dict(SETTINGS[attack])
    if keyed and attack != "clean":
        settings["draws"] = draws.SCHEME
    return Evaluation.of(
        {
            "attack": attack,
            "robust_acc": 0.5,
            "norm": None if attack == "clean" else "Linf",
            "eps": None if attack == "clean" else "2/255",
            "eps_value": 0.0 if attack == "clean" else 2 / 255,
            "settings": settings,
            "chunks": {"size": 1000, "count": 1, "resumed": resumed, "batch_size": 250},
        }
    )


@pytest.mark.parametrize("attack", ["clean", "pgd", "autoattack"])
def test_a_file_recorded_as_this_check_runs_is_replayed_exactly(attack):
    rule = check_rules.rule(evaluation(attack), ENV, None, HERE)
    assert rule.kind == check_rules.EXACT and rule.exact
    if attack == "autoattack":  # its first three attacks draw per image or not at all; Square's draws a batch shares
        assert rule.replayed == ("apgd-ce", "apgd-t", "fab-t") and rule.tail_chance is not None


@pytest.mark.parametrize("attack", ["clean", "pgd", "autoattack"])
def test_no_forged_circumstance_loosens_the_rule_below_the_measured_rate_of_other_arithmetic(attack):
    """Every combination of forged fields, resumed chunks included: the rule's chances are at most the measured
    rate of other arithmetic, and its samples give a 1-point change the designed power, in both strata."""
    measured = attack_table.attack(attack).remeasure.arithmetic
    names = list(FORGERIES)
    for count in range(len(names) + 1):
        for chosen in itertools.combinations(names, count):
            for resumed in (0, 3):
                env = {**ENV}
                for name in chosen:
                    env.update(FORGERIES[name])
                rule = check_rules.rule(evaluation(attack, resumed=resumed), env, None, HERE)
                truthful = not chosen and (resumed == 0 or attack == "clean")
                assert rule.kind == (check_rules.EXACT if truthful else check_rules.OTHER_ARITHMETIC), (chosen, rule)
                assert all(c <= m for c, m in zip(rule.chances, measured)) and rule.sized
                if not truthful:
                    assert all(words in rule.why for words in ("measured rate of other arithmetic", "sized for it"))
    rule = check_rules.rule(evaluation(attack), {**ENV, "device": "cuda"}, None, HERE)
    n, pool = 10_000, 5_000
    for i, size in enumerate(rule.sizes()):
        chance, other = rule.chances[i], rule.chances[1 - i]
        k = check_power.changed_images(n)
        assert check_power.refusal_probability(pool, k, size(pool, n), chance, chance, 1 - other) >= check_power.POWER


@pytest.mark.parametrize("attack", ["pgd", "autoattack"])
def test_an_unlisted_file_without_per_image_draws_is_held_to_the_strictest_rule_whatever_it_says(attack):
    for env in (ENV, {**ENV, "device": "cuda"}, {**ENV, **FORGERIES["kernels"]}, {"device": "cuda"}):
        rule = check_rules.rule(evaluation(attack, keyed=False, resumed=5), env, None, HERE)
        assert rule.kind == check_rules.STRICTEST
        if attack == "pgd":
            assert rule.chunk_starts and rule.exact
        else:
            assert rule.chunk_replay == check_rules.ALWAYS and rule.retries


def test_a_listed_gpu_file_keeps_the_rule_that_fits_it_and_its_edited_copy_does_not():
    """The committed full-scale ST file was recorded on an H200: listed, its PGD is replayed on a CPU from the draws
    the H200 made (cuda_draws.py) and held to the measured rate of the GPU's other arithmetic, on a sample as an
    exact replay's (what that refuses is said where its figures are shown); recorded on a GPU whose draws are not
    computed here, or checked on a GPU, 50% a stratum (what fresh draws allow). The same evaluation in bytes that
    are not listed is held to the exact replay."""
    path = ROOT / "reproductions" / "paper-cifar10-full" / "results" / "ST-2f379c4eaf.json"
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    assert sha in listed()
    results = json.loads(data)
    pgd = Evaluation.of(next(e for e in results["evaluations"] if e["attack"] == "pgd"))
    env = results["environment"]
    listed_rule = check_rules.rule(pgd, env, sha, HERE)
    own = recorded_before.replay_chances(sha, "pgd Linf 1/255")
    worst = check_rules.remeasure("pgd").gpu_arithmetic
    assert own is not None and worst is not None and max(worst) < 0.5
    assert listed_rule.kind == check_rules.RECORDED_BEFORE and listed_rule.chunk_starts and not listed_rule.sized
    assert listed_rule.chances == own and "replayed as torch drew them on its NVIDIA H200" in listed_rule.why
    assert listed_rule.gpu == "NVIDIA H200"
    unmeasured = check_rules.rule(pgd, env, "0" * 64, HERE)  # an evaluation no replay measured: the worst rate
    assert unmeasured.chunk_starts and unmeasured.chances == worst
    other_gpu = check_rules.rule(pgd, {**env, "device_name": "NVIDIA A100-SXM4-40GB"}, sha, HERE)
    assert other_gpu.chances == (0.5, 0.5) and not other_gpu.chunk_starts
    on_a_gpu = check_rules.rule(pgd, env, sha, check_rules.Here("cuda", None, None, HERE.torch_version))
    assert on_a_gpu.chances == (0.5, 0.5) and not on_a_gpu.chunk_starts
    copy = check_rules.rule(pgd, env, None, HERE)
    assert copy.kind == check_rules.STRICTEST and copy.exact and copy.gpu is None  # the CPU's draws, whatever it says
    edited = data.replace(b'"cpu_threads": 16', b'"cpu_threads": 15')
    assert edited != data and hashlib.sha256(edited).hexdigest() not in listed()


def test_a_listed_gpu_files_clean_pass_draws_nothing_and_is_held_to_the_rate_of_other_arithmetic():
    """A clean pass draws nothing, so being recorded before per-image draws does not weaken its check: the listed
    full-scale file's clean pass is held on a CPU to the rate of other arithmetic on a sample sized for it, as a
    GPU file with per-image draws is, not to a chance that lets a change of several points through."""
    path = ROOT / "reproductions" / "paper-cifar10-full" / "results" / "ST-2f379c4eaf.json"
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    results = json.loads(path.read_bytes())
    clean = Evaluation.of({"attack": "clean", "robust_acc": results["clean_acc"], "n_examples": 10000})
    listed_rule = check_rules.rule(clean, results["environment"], sha, HERE)
    per_image = check_rules.rule(clean, results["environment"], None, HERE)
    assert listed_rule == per_image
    assert listed_rule.kind == check_rules.OTHER_ARITHMETIC and listed_rule.sized
    assert listed_rule.chances == check_rules.remeasure("clean").arithmetic
    on_a_cpu = check_rules.rule(clean, {**results["environment"], **ENV}, sha, HERE)
    assert on_a_cpu.kind == check_rules.RECORDED_BEFORE and on_a_cpu.exact


def test_every_tracked_results_file_without_per_image_draws_is_listed():
    """A results file recorded before per-image draws that is not on the list (one merged from elsewhere) would be
    held to the strictest rule: the list covers every such file in the tree."""
    tool = [sys.executable, "tools/recorded_before.py", "--check"]
    run = subprocess.run(tool, cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    from sam_bench.evaluation.recorded_before import LIST

    for line in LIST.read_text().splitlines()[1:]:  # and each listed file keeps its bytes
        sha, name = line.split(maxsplit=1)
        assert hashlib.sha256((ROOT / name).read_bytes()).hexdigest() == sha, name
