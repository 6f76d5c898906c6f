import os

# One thread per test process, the sam-bench commands tests start included: the models are tiny, and
# with pytest-xdist's workers sharing the cores, threads only fight (a 2-thread run beside other work
# was measured 5-10x slower here). tests/test_memory_format.py gives its probe the machine's default.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn
import torch.nn.functional as F

import sam_bench  # noqa: F401  (applies the compat shims before any test imports torchvision)


@pytest.fixture(autouse=True)
def _zoo_named_last(tmp_path_factory, monkeypatch):
    """The zoo a test names (--zoo-dir, zoo_dir=) is remembered in a file of the test's own, not the user's
    (sam_bench.zoo.folders)."""
    from sam_bench.zoo import folders

    memory = tmp_path_factory.mktemp("memory") / "last-zoo-dir"
    monkeypatch.setattr(folders, "memory_file", lambda: memory)


@pytest.fixture(autouse=True)
def _few_threads():
    # Tiny models gain nothing from threads, and on a busy 2-core machine threads only contend.
    torch.set_num_threads(1)
    yield


@pytest.fixture(scope="module")
def sample():
    from sam_bench.data import load_dataset

    return load_dataset("cifar10-sample")


@pytest.fixture(scope="module")
def tiny_net(sample):
    """A small CNN trained briefly on the sample (about 25% test accuracy): weak and cheap to attack."""
    from sam_bench.models.normalization import InputNormalization

    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = nn.Sequential(
        InputNormalization(sample.mean, sample.std),
        nn.Conv2d(3, 16, 3, 2, 1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, 2, 1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(128, 10),
    )
    x = torch.from_numpy(sample.x_train).permute(0, 3, 1, 2).contiguous().float() / 255
    y = torch.from_numpy(sample.y_train)
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    for _ in range(8):
        for idx in torch.randperm(len(y)).split(100):
            opt.zero_grad()
            F.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
    return net.eval()


@pytest.fixture
def evaluation_clock(monkeypatch):
    """sam_bench.evaluation.evaluate's clock under the test's control: it starts at the real time, and PGD
    moves it on by `per_pgd_image` seconds for every image it attacks (0 until the test sets it), the
    timed probe before a chunk as much as the chunk itself; the clean pass by `per_clean_image` for every image
    it classifies (0 until the test sets it: what a forward pass costs, from which a probe is estimated)."""
    import time
    from types import SimpleNamespace

    from sam_bench.evaluation import evaluate as ev
    from sam_bench.runtime import clock as sam_bench_clock

    def new_command():  # what a new `sam-bench` command sees: the clock's now is its start
        clock.now = time.time()
        monkeypatch.setattr(sam_bench_clock, "STARTED", clock.now)

    clock = SimpleNamespace(now=0.0, per_pgd_image=0.0, per_clean_image=0.0, new_command=new_command)
    new_command()
    fake_time = SimpleNamespace(time=lambda: clock.now, process_time=time.process_time)  # CPU time stays real
    monkeypatch.setattr(ev, "time", fake_time)
    monkeypatch.setattr(sam_bench_clock, "time", fake_time)
    honest = ev.RUNNERS["pgd"]

    def timed_pgd(model, x, *args, **kwargs):
        clock.now += clock.per_pgd_image * len(x)
        return honest(model, x, *args, **kwargs)

    monkeypatch.setitem(ev.RUNNERS, "pgd", timed_pgd)
    honest_clean = ev._clean_predictions

    def timed_clean(model, x_all, *args, **kwargs):
        clock.now += clock.per_clean_image * len(x_all)
        return honest_clean(model, x_all, *args, **kwargs)

    monkeypatch.setattr(ev, "_clean_predictions", timed_clean)
    return clock


@pytest.fixture
def training_clock(monkeypatch):
    """The training loop's clock (sam_bench.runtime.clock) under the test's control: it stands still, and each
    epoch moves it on by `per_epoch` seconds and is recorded as taking that long, its first step as
    long as any other; what the loop schedules against a time limit then never depends on the machine."""
    from types import SimpleNamespace

    from sam_bench.runtime import clock as sam_bench_clock
    from sam_bench.training import loop

    clock = SimpleNamespace(now=1_000_000.0, per_epoch=100.0)
    monkeypatch.setattr(sam_bench_clock, "time", SimpleNamespace(time=lambda: clock.now))
    honest = loop.train_one_epoch

    def timed_epoch(cfg, model, optimizer, loader, epoch, *args, **kwargs):
        record = honest(cfg, model, optimizer, loader, epoch, *args, **kwargs)
        clock.now += clock.per_epoch
        record["seconds"] = clock.per_epoch
        record["first_step_s"] = clock.per_epoch / len(loader)  # no warm-up to discount
        record["images_per_s"] = record["images"] / clock.per_epoch  # the log's times agree (training.run_check)
        return record

    monkeypatch.setattr(loop, "train_one_epoch", timed_epoch)
    return clock


# Under pytest-xdist (`-n auto`; setup.cfg adds `--dist loadfile --no-loadscope-reorder`) each file runs
# on one worker and files are handed out in collection order: these first, on a worker each. The SLURM
# tests take longest (minutes, much of it waiting on the cluster; the paper grid's three jobs come
# last), and the memory-format probes, whose two threads crawl beside busy processes, run meanwhile.
RUN_FIRST = ["test_executors.py", "test_memory_format.py"]


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: RUN_FIRST.index(item.path.name) if item.path.name in RUN_FIRST else len(RUN_FIRST))
