"""timm architectures fit for 32x32 research: constructor arguments pass through and are recorded,
each family's CIFAR adaptation (tokens, stems, feature maps), a training step, and a zoo entry that
rebuilds from itself and loads through RobustBench's own load_model."""

import json

import pytest
import torch
from click.testing import CliRunner

from sam_bench.cli import cli
from sam_bench.errors import BadInput
from sam_bench.models import create_model, make_spec, parse_kwargs
from sam_bench.recipes.recipe import load_recipe
from sam_bench.training.loop import TrainConfig
from sam_bench.zoo import store as zoo

TINY_VIT = {"depth": 2, "embed_dim": 48, "num_heads": 3}


def build(arch, kwargs=None):
    return create_model(make_spec(arch, 10, (0.5,) * 3, (0.25,) * 3, 1.0, kwargs)).eval()


def output_of(module, model):
    """The output shape of a submodule on one 32x32 image."""
    seen = {}

    def hook(module, inputs, output):
        seen.setdefault("shape", tuple(output.shape))  # (returns None: the output is left as it is)

    handle = module.register_forward_hook(hook)
    with torch.no_grad():
        assert model(torch.rand(1, 3, 32, 32)).shape == (1, 10)
    handle.remove()
    return seen["shape"]


def test_vit_and_deit_get_4_pixel_patches_and_a_position_embedding_to_match():
    for arch in ("timm:vit_tiny_patch16_224", "timm:deit_tiny_patch16_224"):
        model = build(arch, TINY_VIT)
        net = model.net
        assert net.patch_embed.num_patches == 64  # 8x8 tokens, not the 2x2 of 16-pixel patches
        assert net.pos_embed.shape[1] == 64 + net.num_prefix_tokens
        assert output_of(net.patch_embed, model) == (1, 64, 48)
    net = build("timm:vit_tiny_patch16_224", {**TINY_VIT, "patch_size": 8}).net  # the user's choice wins
    assert net.patch_embed.num_patches == 16 and len(net.blocks) == 2


def test_convolutional_stems_keep_the_32px_image_large():
    convnext = build("timm:convnext_atto")
    assert output_of(convnext.net.stem, convnext)[2:] == (16, 16)  # not 8x8 after a 4x4 patchify stem
    mobilenet = build("timm:mobilenetv3_small_050")
    assert output_of(mobilenet.net.conv_stem, mobilenet)[2:] == (32, 32)
    resnet = build("timm:resnet10t")
    assert output_of(resnet.net.layer1, resnet)[2:] == (32, 32)


def test_bad_constructor_arguments_are_one_clear_error():
    with pytest.raises(BadInput, match="'bogus' is not an argument timm's vit_tiny_patch16_224 takes"):
        build("timm:vit_tiny_patch16_224", {"bogus": 3})
    with pytest.raises(BadInput, match="cannot be built with .*embed_dim=5"):  # its own argument, a value it refuses
        build("timm:vit_tiny_patch16_224", {"embed_dim": 5})
    with pytest.raises(BadInput, match="takes --width only"):
        make_spec("preactresnet18", 10, (0.5,) * 3, (0.25,) * 3, 1.0, {"depth": 3})
    runner = CliRunner()
    result = runner.invoke(
        cli, ["train", "--arch", "timm:vit_tiny_patch16_224", "--arch-kwargs", "depth6", "--out", "unused"]
    )
    assert result.exit_code == 2 and "is not KEY=VALUE" in result.output


def test_command_line_arguments_read_lists_and_mappings_whole():
    # ConvNeXt's dims and ResNet's channels are lists: their commas must not end the argument
    assert parse_kwargs("dims=[16,32,64,128],drop_path_rate=0.1,ls_init_value=null") == {
        "dims": [16, 32, 64, 128],
        "drop_path_rate": 0.1,
        "ls_init_value": None,
    }
    assert parse_kwargs("channels=[8, 16],stem_type=deep,block_args={attn_layer: se}") == {
        "channels": [8, 16],
        "stem_type": "deep",
        "block_args": {"attn_layer": "se"},
    }
    with pytest.raises(BadInput, match="cannot read the value"):
        parse_kwargs("dims=[16,32")


def test_runs_without_timm_arguments_keep_their_keys():
    # the key of the committed cpu-scale ST run: adding arch_kwargs must not retrain anything
    assert load_recipe("paper-cifar10", "cpu").models[0].key == "982a950524"


def test_a_timm_vit_trains_records_its_arguments_and_loads_from_the_zoo_and_robustbench(tmp_path):
    from robustbench.utils import load_model

    torch.set_num_threads(1)
    run = tmp_path / "run"
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--arch",
            "timm:vit_tiny_patch16_224",
            "--arch-kwargs",
            "depth=2,embed_dim=48,num_heads=3",
            "--method",
            "sam",
            "--rho",
            "0.1",
            "--epochs",
            "1",
            "--n-train",
            "128",
            "--batch-size",
            "64",
            "--out",
            str(run),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["config"]["arch_kwargs"] == TINY_VIT and meta["arch"]["kwargs"] == TINY_VIT
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert meta["status"] == "complete" and len(log) == 1 and log[0]["train_loss"] > 0
    entry = zoo.add(run, zoo_dir=tmp_path / "model_zoo")
    assert entry["arch"]["kwargs"] == TINY_VIT
    assert entry["architecture"] == "vit_tiny_patch16_224 (depth=2, embed_dim=48, num_heads=3)"
    assert entry["id"].startswith("SamBench") and "vit-tiny-patch16-224-depth2-embeddim48-numheads3" in entry["id"]
    ours = zoo.load_model(entry["id"], zoo_dir=tmp_path / "model_zoo")  # rebuilt from the entry alone
    assert ours.net.patch_embed.num_patches == 64
    zoo.register_with_robustbench(tmp_path / "model_zoo")
    theirs = load_model(entry["id"], model_dir=str(tmp_path / "rb"), dataset="cifar10", threat_model="Linf")
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(theirs(x), ours(x))


def test_a_recipe_passes_arch_kwargs(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: r\ndataset: cifar10-sample\n"
        "train: {arch: 'timm:vit_tiny_patch16_224', arch_kwargs: {depth: 2, embed_dim: 48, num_heads: 3}}\n"
        "models: [{name: ST, method: standard}]\nevaluation: {n_examples: 8}\nscales: {s: {}}\n"
    )
    plan = load_recipe(str(recipe), "s").models[0]
    assert plan.config.arch_kwargs == TINY_VIT
    assert TrainConfig(arch="timm:vit_tiny_patch16_224", arch_kwargs={}).validate().arch_kwargs is None
    with pytest.raises(BadInput, match="takes --width only"):
        TrainConfig(arch="preactresnet18", arch_kwargs={"depth": 2}).validate()


def test_every_model_of_the_arch_sweep_recipe_builds_for_32px():
    from sam_bench.data import STATS

    seen = set()
    for scale in ("cpu", "full"):
        for plan in load_recipe("arch-sweep-cifar10", scale).models:
            c = plan.config
            key = (c.arch, c.width, str(c.arch_kwargs))
            if key in seen:
                continue
            seen.add(key)
            model = create_model(make_spec(c.arch, 10, *STATS["cifar10"], c.width, c.arch_kwargs)).eval()
            with torch.no_grad():
                assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10), plan.name
    assert len(seen) == 8  # four architectures, two sizes each
