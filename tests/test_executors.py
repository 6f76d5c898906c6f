"""`reproduce --executor slurm` against a real single-node SLURM cluster on this machine
(.ci/slurm-cluster.sh start; .ci/run starts it and sets SAM_BENCH_REQUIRE_SLURM=1 so that these
tests fail instead of skipping when the cluster is not there)."""

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sam_bench import files
from sam_bench.errors import BadInput
from sam_bench.experiments.slurm_options import SlurmOptions, parse_sbatch_options

RECIPE = str(Path(__file__).parent / "recipes" / "tiny-grid.yaml")
PIPELINE = str(Path(__file__).parent / "recipes" / "pipeline-test.yaml")
STATE_DIR = Path(os.environ.get("SAM_BENCH_SLURM_DIR", "/tmp/sam-bench-slurm"))


def cluster_state(env) -> str:
    """What sinfo says of the node ("idle", "mixed", ...), or why it said nothing."""
    try:
        up = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True, timeout=20)
    except OSError as e:
        return f"sinfo did not run ({e})"
    except subprocess.TimeoutExpired:
        return "sinfo did not answer in 20 s"
    return up.stdout.strip() if up.returncode == 0 else f"sinfo exited {up.returncode}: {up.stderr.strip()[:200]}"


def answering(state: str) -> bool:
    """The node takes jobs: idle, mixed or allocated, and responding (a trailing * means it is not)."""
    return state in ("idle", "mixed", "allocated")


