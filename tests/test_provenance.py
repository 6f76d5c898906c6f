import platform

import torch

from sam_bench.runtime.provenance import COMMIT_FILE, COMMIT_VARIABLE, code_commit, cpu_model, environment


def test_commit_of_a_copied_tree_without_git(tmp_path, monkeypatch):
    """On a machine the tree was copied to, the commit comes from the variable, else the COMMIT file."""
    find = code_commit.__wrapped__  # uncached
    monkeypatch.delenv(COMMIT_VARIABLE, raising=False)
    assert find(tmp_path) is None
    (tmp_path / COMMIT_FILE).write_text("a" * 40 + "\n")
    assert find(tmp_path) == "a" * 40 + "+copy"
    monkeypatch.setenv(COMMIT_VARIABLE, "b" * 40)
    assert find(tmp_path) == "b" * 40 + "+copy"


def test_checkout_commit_and_cpu_isa_are_recorded(monkeypatch):
    env = environment(torch.device("cpu"))
    assert env["code_commit"] is None or len(env["code_commit"].split("+")[0]) == 40
    assert env["cpu_isa"]["aten"] == torch.backends.cpu.get_cpu_capability()
    assert env["cpu_threads"] == torch.get_num_threads()  # CPU results differ with it (reproduce --threads)
    assert env["cpu_model"] == cpu_model()


def test_the_processor_is_named_with_its_vendor_family_model_and_stepping(tmp_path):
    """A virtual machine may shorten the name ("AMD EPYC"): the numbers still tell processors apart."""
    block = (
        "processor\t: {n}\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\n"
        "model name\t: AMD EPYC\nstepping\t: 1\n"
    )
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(block.format(n=0) + "\n" + block.format(n=1).replace("stepping\t: 1", "stepping\t: 2"))
    assert cpu_model.__wrapped__(cpuinfo) == "AMD EPYC (AuthenticAMD, family 25, model 17, stepping 1)"
    assert cpu_model.__wrapped__(tmp_path / "absent") == (platform.processor() or None)


def test_evaluation_runs_and_records_true_fp32(tiny_net, sample):
    """On Ampere+ GPUs torch runs fp32 convolutions in TF32 by default; evaluation switches it off."""
    from sam_bench.evaluation.evaluate import evaluate
    from sam_bench.evaluation.specs import make_attacks
    from sam_bench.runtime import math_mode

    seen = []
    probe = torch.nn.Sequential(tiny_net)
    probe.register_forward_hook(lambda *_: seen.append(math_mode.current()))
    before = math_mode.current()
    results = evaluate(probe, sample, make_attacks("clean"), n_examples=8, progress=False)
    assert results["math_mode"] == {"cudnn_conv": "ieee", "cuda_matmul": "ieee"}
    assert seen and all(m == results["math_mode"] for m in seen)
    assert math_mode.current() == before  # restored afterwards
