"""``tagstream model``: train, evaluate and export the catalogue model, and inspect a labelled catalogue.

A training run writes into one folder (``--run``, default ``.tagstream/model``): ``model.pt`` (the calibrated
``TrainedModel``), ``validation.npz`` (the exact validation split, the default reference for evaluate and
export) and the per-epoch checkpoints ``last.pt`` and ``best.pt`` that ``--resume`` continues from.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Literal

import numpy as np
import typer
from rich.console import Console

from model.dataset import LabelledImages

model_app = typer.Typer(help="Train, evaluate and export the catalogue model (its benchmark: `tagstream bench model`).",
                        no_args_is_help=True)
console = Console(stderr=True)

RUN_DIR = Path(".tagstream/model")
MODEL_FILE = "model.pt"
VALIDATION_FILE = "validation.npz"
Strategy = Literal["none", "class_balanced", "focal", "logit_adjust", "balanced_sampling"]
Format = Literal["auto", "csv", "jsonl", "fashionai"]


def _data(catalogue: Path | None, fmt: Format, image_root: Path | None, synthetic: int, seed: int,
          drift: list[str] | None = None) -> LabelledImages:
    """A real labelled catalogue when ``catalogue`` is given, else ``synthetic`` rendered products."""
    if catalogue is not None:
        from model.catalogue import load_catalogue

        loaded = load_catalogue(catalogue, format=fmt, image_root=image_root)
        for line in loaded.summary().lines():
            console.print(f"  {line}")
        return loaded.to_dataset(progress=True)
    from model.drift import parse_drift
    from model.synthetic import SyntheticConfig, dataset

    config = SyntheticConfig(drift=parse_drift(drift or []))
    return dataset(synthetic, seed=seed, config=config, progress=True)


def _save_split(split: LabelledImages, path: Path) -> None:
    np.savez_compressed(path, images=split.images, labels=split.labels)


def _load_split(path: Path) -> LabelledImages:
    if not path.is_file():
        raise typer.BadParameter(f"{path} does not exist; train first (`tagstream model train`) or pass --catalogue "
                                 "or --synthetic")
    with np.load(path) as blob:
        return LabelledImages(blob["images"], blob["labels"])


@model_app.command("train")
def train(
    run: Path = typer.Option(RUN_DIR, help="folder for model.pt, validation.npz and the checkpoints"),
    catalogue: Path | None = typer.Option(None, help="a labelled catalogue (CSV, JSONL or FashionAI) to train on "
                                                     "instead of synthetic products"),
    fmt: Format = typer.Option("auto", "--format", help="the catalogue's format"),
    image_root: Path | None = typer.Option(None, help="where the catalogue's relative image paths start"),
    synthetic: int = typer.Option(16000, min=100, help="synthetic products to train on (without --catalogue)"),
    data_seed: int = typer.Option(1, help="seed of the synthetic products"),
    seed: int = typer.Option(0, help="seed of the split, initialisation, shuffling and augmentation"),
    epochs: int = typer.Option(8, min=1, help="most epochs; early stopping on validation macro-F1 may end sooner"),
    patience: int = typer.Option(3, min=1, help="epochs without a better validation macro-F1 before stopping"),
    batch_size: int = typer.Option(128, min=2, help="examples per step"),
    lr: float = typer.Option(3e-3, min=0.0, help="peak learning rate"),
    strategy: Strategy | None = typer.Option(None, help="long-tail strategy (default: the recipe measured by "
                                                        "`tagstream model bench`)"),
    arch: Literal["small", "resnet50"] = typer.Option("small", help="small: CPU-sized; resnet50: for GPUs"),
    width: int = typer.Option(16, min=4, help="channels of the first stage (64 for a standard ResNet-50)"),
    depth: int = typer.Option(4, min=1, max=6, help="conv blocks of the small backbone"),
    threads: int = typer.Option(2, min=1, help="torch CPU threads"),
    device: Literal["cpu", "cuda"] = typer.Option("cpu", help="where to train"),
    resume: bool = typer.Option(False, help="continue from RUN/last.pt"),
) -> None:
    """Train the multi-task model with a progress bar, checkpoints and early stopping, then calibrate each head
    and fit the out-of-distribution score. Writes RUN/model.pt and RUN/validation.npz."""
    from model.longtail import DEFAULT_RECIPE, LongTailConfig
    from model.network import NetworkConfig
    from model.train import TrainConfig
    from model.train import train as fit

    data = _data(catalogue, fmt, image_root, synthetic, data_seed)
    longtail = DEFAULT_RECIPE if strategy is None else LongTailConfig(strategy=strategy)
    config = TrainConfig(seed=seed, epochs=epochs, patience=patience, batch_size=batch_size, lr=lr,
                         longtail=longtail, network=NetworkConfig(arch=arch, width=width, depth=depth),
                         threads=threads, device=device, checkpoint_dir=run, resume=resume)
    result = fit(data, config, progress=True, console=console)
    result.model.metadata["command"] = shlex.join(["tagstream", "model", *sys.argv[sys.argv.index("train"):]])
    result.model.metadata["data"] = (f"catalogue {catalogue}" if catalogue else
                                     f"synthetic {synthetic} products, data seed {data_seed}")
    result.model.save(run / MODEL_FILE)
    _save_split(result.validation, run / VALIDATION_FILE)
    console.print(f"[green]trained[/green] best epoch {result.best_epoch}; wrote {run / MODEL_FILE} and "
                  f"{run / VALIDATION_FILE}")


@model_app.command("evaluate")
def evaluate(
    run: Path = typer.Option(RUN_DIR, help="the training run's folder"),
    out: Path | None = typer.Option(None, help="report folder (default RUN/report)"),
    catalogue: Path | None = typer.Option(None, help="evaluate on this labelled catalogue instead"),
    fmt: Format = typer.Option("auto", "--format", help="the catalogue's format"),
    image_root: Path | None = typer.Option(None, help="where the catalogue's relative image paths start"),
    synthetic: int = typer.Option(0, min=0, help="evaluate on this many fresh synthetic products instead"),
    data_seed: int = typer.Option(1001, help="seed of those synthetic products"),
    drift: list[str] | None = typer.Option(None, help="drift knob of the synthetic products, KNOB=VALUE"),
    ood: int = typer.Option(800, min=0, help="non-garment images to measure out-of-distribution separation on"),
) -> None:
    """Write report.md and PNG charts: accuracy, macro-F1, balanced accuracy, head versus tail recall, confusion
    matrices, reliability before and after calibration, predicted versus true class distribution, OOD AUROC."""
    from model.nongarment import nongarment_dataset
    from model.report import write_report
    from model.trained import TrainedModel

    trained = TrainedModel.load(run / MODEL_FILE)
    if catalogue is not None or synthetic:
        data = _data(catalogue, fmt, image_root, synthetic, data_seed, drift)
    else:
        data = _load_split(run / VALIDATION_FILE)
    ood_images = nongarment_dataset(ood, seed=data_seed) if ood else None
    path = write_report(trained, data, out or run / "report", ood_images=ood_images)
    console.print(f"[green]wrote[/green] {path}")


@model_app.command("export")
def export(
    version: int = typer.Option(..., min=1, help="the model version to write (a folder name under catalog_tagger/)"),
    run: Path = typer.Option(RUN_DIR, help="the training run's folder"),
    out: Path | None = typer.Option(None, help="model repository (default: the one the local Triton host serves)"),
    overwrite: bool = typer.Option(False, help="replace the version if it exists"),
    max_batch_size: int = typer.Option(64, min=1, help="Triton max_batch_size"),
    instance_kind: Literal["gpu", "cpu"] = typer.Option("gpu", help="instance group kind for production Triton"),
    instance_count: int = typer.Option(1, min=1, help="model instances per device"),
) -> None:
    """Write a Triton model repository: catalog_tagger/config.pbtxt (onnxruntime backend), one label file per
    output, catalog_tagger/VERSION/model.onnx and the reference profile the monitor compares against."""
    from model.export import export_repository
    from model.trained import TrainedModel
    from model.tritonconfig import DEFAULT_REPOSITORY, TritonOptions

    trained = TrainedModel.load(run / MODEL_FILE)
    reference = _load_split(run / VALIDATION_FILE)
    options = TritonOptions(max_batch_size=max_batch_size, instance_kind=instance_kind,
                            instance_count=instance_count,
                            preferred_batch_sizes=tuple(s for s in (16, 32, 64) if s <= max_batch_size))
    target = export_repository(trained, version=version, out=out or DEFAULT_REPOSITORY, reference=reference,
                               options=options, overwrite=overwrite,
                               reference_description=f"validation split of the training run ({len(reference)} "
                                                     f"images; {trained.metadata.get('data', 'data unknown')})")
    size = (target / "model.onnx").stat().st_size
    console.print(f"[green]exported[/green] {target} (model.onnx {size / 1e6:.1f} MB)")


@model_app.command("catalogue")
def catalogue_command(
    path: Path = typer.Argument(..., help="the label file: CSV, JSONL or FashionAI's label CSV"),
    fmt: Format = typer.Option("auto", "--format", help="the file's format"),
    image_root: Path | None = typer.Option(None, help="where relative image paths start"),
    lenient: bool = typer.Option(False, help="list every bad row instead of stopping at the first"),
    decode: bool = typer.Option(False, help="also decode every image the way the tagger does"),
) -> None:
    """Check a labelled catalogue: rows, labels per attribute, missing labels, and every bad row by file, line
    and column."""
    from model.catalogue import load_catalogue

    loaded = load_catalogue(path, format=fmt, strict=not lenient, image_root=image_root)
    for line in loaded.summary().lines():
        console.print(line)
    for error in loaded.errors:
        console.print(f"[red]{error}[/red]")
    if decode:
        data = loaded.to_dataset(progress=True, strict=not lenient)
        console.print(f"decoded {len(data)} images")
    if loaded.errors:
        raise typer.Exit(1)


@model_app.command("drill-candidate")
def drill_candidate_command(
    version: int = typer.Option(..., min=1, help="the version to write (a folder name under catalog_tagger/)"),
    attribute: str | None = typer.Option(None, help="scramble only this attribute's head (default: every head)"),
    source: int | None = typer.Option(None, min=1, help="the version to copy (default: the newest below --version)"),
    out: Path | None = typer.Option(None, help="model repository (default: the one the local Triton host serves)"),
    seed: int = typer.Option(0, help="seed of the class shuffle"),
    overwrite: bool = typer.Option(False, help="replace the version if it exists"),
) -> None:
    """Write a deliberately bad candidate for a game day: a copy of a served version whose classes are shuffled in
    every head (or in one attribute's head). Roll it out and watch the guardrails roll it back."""
    from model.drill import drill_candidate
    from model.tritonconfig import DEFAULT_REPOSITORY

    target = drill_candidate(out or DEFAULT_REPOSITORY, version=version, attribute=attribute, source=source,
                             seed=seed, overwrite=overwrite)
    what = f"the {attribute} head" if attribute else "every head"
    console.print(f"[green]wrote[/green] drill candidate {target} ({what} scrambled); roll it out with "
                  f"`tagstream rollout start --candidate {version}`")


def register(app: typer.Typer) -> None:
    app.add_typer(model_app, name="model")