@pytest.fixture(scope="module")
def cluster():
    """The environment for commands that talk to the cluster; skip (or fail under CI) without one. The
    cluster is up before the tests start (.ci/slurm-cluster.sh start waits for its node): one query."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if "SLURM_CONF" not in env and (STATE_DIR / "slurm.conf").is_file():
        env["SLURM_CONF"] = str(STATE_DIR / "slurm.conf")
    required = os.environ.get("SAM_BENCH_REQUIRE_SLURM") == "1"
    state = cluster_state(env)
    if not answering(state):
        why = f"no SLURM cluster reachable ({state or 'no node'}; start one with .ci/slurm-cluster.sh start)"
        if required:
            pytest.fail(why + "; SAM_BENCH_REQUIRE_SLURM=1 requires it")
        pytest.skip(why)
    # the jobs import this checkout's sam_bench: sbatch passes the environment on
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent.parent), env.get("PYTHONPATH", "")])
    return env


def sam_bench(env, *args, check=True, timeout=300):
    proc = subprocess.run(
        [sys.executable, "-m", "sam_bench", *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def grid_args(out, scale="test", *extra):
    return ["reproduce", RECIPE, "--scale", scale, "--out", str(out), "--device", "cpu", "--quiet", *extra]


def numbers(out: Path) -> dict:
    """Per model: the trained weights' sha256 and every evaluation's accuracies."""
    found = {}
    for path in sorted((out / "results").glob("*.json")):
        results = files.read_json(path)
        run = files.read_json(out / "runs" / results["reproduce"]["run"] / "metadata.json")
        found[results["reproduce"]["model"]] = {
            "weights": run["weights_sha256"],
            "evaluations": [
                (e["attack"], e.get("norm"), e["eps"], e["clean_acc"], e["robust_acc"]) for e in results["evaluations"]
            ],
        }
    return found


def start_requeued_job(env, job_id: str) -> None:
    """Start a requeued (PENDING) job now instead of after SLURM's hold (AuthInfo cred_expire, 120 s by
    default: "how long a requeued job must wait before starting again", slurm.conf(5)). Not in the
    second of the requeue: the credential of the attempt SLURM just killed is revoked, and a launch
    within that second is refused and ends the job FAILED (slurmctld.log: "Killing non-startable batch
    JobId=..: Job credential revoked"; seen in CI). Two seconds on, the launch gets a new credential.
    Not checked: the scheduler may have started the job in the meantime."""
    time.sleep(2)
    subprocess.run(["scontrol", "update", f"jobid={job_id}", "StartTime=now"], env=env, capture_output=True)


@pytest.mark.slurm
def test_failing_cells_report_one_line_each_and_the_grid_goes_on(cluster, tmp_path):
    empty = tmp_path / "no-data"
    empty.mkdir()
    out = tmp_path / "broken"
    proc = sam_bench(cluster, *grid_args(out, "broken", "--executor", "slurm", "--data-dir", str(empty)))
    failures = [line for line in proc.stderr.splitlines() if "failed:" in line]
    assert len(failures) == 2, proc.stderr  # both cells ran and failed, each reported
    assert all("cifar10 not found" in line for line in failures)
    assert "stopped (run the same command again to continue)" in proc.stdout
    status = sam_bench(cluster, *grid_args(out, "broken", "--data-dir", str(empty), "--status")).stdout
    assert all(
        "last attempt failed: sam_bench.errors.BadInput: cifar10 not found" in line for line in status.splitlines()
    )


@pytest.mark.slurm
def test_cancelled_job_is_finished_by_the_next_reproduce(cluster, tmp_path):
    """The job cannot finish its cell before the cancel reaches it, however fast or slow the machine: this
    test holds the grid's zoo, which the cell must lock to add its model once trained. The cancel lands
    mid-training, or (a busy machine, slow to cancel) after the training, while the job waits for the zoo:
    either way the next reproduce finishes the cell from what the job left."""
    out = tmp_path / "long"
    with files.locked(out / "model_zoo"):
        sam_bench(cluster, *grid_args(out, "long", "--executor", "slurm", "--no-wait"))
        job_id = json.loads((out / "cells" / "jobs.json").read_text())
        job_id = next(iter(job_id.values()))
        log = first_epoch_logged(cluster, out, job_id)
        assert log is not None, "the job ended without training an epoch"
        subprocess.run(["scancel", job_id], env=cluster, check=True)
        status = status_once_cancelled(cluster, out, job_id)
    assert "CANCELLED" in status and "running" not in status, status
    assert not list(out.glob("results/*.json"))  # cancelled before its evaluation
    before = [json.loads(line) for line in log.read_text().splitlines()]
    assert 1 <= len(before) <= 12

    sam_bench(cluster, *grid_args(out, "long", "--executor", "slurm"))
    after = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["epoch"] for r in after] == list(range(1, 13))
    assert after[: len(before)] == before  # resumed from the checkpoint, not retrained
    assert sam_bench(cluster, *grid_args(out, "long", "--status")).stdout.strip() == "ST: done"
    assert (out / "REPORT.md").is_file()


@pytest.mark.slurm
def test_a_job_past_its_time_limit_is_signalled_by_slurm_requeued_and_finished(cluster, tmp_path):
    """Nothing is sent by hand: the requeue scale's jobs have a 1-minute limit and ask to be signalled 20 s
    before it (SLURM signals 10-40 s into the job: slurm_options.SLURM_TIME_CHECK_S); SLURM's own signal
    makes the attempt checkpoint and requeue (submitit logs it as timed out, not pre-empted), and the model
    is done from its checkpoint. However fast the machine, the first attempt cannot end before the signal:
    this test holds the report's lock, as a second reproduce writing the report would, until the job is
    requeued (a training that finished first waits there; one that did not is cut mid-way). Once requeued,
    the job's limit is raised: how many more one-minute attempts the rest would take depends on how busy
    the machine is, and the test must not."""
    out = tmp_path / "timelimit"
    out.mkdir()
    with contextlib.ExitStack() as report_lock:
        report_lock.enter_context(files.locked(out / "REPORT.md"))
        sam_bench(cluster, *grid_args(out, "requeue", "--executor", "slurm", "--no-wait"))
        job_id = next(iter(json.loads((out / "cells" / "jobs.json").read_text()).values()))
        deadline, ran, raised = time.time() + 1800, False, False  # a safety net: the loop ends when the job does
        while time.time() < deadline:
            state = subprocess.run(
                ["squeue", "-h", "-j", job_id, "-o", "%T"], env=cluster, capture_output=True, text=True
            ).stdout.strip()
            if not state:
                if still_accounted_as_live(cluster, job_id):  # gone from the queue before sacct says how
                    time.sleep(1)
                    continue
                break
            ran = ran or state == "RUNNING"
            if state == "PENDING" and ran:  # pending again after running: requeued, the signal came
                if not raised:
                    subprocess.run(["scontrol", "update", f"jobid={job_id}", "TimeLimit=30"], env=cluster, check=True)
                    raised = True
                    report_lock.close()
                start_requeued_job(cluster, job_id)
            time.sleep(1)
    history = subprocess.run(
        ["sacct", "-n", "-X", "-D", "-j", job_id, "-o", "State"], env=cluster, capture_output=True, text=True
    ).stdout.split()
    assert "REQUEUED" in history and history[-1] == "COMPLETED", history
    job_logs = "".join(p.read_text() for p in (out / "slurm").rglob("*.err"))
    assert "Caught signal SIGUSR2" in job_logs and "this job is timed-out" in job_logs
    assert "this job is preempted" not in job_logs
    log = next(out.glob("runs/ST-*/log.jsonl"))
    epochs = [json.loads(line)["epoch"] for line in log.read_text().splitlines()]
    assert epochs == list(range(1, 21))  # every attempt resumed where the last one stopped
    assert sam_bench(cluster, *grid_args(out, "requeue", "--status")).stdout.strip() == "ST: done"
    assert (out / "REPORT.md").is_file()  # written by the attempt that finished, once the lock was free


@pytest.mark.slurm
def test_preempted_job_requeues_itself_and_resumes_from_its_checkpoint(cluster, tmp_path):
    """SIGUSR2 is what SLURM sends a submitit job before its time limit or on pre-emption: the job
    requeues itself (Checkpointable.checkpoint) and the next attempt resumes from its checkpoint. The first
    attempt cannot finish its cell before the signal reaches it: this test holds the grid's zoo until the job
    is requeued (the signal lands mid-training, or after it while the job waits for the zoo)."""
    out = tmp_path / "preempted"
    with files.locked(out / "model_zoo"):
        sam_bench(cluster, *grid_args(out, "long", "--executor", "slurm", "--no-wait"))
        job_id = next(iter(json.loads((out / "cells" / "jobs.json").read_text()).values()))
        log = first_epoch_logged(cluster, out, job_id)
        assert log is not None, "the job ended without training an epoch"
        subprocess.run(["scancel", "--signal=USR2", job_id], env=cluster, check=True)
        while still_accounted_as_live(cluster, job_id):  # until requeued (or, were the signal lost, ended)
            state = subprocess.run(
                ["squeue", "-h", "-j", job_id, "-o", "%T"], env=cluster, capture_output=True, text=True
            ).stdout.strip()
            if state == "PENDING":  # requeued
                break
            time.sleep(0.2)
        before = [json.loads(line) for line in log.read_text().splitlines()]
    assert not list(out.glob("results/*.json"))  # requeued before its evaluation
    assert 1 <= len(before) <= 12
    start_requeued_job(cluster, job_id)

    sam_bench(cluster, *grid_args(out, "long", "--executor", "slurm"))  # waits for the requeued job
    after = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["epoch"] for r in after] == list(range(1, 13)) and after[: len(before)] == before
    wait_for_accounted_end(cluster, job_id)
    history = subprocess.run(
        ["sacct", "-n", "-X", "-D", "-j", job_id, "-o", "State"], env=cluster, capture_output=True, text=True
    ).stdout.split()
    assert history == ["REQUEUED", "COMPLETED"]  # one job id, two attempts
    assert (out / "REPORT.md").is_file()


@pytest.mark.slurm
def test_a_refused_submission_is_one_line(cluster, tmp_path):
    proc = sam_bench(
        cluster, *grid_args(tmp_path / "x", "test", "--executor", "slurm", "--slurm-partition", "nosuch"), check=False
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert (
        "Error: could not submit the grid to SLURM: sbatch: error: Batch job submission failed: Invalid partition"
        in proc.stderr
    )
    assert proc.stderr.count("sbatch: error") == 1, proc.stderr  # sbatch's own lines are not printed before it


@pytest.mark.slurm
@pytest.mark.parametrize(
    "recipe, scale",
    [
        pytest.param(PIPELINE, "slurm", id="pipeline-test"),
        pytest.param("paper-cifar10", "smoke", id="readme-smoke", marks=pytest.mark.slow),
    ],
)
def test_the_paper_grid_on_slurm_trains_and_evaluates_each_model_in_its_job(cluster, tmp_path, recipe, scale):
    """The paper recipe's grid through SLURM: its three kinds of model (ST, SAM, AT) trained and evaluated
    by their jobs, PGD and AutoAttack included, then the report. In CI at the pipeline's test size
    (tests/recipes/pipeline-test.yaml, seconds a model); the README's main job itself, `paper-cifar10 --scale
    smoke`, takes about 3 minutes of both cores here, a fifth of CI, and runs with `pytest -m slow`. That a job
    trains and evaluates a model as a local run does, to the bit, is the tiny grid's test (its time limits
    and threads). Last of the cluster tests: under pytest-xdist its busy processes would slow the other
    worker's first file, the memory-format probes (tests/conftest.py), to a crawl."""
    grid = ["reproduce", recipe, "--scale", scale, "--device", "cpu", "--quiet"]
    on_slurm = tmp_path / "slurm"
    submitted = sam_bench(cluster, *grid, "--out", str(on_slurm), "--executor", "slurm", "--no-wait")
    assert "stopped" in submitted.stdout  # returned after submitting, before the jobs finish
    jobs = json.loads((on_slurm / "cells" / "jobs.json").read_text())
    assert len(jobs) == 3 and len(set(jobs.values())) == 3  # one job per model (its seeds would be its array)
    waited = sam_bench(cluster, *grid, "--out", str(on_slurm), "--executor", "slurm", timeout=1200)
    assert "done: report in" in waited.stdout  # it waited for the jobs it found
    assert "submitted" not in waited.stderr  # nothing submitted twice

    assert set(numbers(on_slurm)) == {"ST", "SAM-0.1", "AT-Linf-2"}
    for model in numbers(on_slurm).values():  # every evaluation of the scale made (the two ask the same)
        assert [e[:3] for e in model["evaluations"]] == [
            ("clean", None, "0"),
            ("pgd", "Linf", "1/255"),
            ("pgd", "Linf", "2/255"),
            ("pgd", "Linf", "8/255"),
            ("pgd", "L2", "16/255"),
            ("pgd", "L2", "32/255"),
            ("autoattack", "Linf", "8/255"),
        ]
    assert (on_slurm / "REPORT.md").is_file()
    status = sam_bench(cluster, *grid, "--out", str(on_slurm), "--status").stdout
    assert status.splitlines() == ["ST: done", "SAM-0.1: done", "AT-Linf-2: done"]
    for job_id in jobs.values():  # results and report are written before SLURM has recorded the jobs' ends
        wait_for_accounted_end(cluster, job_id)
    accounted = [state for job_id in jobs.values() for (state,) in sacct(cluster, job_id, "State")]
    assert accounted == ["COMPLETED"] * 3


def still_accounted_as_live(env, job_id) -> bool:
    """sacct still shows the job's last attempt pending, running or completing: the controller has let it go
    (squeue shows nothing, or the result is written) but the accounting has not recorded its end yet (seen on
    a busy machine: squeue empty, sacct's last state RUNNING)."""
    states = [state for (state,) in sacct(env, job_id, "State")]
    return not states or states[-1] in ("PENDING", "RUNNING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED")


def first_epoch_logged(env, out, job_id):
    """The training log of the grid's ST run once it holds an epoch, or None if the job ended first: waits on
    the job, not the clock, however slowly a busy machine starts it."""
    while still_accounted_as_live(env, job_id):
        logs = [p for p in out.glob("runs/ST-*/log.jsonl") if p.read_text().strip()]
        if logs:
            return logs[0]
        time.sleep(0.2)
    logs = [p for p in out.glob("runs/ST-*/log.jsonl") if p.read_text().strip()]
    return logs[0] if logs else None


def status_once_cancelled(env, out, job_id) -> str:
    """`--status` once SLURM has recorded the cancelled job's end and its claim is let go."""
    wait_for_accounted_end(env, job_id)
    while True:
        status = sam_bench(env, *grid_args(out, "long", "--status")).stdout
        if "CANCELLED" in status and "running" not in status:
            return status
        time.sleep(1)


def wait_for_accounted_end(env, job_id) -> None:
    """Until sacct records the end of the job's last attempt: the test waits for that record, however long a
    busy machine takes, with no deadline; accounting that cannot be read fails it at once (sacct's error)."""
    while still_accounted_as_live(env, job_id):
        time.sleep(0.5)  # between two reads: sacct cannot be asked to wait for a record


def sacct(env, job_id, fields):
    out = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-j", job_id, "-o", fields], env=env, capture_output=True, text=True, check=True
    ).stdout
    return [line.split("|") for line in out.splitlines() if line.strip()]


@pytest.mark.slurm
def test_setup_lines_job_names_per_model_time_limits_and_threads_reach_the_cluster(cluster, tmp_path):
    """And a job trains and evaluates its model as a local run with the same threads does: the same weights,
    the same accuracies (what docs/cluster.md's "reproducing a local run on the cluster exactly" promises)."""
    out = tmp_path / "setup"
    sam_bench(
        cluster,
        *grid_args(out, "test", "--executor", "slurm", "--slurm-setup", 'echo "setup ran in job $SLURM_JOB_ID"'),
        "--slurm-time",
        "SAM-*=7",
        "--slurm-cpus-per-job",
        "2",
        "--threads",
        "1",
    )
    jobs = json.loads((out / "cells" / "jobs.json").read_text())
    for job_id in jobs.values():
        wait_for_accounted_end(cluster, job_id)
    accounted = {
        run.split("-")[0]: sacct(cluster, job_id, "JobName,Timelimit,State")[0] for run, job_id in jobs.items()
    }
    assert accounted == {
        "ST": ["tiny-grid-ST", "00:20:00", "COMPLETED"],  # the recipe's limit
        "SAM": ["tiny-grid-SAM-0.1", "00:07:00", "COMPLETED"],  # the model's own, from the command line
    }
    for job_id in jobs.values():
        log = next((out / "slurm").glob(f"{job_id}*/{job_id}_0_log.out")).read_text()
        assert f"setup ran in job {job_id.split('_')[0]}" in log
    for meta in out.glob("runs/*/metadata.json"):  # 2 CPUs held, 1 thread asked for, 1 recorded
        assert json.loads(meta.read_text())["cpu_threads"] == 1
    for results in out.glob("results/*.json"):
        assert json.loads(results.read_text())["model"]["training"]["cpu_threads"] == 1
    local = tmp_path / "local"
    sam_bench(cluster, *grid_args(local, "test", "--only", "ST", "--threads", "1"))
    assert set(numbers(out)) == {"ST", "SAM-0.1"} and set(numbers(local)) == {"ST"}
    assert numbers(out)["ST"] == numbers(local)["ST"]


@pytest.mark.slurm
def test_cancel_stops_the_grids_jobs_and_the_cell_is_free_again(cluster, tmp_path):
    """The job cannot finish before the cancel reaches it, however fast or slow the machine: this test
    holds the grid's zoo, which the cell must lock to add its model once trained."""
    out = tmp_path / "cancel"
    with files.locked(out / "model_zoo"):
        sam_bench(cluster, *grid_args(out, "long", "--executor", "slurm", "--no-wait"))
        job_id = next(iter(json.loads((out / "cells" / "jobs.json").read_text()).values()))
        # until the job has started the cell (or has ended without: the --cancel below then fails)
        while not list(out.glob("cells/*.claim")) and still_accounted_as_live(cluster, job_id):
            time.sleep(0.2)
        cancelled = sam_bench(cluster, *grid_args(out, "long", "--executor", "slurm", "--cancel")).stdout
        assert cancelled.strip() == f"cancelled 1 job(s): {job_id}"
        status = status_once_cancelled(cluster, out, job_id)
        assert f"SLURM job {job_id} CANCELLED" in status and "running" not in status, status
    assert not list(out.glob("results/*.json"))  # cancelled before its evaluation
    assert sam_bench(cluster, *grid_args(out, "long", "--executor", "slurm", "--cancel")).stdout.strip() == (
        "no job to cancel"
    )
    again = sam_bench(cluster, *grid_args(out, "long", "--executor", "slurm", "--dry-run")).stdout
    assert again.startswith("# ---- ST: sbatch would get this script") and "#SBATCH --job-name=tiny-grid-ST" in again


@pytest.mark.slurm
def test_a_claim_follows_its_jobs_state_in_the_scheduler(cluster, tmp_path, monkeypatch):
    """A claim made by a job on another node: kept while the job runs (and --status leaves it as it
    is), taken over once the scheduler says the job has ended."""
    from sam_bench.jobs import lease

    for name in ("SLURM_CONF", "PATH"):
        monkeypatch.setenv(name, cluster[name])
    submitted = subprocess.run(
        ["sbatch", "--parsable", "-o", "/dev/null", "--wrap", "sleep 300"],
        env=cluster,
        capture_output=True,
        text=True,
        check=True,
    )
    job_id = submitted.stdout.strip().split(";")[0]
    try:
        path = tmp_path / "ST.claim"
        path.write_text(json.dumps({"host": "node7", "pid": 4242, "started": None, "job_id": job_id, "token": "x"}))
        before = path.read_bytes()
        assert lease.try_claim(path) is None
        assert lease.state(path)[1] is None and path.read_bytes() == before
    finally:
        subprocess.run(["scancel", job_id], env=cluster, check=True)
    while lease.state(path)[1] is None:  # until the scheduler reports the cancelled job as ended, however long
        time.sleep(0.5)
    assert lease.state(path)[1] == f"process 4242 on node7, SLURM job {job_id}: the job is CANCELLED"
    assert lease.try_claim(path) is not None


@pytest.mark.slurm
def test_one_model_on_two_tasks_of_a_job_trains_through_ddp(cluster, tmp_path):
    """Two srun tasks join one process group from SLURM's own variables (no torchrun) and train the model
    together; the first task alone claims, evaluates and ranks it."""
    out = tmp_path / "ddp"
    sam_bench(cluster, *grid_args(out, "ddp", "--executor", "slurm"))
    job_id = next(iter(json.loads((out / "cells" / "jobs.json").read_text()).values()))
    wait_for_accounted_end(cluster, job_id)  # the grid ends with the job's result, before sacct records its end
    assert sacct(cluster, job_id, "State") == [["COMPLETED"]]
    meta = json.loads(next(out.glob("runs/ST-*/metadata.json")).read_text())
    assert meta["processes"] == 2 and meta["status"] == "complete"
    logs = sorted(p.name for p in (out / "slurm").rglob("*_log.out"))
    assert logs == [f"{job_id}_0_log.out", f"{job_id}_1_log.out"]  # one log per task
    assert sam_bench(cluster, *grid_args(out, "ddp", "--status")).stdout.strip() == "ST: done"


def test_slurm_options_come_from_the_recipe_then_the_command_line():
    options = SlurmOptions.from_recipe(
        RECIPE, "test", partition="gpu", time_minutes=None, extra=parse_sbatch_options(["account=proj", "--qos=high"])
    )
    assert (options.partition, options.time_minutes, options.extra) == ("gpu", 20, {"account": "proj", "qos": "high"})
    assert parse_sbatch_options(["exclusive", "--requeue"]) == {"exclusive": True, "requeue": True}  # flags
    with pytest.raises(BadInput, match="NAME=VALUE or NAME"):
        parse_sbatch_options(["account="])
    limited = SlurmOptions.from_recipe(RECIPE, "timelimit", max_timeouts=None)
    assert (limited.time_minutes, limited.signal_delay_s, limited.max_timeouts) == (1, 20, 20)
    assert limited.executor(Path("unused")).max_num_timeout == 20
    # SLURM signals up to 30 s early: a 1-minute job told 40 s ahead could be signalled as it starts
    for too_long in (60, 40, 21):
        with pytest.raises(BadInput, match="at most the time limit .1 min. less 40 s"):
            SlurmOptions.from_recipe(RECIPE, "timelimit", signal_delay_s=too_long)
    assert SlurmOptions.from_recipe(RECIPE, "timelimit", time_minutes=240).signal_delay_s == 20  # hours: any


def test_local_run_refuses_a_model_another_process_holds(tmp_path):
    from sam_bench.experiments.reproduce import reproduce
    from sam_bench.recipes.recipe import load_recipe

    plan = load_recipe(RECIPE, "test").models[1]
    claim = tmp_path / "cells" / f"{plan.run_name}.claim"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from sam_bench.jobs import lease; "
            "print(bool(lease.try_claim(sys.argv[1])), flush=True); sys.stdin.read()",
            str(claim),
        ],
        stdin=subprocess.PIPE,  # held open: the holder holds its claim until it is killed
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "True"
        with pytest.raises(BadInput, match=f"SAM-0.1 is being worked on by another process \\(process {holder.pid} on"):
            reproduce(RECIPE, "test", out=tmp_path, device="cpu", progress=False)
    finally:
        holder.kill()
        holder.wait()
    assert not (tmp_path / "runs").exists()  # refused before training anything
    assert not (tmp_path / "cells" / f"{load_recipe(RECIPE, 'test').models[0].run_name}.claim").exists()  # released


@pytest.mark.skipif(os.environ.get("SAM_BENCH_CI_NETNS") != "1", reason="only inside .ci/run's network namespace")
def test_the_ci_cluster_is_reachable_on_loopback_only():
    """.ci/run puts the cluster in a namespace with no interface but loopback: slurmctld's 0.0.0.0:6817
    cannot be reached from another machine."""
    import socket

    assert [name for _, name in socket.if_nameindex()] == ["lo"]  # asks the kernel (/sys shows the host's)


def test_a_job_unpickles_its_cell_without_importing_torch():
    """submitit installs a job's signal handlers only after unpickling its Cell, which imports
    sam_bench.experiments.executors: with torch imported on the way (seconds, more under load) SLURM's time-limit
    signal killed a job still starting (srun: "User defined signal 2", sacct FAILED)."""
    code = (
        "import sys, sam_bench.experiments.executors; print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_finished_cell_ignores_a_late_time_limit_warning(monkeypatch):
    """A job whose cell is done must not die of SLURM's SIGUSR2 during Python's shutdown (which restores
    the default action, termination, for a signal that has a Python handler): sacct would say FAILED."""
    import signal

    from sam_bench.experiments import executors

    monkeypatch.setattr(executors, "run_cell", lambda grid, run_name: "done")
    before = signal.signal(signal.SIGUSR2, lambda *_: None)  # as submitit's handler is, while the cell runs
    try:
        assert executors.Cell(None, "ST")() == "done"
        assert signal.getsignal(signal.SIGUSR2) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGUSR2, before)


def test_a_time_limit_that_lands_before_the_cell_starts_still_says_why(tmp_path, monkeypatch):
    """Under load SLURM's time-limit signal reached a job while it still imported torch, before run_cell's own
    bookkeeping: submitit's UncompletedJobError (requeueing off) ended the job with no note, and --status showed
    only "FAILED". The note is written by the job's callable, wherever in the cell the error comes from."""
    from sam_bench.experiments import executors

    class UncompletedJobError(Exception):  # submitit's, by name (executors never imports submitit for it)
        pass

    def signalled_while_starting(grid, run_name):
        raise UncompletedJobError("Job not requeued because: checkpoint function returned None.")

    monkeypatch.setattr(executors, "run_cell", signalled_while_starting)
    monkeypatch.delenv("SLURM_PROCID", raising=False)
    grid = grid_of(tmp_path / "grid")
    with pytest.raises(UncompletedJobError):
        executors.Cell(grid, "ST-x", requeue=False)()
    note = (grid.cells_dir / "ST-x.failed").read_text()
    assert note == "reached its time limit; requeueing is off (slurm requeue: false): reproduce again continues it\n"
    monkeypatch.setenv("SLURM_PROCID", "1")  # another task of the job: the first one speaks
    with pytest.raises(UncompletedJobError):
        executors.Cell(grid, "ST-y", requeue=False)()
    assert not (grid.cells_dir / "ST-y.failed").exists()


def test_per_model_settings_win_over_the_grid_and_group_the_jobs(tmp_path):
    from sam_bench.experiments.executors import GridRef, dry_run, job_groups

    recipe = tmp_path / "r.yaml"
    text = (
        Path(RECIPE)
        .read_text()
        .replace(
            "slurm: {time_minutes: 20}",
            "slurm: {time_minutes: 20, account: lab, setup: ['module load cuda'],"
            " models: {'SAM-*': {time_minutes: 90}}}",
        )
    )
    recipe.write_text(text)
    options = SlurmOptions.from_recipe(str(recipe), "test", time_minutes=30, setup=["source venv/bin/activate"])
    st, sam = options.for_model("ST", "tiny-grid"), options.for_model("SAM-0.1", "tiny-grid")
    assert (st.time_minutes, sam.time_minutes) == (30, 90)  # the model's own limit beats the command line's
    assert (st.job_name, sam.job_name) == ("tiny-grid-ST", "tiny-grid-SAM-0.1")
    grid = GridRef.of(str(recipe), "test", tmp_path / "out", device="cpu")
    repro = grid.reproduction()
    assert [[p.name for p in g] for _, g in job_groups(grid, repro, repro.recipe.models, options)] == [
        ["ST"],
        ["SAM-0.1"],
    ]
    scripts = dict((names[0], script) for names, script in dry_run(grid, options))
    assert "#SBATCH --time=90" in scripts["SAM-0.1"] and "#SBATCH --time=30" in scripts["ST"]
    assert "#SBATCH --account=lab" in scripts["ST"] and "#SBATCH --job-name=tiny-grid-ST" in scripts["ST"]
    setup = scripts["ST"].split("# setup\n")[1].split("\n\n")[0].splitlines()
    assert setup == ["module load cuda", "source venv/bin/activate", "export OMP_NUM_THREADS=1"]
    assert not (tmp_path / "out").exists()  # a dry run writes nothing
    threads = SlurmOptions.from_recipe(str(recipe), "test", cpus_per_job=8, threads=2)
    assert "export OMP_NUM_THREADS=2" in threads.sbatch_script(
        tmp_path, 1
    ) and "--cpus-per-task=8" in threads.sbatch_script(tmp_path, 1)
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        Path(RECIPE).read_text().replace("slurm: {time_minutes: 20}", "slurm: {models: {ST: {max_timeouts: 2}}}")
    )
    with pytest.raises(BadInput, match="'max_timeouts' cannot be set per model"):
        SlurmOptions.from_recipe(str(bad), "test")


def test_slurm_time_on_the_command_line_takes_model_patterns():
    from sam_bench.experiments.slurm_options import parse_times

    assert parse_times(["60", "AT-*=720"]) == (60, {"AT-*": {"time_minutes": 720}})
    with pytest.raises(BadInput, match="MINUTES or MODEL=MINUTES"):
        parse_times(["AT=long"])


def test_a_cell_whose_job_the_scheduler_forgot_is_submitted_again_once_no_one_holds_it(tmp_path, monkeypatch):
    from sam_bench.experiments import executors
    from sam_bench.jobs import slurm_state

    grid = grid_of(tmp_path)
    repro = grid.reproduction()
    plan = repro.recipe.models[0]
    jobs = {plan.run_name: "77_0"}
    for state, again in [("RUNNING", False), ("PENDING", False), (slurm_state.NOT_KNOWN, True), ("TIMEOUT", True)]:
        monkeypatch.setattr(executors, "job_state", lambda job_id, state=state: state)
        assert executors._needs_job(grid, repro, plan, jobs) is again, state
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from sam_bench.jobs import lease; "
            "print(bool(lease.try_claim(sys.argv[1])), flush=True); sys.stdin.read()",
            str(executors.claim_path(grid.out, plan.run_name)),
        ],
        stdin=subprocess.PIPE,  # held open: the holder holds its claim until it is killed
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "True"
        assert executors._needs_job(grid, repro, plan, jobs) is False  # its process still works on it
    finally:
        holder.kill()
        holder.wait()
    assert executors._needs_job(grid, repro, plan, jobs) is True


def grid_of(out):
    from sam_bench.experiments.executors import GridRef

    return GridRef.of(RECIPE, "test", out, device="cpu")


@pytest.mark.slurm
def test_without_requeue_a_job_at_its_time_limit_ends_and_is_submitted_again(cluster, tmp_path):
    """For clusters that forbid requeueing: the timelimit scale's job is signalled by SLURM before its
    1-minute limit, ends instead of requeueing (sbatch --no-requeue), says why, and is due again."""
    out = tmp_path / "norequeue"
    proc = sam_bench(cluster, *grid_args(out, "timelimit", "--executor", "slurm", "--slurm-no-requeue"))
    assert "stopped (run the same command again to continue)" in proc.stdout
    job_id = next(iter(json.loads((out / "cells" / "jobs.json").read_text()).values()))
    wait_for_accounted_end(cluster, job_id)  # the job's result is written before SLURM has ended the job
    history = [state for (state,) in sacct(cluster, job_id, "State")]
    assert "REQUEUED" not in history and history[-1] not in ("RUNNING", "PENDING", "COMPLETED"), history
    status = sam_bench(cluster, *grid_args(out, "timelimit", "--status")).stdout
    assert "requeueing is off (slurm requeue: false): reproduce again continues it" in status
    # Stopped before its 100 epochs: mid-training, or (under load) while the job was still starting, before
    # its first epoch; either way it is due again (the requeue test checks the checkpoint carries on)
    logs = list(out.glob("runs/ST-*/log.jsonl"))
    assert len(logs) <= 1 and (not logs or len(logs[0].read_text().splitlines()) < 100)
    again = sam_bench(cluster, *grid_args(out, "timelimit", "--executor", "slurm", "--slurm-no-requeue", "--dry-run"))
    assert "#SBATCH --no-requeue" in again.stdout and again.stdout.startswith("# ---- ST:")


def test_a_local_run_trains_with_the_threads_asked_for_and_records_them(tmp_path):
    import torch

    from sam_bench.experiments.reproduce import reproduce

    before = torch.get_num_threads()
    try:
        reproduce(RECIPE, "long", out=tmp_path, device="cpu", progress=False, threads=1, max_minutes=0.2)
    finally:
        torch.set_num_threads(before)
    meta = json.loads(next(tmp_path.glob("runs/ST-*/metadata.json")).read_text())
    assert meta["cpu_threads"] == 1 and meta["device_name"].endswith("1 threads)")
    with pytest.raises(BadInput, match="--threads must be 1 or more"):
        reproduce(RECIPE, "long", out=tmp_path, device="cpu", progress=False, threads=0)


@pytest.mark.slurm
def test_a_cell_whose_job_slurm_does_not_know_is_due_again(cluster, tmp_path, monkeypatch):
    from sam_bench.experiments import executors
    from sam_bench.jobs import slurm_state

    for name in ("SLURM_CONF", "PATH"):
        monkeypatch.setenv(name, cluster[name])
    assert slurm_state.job_state("987654") == slurm_state.NOT_KNOWN  # squeue and sacct both asked
    out = tmp_path / "forgotten"
    grid = grid_of(out)
    plans = grid.reproduction().recipe.models
    (out / "cells").mkdir(parents=True)
    (out / "cells" / "jobs.json").write_text(json.dumps({p.run_name: "987654" for p in plans}))
    assert not executors.holder_alive(grid, plans[0].run_name)  # and no live process holds the cell: it is lost
    status = sam_bench(cluster, *grid_args(out, "test", "--status")).stdout
    assert status.splitlines() == [
        "ST: SLURM job 987654 not known to the scheduler",
        "SAM-0.1: SLURM job 987654 not known to the scheduler",
    ]
    again = sam_bench(cluster, *grid_args(out, "test", "--executor", "slurm", "--dry-run")).stdout
    assert [line for line in again.splitlines() if line.startswith("# ----")] == [
        "# ---- ST: sbatch would get this script",
        "# ---- SAM-0.1: sbatch would get this script",
    ]
