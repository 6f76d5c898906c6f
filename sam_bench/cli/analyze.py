"""`sam-bench analyze`: why a model is robust, measured (sam_bench.analysis.record.analyze)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from sam_bench import files
from sam_bench.cli.options import SEED, data_dir_option, device_option, out_option, quiet_option, zoo_dir_option
from sam_bench.errors import BadInput
from sam_bench.evaluation.specs import split
from sam_bench.training.config import RUNTIME_KEYS


def _numbers(text: str) -> list[float]:
    try:
        return [float(part) for part in split(text) or []]
    except ValueError:
        raise BadInput(f"--cutoffs {text!r}: give comma-separated numbers, e.g. 2,4,8,12") from None


@click.command("analyze", short_help="Sharpness, Fourier heat map, frequency reliance, input gradients of models.")
@click.argument("models", nargs=-1, required=True)
@out_option("Folder for one JSON (+ .npz, PNG) per model.", default="analysis")
@click.option("--measures", default="sharpness,fourier,frequency,gradients", help="Which measures, comma-separated.")
@click.option("--seed", type=SEED, default=0, help="Draws training images, power-iteration start, Fourier signs.")
@click.option("--train-images", type=int, default=256, help="Sharpness: training images drawn.")
@click.option("--sharpness-batch", type=int, default=64, help="Sharpness: images per batch.")
@click.option("--rho", type=float, default=0.1, help="SAM's radius (L2 over all weights).")
@click.option("--ascent-steps", type=int, default=5, help="Projected ascent steps (multi-step sharpness).")
@click.option("--power-iterations", type=int, default=12, help="Most power iterations per batch.")
@click.option("--fourier-images", type=int, default=48, help="Fourier map: first N test images.")
@click.option("--fourier-norm", type=float, default=4.0, help="Fourier map: L2 norm of the perturbation.")
@click.option("--filter-images", type=int, default=1000, help="Frequency reliance: first N test images.")
@click.option("--cutoffs", default="2,4,8,12", help="Low/high-pass radii (cycles per image).")
@click.option("--gradient-images", type=int, default=200, help="Input gradients: first N test images.")
@click.option("--dataset", help="Data set [default: the one the model was trained on].")
@data_dir_option
@zoo_dir_option()
@device_option(default="cpu")
@quiet_option
def analyze_command(models, out, measures, cutoffs, dataset, data_dir, zoo_dir, device, quiet, **knobs):
    """Measure what the paper's explanation predicts about MODELS (run directories, .safetensors
    checkpoints or model-zoo ids): SAM's sharpness and the Hessian's top eigenvalue on training
    images, the Fourier heat map, accuracy on low- and high-pass filtered test images, and input
    gradients with their alignment to the image. One JSON per model in --out (reused when the
    weights and settings match; an interrupted run continues), and input_gradients.png: the same
    test images' gradient maps for every model. See docs/analysis.md."""
    import numpy as np

    from sam_bench.analysis import gradients
    from sam_bench.analysis.record import Settings, analyze, load, paths
    from sam_bench.data import load_dataset
    from sam_bench.evaluation.model_ref import load_model_ref, model_name

    # every other option is a Settings field of the same name
    settings = Settings(measures=split(measures) or [], cutoffs=_numbers(cutoffs), **knobs)
    names = [model_name(ref) for ref in models]
    if len(set(names)) < len(names):
        raise BadInput("two models would write the same analysis file; give their runs different names")
    files.check_writable(Path(out) / "input_gradients.png")
    loaded = [load_model_ref(ref, zoo_dir=zoo_dir) for ref in models]  # every bad ref fails before any work
    datasets = {}
    for (_, info), ref in zip(loaded, models):
        data_name = dataset or info.dataset_name
        if data_name is None:
            raise BadInput(f"{ref}: its metadata names no data set; pass --dataset")
        if data_name not in datasets:
            datasets[data_name] = load_dataset(data_name, data_dir)
            settings.check(datasets[data_name])
    for (model, info), name in zip(loaded, names):
        record, reused = analyze(
            model,
            datasets[dataset or info.dataset_name],
            settings,
            out,
            name,
            info=info.record,
            device=device,
            progress=not quiet,
        )
        click.echo(_summary(name, record, reused))
    if "gradients" in settings.measures:
        arrays = [(name, *load(out, name)[::-1]) for name in names]  # (name, arrays, record)
        images = arrays[0][1]["grid_images"]
        # The folder's other models on the same images stay in the grid: analysing one more model adds a row
        # instead of drawing it alone (their arrays are kept beside the records, not committed).
        for other in sorted(p.stem for p in Path(out).glob("*.json") if not p.name.endswith(".partial.json")):
            if other not in names and paths(Path(out), other)["arrays"].is_file():
                record, kept = load(out, other)
                if "gradient_maps" in kept and np.array_equal(kept.get("grid_images"), images):
                    arrays.append((other, kept, record))
        shown = one_per_configuration(arrays)
        grid = Path(out) / "input_gradients.png"
        gradients.plot_grid(images.transpose(0, 3, 1, 2) / 255, [(n, a["gradient_maps"]) for n, a in shown], grid)
        left_out = f" (one per training configuration of {len(arrays)})" if len(shown) < len(arrays) else ""
        click.echo(f"input gradients of {len(shown)} model(s){left_out}: {grid}")


def one_per_configuration(analysed: list[tuple[str, dict, dict]]) -> list[tuple[str, dict]]:
    """(name, arrays) of the first model of each training configuration: seeds of one recipe draw the same
    picture, and twenty rows of it made the figure megabytes. A model without its training's settings (a
    checkpoint, another zoo's entry) is a configuration of its own."""
    seen, shown = set(), []
    for name, arrays, record in analysed:
        config = ((record or {}).get("model") or {}).get("training", {}).get("config")
        if config is None:
            key = name
        else:
            key = json.dumps({k: v for k, v in config.items() if k not in RUNTIME_KEYS | {"seed"}}, sort_keys=True)
        if key not in seen:
            seen.add(key)
            shown.append((name, arrays))
    return shown


def _summary(name: str, record: dict, reused: bool) -> str:
    parts = [f"{name}: {record['seconds']:.0f} s" + (" (reused)" if reused else "")]
    if "sharpness" in record:
        s = record["sharpness"]["summary"]
        parts.append(f"top eigenvalue {s['top_eigenvalue']['mean']:.3g}, SAM sharpness {s['sam_one_step']['mean']:.3g}")
    if "frequency" in record:
        f = record["frequency"]
        parts.append(
            f"clean {100 * f['clean']['acc']:.1f}%, high-pass "
            + ", ".join(f"r>{e['cutoff']:g} {100 * e['acc']:.1f}%" for e in f["high_pass"])
        )
    if "fourier" in record:
        parts.append(f"Fourier high-band error {100 * record['fourier']['band_error']['high']:.1f}%")
    if "gradients" in record:
        parts.append(f"gradient alignment {record['gradients']['alignment']['mean']:.3f}")
    return "; ".join(parts)
