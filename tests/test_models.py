import pytest
import torch

from sam_bench.errors import BadInput
from sam_bench.models import create_model, list_models, make_spec

MEAN, STD = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)


def spec(arch, width=1.0, num_classes=10):
    return make_spec(arch, num_classes, MEAN, STD, width)


@pytest.mark.parametrize("arch,width", [("preactresnet18", 0.125), ("wideresnet-16-4", 0.25), ("timm:resnet10t", 1.0)])
def test_registry_builds_32x32_classifiers(arch, width):
    model = create_model(spec(arch, width, num_classes=100)).eval()
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 100)
    # RobustBench's loader strips 'model.' and 'module.' from keys: none of ours may contain them.
    assert not any("model." in k or "module." in k for k in model.state_dict())


def test_list_and_unknown():
    assert {"preactresnet18", "wideresnet-28-10", "timm:<name>"} <= set(list_models())
    with pytest.raises(BadInput, match="unknown architecture"):
        make_spec("resnet9000", 10, MEAN, STD)
    with pytest.raises(BadInput, match="unknown timm model"):
        create_model(spec("timm:not_a_model"))


def test_preactresnet18_weights_move_both_ways_with_robustbench():
    from robustbench.model_zoo.architectures.resnet import PreActBlock, PreActResNet

    ours = create_model(spec("preactresnet18")).eval()
    theirs = PreActResNet(PreActBlock, [2, 2, 2, 2], bn_before_fc=True, out_shortcut=True).eval()
    theirs.load_state_dict(ours.state_dict(), strict=True)
    x = torch.rand(4, 3, 32, 32)
    normalized = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    torch.testing.assert_close(ours(x), theirs(normalized), atol=1e-5, rtol=1e-4)
    again = create_model(spec("preactresnet18")).eval()
    again.load_state_dict(theirs.state_dict(), strict=True)
    torch.testing.assert_close(again(x), ours(x))


def test_wideresnet_matches_robustbench():
    from robustbench.model_zoo.architectures.wide_resnet import WideResNet

    ours = create_model(spec("wideresnet-16-4")).eval()
    theirs = WideResNet(depth=16, widen_factor=4).eval()
    theirs.load_state_dict(ours.state_dict(), strict=True)
    x = torch.rand(2, 3, 32, 32)
    normalized = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    torch.testing.assert_close(ours(x), theirs(normalized), atol=1e-4, rtol=1e-4)


def test_normalization_is_inside_and_not_saved():
    model = create_model(spec("preactresnet18", 0.125)).eval()
    assert "normalize.mean" in dict(model.named_buffers())
    assert not any(k.startswith("normalize") for k in model.state_dict())
    other_stats = create_model(make_spec("preactresnet18", 10, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 0.125)).eval()
    other_stats.load_state_dict(model.state_dict())
    x = torch.rand(2, 3, 32, 32)
    assert not torch.allclose(model(x), other_stats(x))  # the statistics change the function


def test_width_scales_channels():
    narrow = create_model(spec("preactresnet18", 0.25))
    assert narrow.conv1.out_channels == 16 and narrow.linear.in_features == 128
    with pytest.raises(BadInput):
        make_spec("preactresnet18", 10, MEAN, STD, width=0)


def test_timm_resnet_stem_is_adapted_to_32px():
    model = create_model(spec("timm:resnet10t"))
    assert isinstance(model.net.maxpool, torch.nn.Identity)
    features = model.net.forward_features(torch.rand(1, 3, 32, 32))
    assert features.shape[-1] == 4  # 32 px / 8 (three stride-2 stages), not / 32
