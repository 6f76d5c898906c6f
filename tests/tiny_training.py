"""The training settings of tests that need a real run in seconds: PreActResNet-18 at 1/8 width, two
epochs of 192 synthetic images, on the CPU. A test overrides what it is about."""

from sam_bench.training.loop import TrainConfig


def tiny(**overrides) -> TrainConfig:
    settings = dict(
        arch="preactresnet18",
        width=0.125,
        dataset="synthetic",
        epochs=2,
        batch_size=64,
        n_train=192,
        lr=0.05,
        device="cpu",
    )
    settings.update(overrides)
    return TrainConfig(**settings)
