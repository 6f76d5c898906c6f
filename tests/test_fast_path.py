"""The GPU fast path's promises, checked on the CPU: no host reads of tensor values per training
step (on a GPU each one stalls the host until the GPU catches up), one host-to-device copy of
random numbers per epoch rather than per batch."""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from sam_bench.data import DeviceLoader, synthetic_dataset
from sam_bench.models import create_model, make_spec
from sam_bench.training import method_table
from sam_bench.training.loop import TrainConfig, build_optimizer, train
from sam_bench.training.methods import train_step

METHODS = method_table.names()

aten = torch.ops.aten
# Ops whose result the host has to wait for: reading a value, or a shape that depends on values.
HOST_READS = {
    aten._local_scalar_dense.default,
    aten.is_nonzero.default,
    aten.equal.default,
    aten.nonzero.default,
    aten.masked_select.default,
}
INDEXING = {aten.index.Tensor, aten.index_put.default, aten.index_put_.default}


class HostReads(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.seen = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in HOST_READS:
            self.seen.append(str(func))
        elif func in INDEXING and any(i is not None and i.dtype == torch.bool for i in args[1]):
            self.seen.append(f"{func} with a boolean mask")
        return func(*args, **kwargs)


def test_the_reads_detector_sees_what_it_must():
    x = torch.arange(4.0)
    with HostReads() as reads:
        x.sum().item()
        x[x > 1]
        bool(x.any())
    assert len(reads.seen) == 3, reads.seen


@pytest.mark.parametrize("method", METHODS)
def test_a_training_step_reads_nothing_back(method):
    steps = 1 if method_table.single_step(method) else 2  # the single-step methods take exactly one
    cfg = TrainConfig(method=method, width=0.0625, attack_steps=steps, device="cpu").validate()
    torch.manual_seed(0)
    model = create_model(make_spec("preactresnet18", 10, (0.5,) * 3, (0.25,) * 3, 0.0625))
    optimizer = build_optimizer(cfg, model)
    d = synthetic_dataset(n_train=32, n_test=8)
    x, y = next(DeviceLoader(d.x_train, d.y_train, 16, "cpu", train=True).epoch(0))
    settings = cfg.step_settings(0)  # TRADES' beta, AWP's gamma
    train_step(method, model, optimizer, x, y, cfg.attack(), settings=settings)  # warm: lazy state (momentum buffers)
    with HostReads() as reads:
        loss, logits = train_step(method, model, optimizer, x, y, cfg.attack(), settings=settings)
    assert reads.seen == [] and torch.isfinite(loss)


def test_host_reads_per_epoch_follow_log_intervals_not_steps(tmp_path):
    """20 and 40 steps both log 10 times, so they read the same number of values back."""
    counts = []
    for steps in (20, 40):
        cfg = TrainConfig(
            method="sam", width=0.0625, dataset="synthetic", n_train=8 * steps, batch_size=8, epochs=1, device="cpu"
        )
        with HostReads() as reads:
            train(cfg, tmp_path / str(steps), progress=False)
        counts.append(len(reads.seen))
    assert counts[0] == counts[1] and counts[0] < 40, counts


def test_an_epoch_copies_its_random_numbers_once(monkeypatch):
    d = synthetic_dataset(n_train=256, n_test=8)
    loader = DeviceLoader(d.x_train, d.y_train, 16, "cpu", train=True)
    copies = []
    real_to = torch.Tensor.to
    monkeypatch.setattr(torch.Tensor, "to", lambda self, *a, **k: copies.append(1) or real_to(self, *a, **k))
    batches = list(loader.epoch(0))
    assert len(batches) == 16 and len(copies) == 2  # the order and the augmentation draws


@pytest.mark.parametrize("method", ["sam", "at"])
def test_compiled_steps_equal_eager_ones_and_stop_compiling(method):
    """`--compile`: the same arithmetic (fp64, so rounding cannot hide a difference), BatchNorm
    statistics frozen in SAM's second pass and in attack passes as in eager mode, and after the
    first steps no step compiles anything new."""
    import copy

    from torch._dynamo.utils import counters

    from sam_bench.runtime import compile_cache

    torch._dynamo.reset()
    cfg = TrainConfig(method=method, width=0.0625, attack_steps=2, device="cpu").validate()
    torch.manual_seed(0)
    start = create_model(make_spec("preactresnet18", 10, (0.5,) * 3, (0.25,) * 3, 0.0625)).double()
    d = synthetic_dataset(n_train=48, n_test=8)
    batches = [(x.double(), y) for x, y in DeviceLoader(d.x_train, d.y_train, 16, "cpu", train=True).epoch(0)]
    states = []
    for compiled in (False, True):
        model = copy.deepcopy(start)
        optimizer = build_optimizer(cfg, model)
        forward = compile_cache.compiled(model) if compiled else model  # as training compiles
        torch.manual_seed(1)
        for i, (x, y) in enumerate(batches):
            if i == len(batches) - 1:
                graphs = counters["stats"]["unique_graphs"]
            train_step(method, forward, optimizer, x, y, cfg.attack(), settings=cfg.step_settings(0))
        states.append(model.state_dict())
    assert counters["stats"]["unique_graphs"] == graphs > 0
    eager, compiled = states
    assert all(torch.allclose(eager[k].double(), compiled[k].double(), rtol=0, atol=1e-10) for k in eager)
