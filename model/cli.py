"""``tagstream model``: train, evaluate and export the catalogue model, and inspect a labelled catalogue.

A training run writes into one folder (``--run``, default ``.tagstream/model``): ``model.pt`` (the calibrated
``TrainedModel``), ``validation.npz`` (the exact validation split, the default reference for evaluate and
export) and the per-epoch checkpoints ``last.pt`` and ``best.pt`` that ``--resume`` continues from.
``thresholds`` recomputes the review thresholds of an exported version (``model.thresholds``).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Literal

import numpy as np
import typer
from rich.console import Console

from contracts import ReviewThresholds
from model.dataset import LabelledImages
from model.thresholds import DEFAULT_TARGETS_FILE, Routing

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
    targets: Path = typer.Option(DEFAULT_TARGETS_FILE, help="review targets YAML (confidence, default, targets)"),
    default_target: float | None = typer.Option(None, "--target", help="target precision of every attribute the "
                                                                       "targets file does not name"),
    confidence: float | None = typer.Option(None, help="probability that an attribute's accepted labels reach "
                                                       "its target"),
) -> None:
    """Write a Triton model repository: catalog_tagger/config.pbtxt (onnxruntime backend), one label file per
    output, catalog_tagger/VERSION/model.onnx, the reference profile the monitor compares against and the review
    thresholds the tagger routes by (chosen on the run's validation split)."""
    from model.export import export_repository
    from model.thresholds import ReviewTargets
    from model.trained import TrainedModel
    from model.tritonconfig import DEFAULT_REPOSITORY, TritonOptions

    review_targets = ReviewTargets.load(targets).overridden(default=default_target, confidence=confidence)
    trained = TrainedModel.load(run / MODEL_FILE)
    reference = _load_split(run / VALIDATION_FILE)
    options = TritonOptions(max_batch_size=max_batch_size, instance_kind=instance_kind,
                            instance_count=instance_count,
                            preferred_batch_sizes=tuple(s for s in (16, 32, 64) if s <= max_batch_size))
    target = export_repository(trained, version=version, out=out or DEFAULT_REPOSITORY, reference=reference,
                               options=options, overwrite=overwrite, review_targets=review_targets,
                               reference_description=f"validation split of the training run ({len(reference)} "
                                                     f"images; {trained.metadata.get('data', 'data unknown')})")
    size = (target / "model.onnx").stat().st_size
    console.print(f"[green]exported[/green] {target} (model.onnx {size / 1e6:.1f} MB)")


@model_app.command("thresholds")
def thresholds_command(
    version: int | None = typer.Option(None, min=1, help="the model version (default: the newest in the repository)"),
    repository: Path | None = typer.Option(None, help="model repository (default: the one the local Triton host "
                                                      "serves)"),
    targets: Path = typer.Option(DEFAULT_TARGETS_FILE, help="review targets YAML (confidence, default, targets)"),
    default_target: float | None = typer.Option(None, "--target", help="target precision of every attribute the "
                                                                       "targets file does not name"),
    confidence: float | None = typer.Option(None, help="probability that an attribute's accepted labels reach "
                                                       "its target"),
    synthetic: int = typer.Option(20000, min=100, help="calibration split: this many fresh synthetic products "
                                                       "(unless --run or --catalogue)"),
    data_seed: int = typer.Option(2001, help="seed of those products (training uses 1, `model evaluate` 1001)"),
    run: Path | None = typer.Option(None, help="calibration split: the validation split of the training run this "
                                               "version was exported from"),
    catalogue: Path | None = typer.Option(None, help="calibration split: a labelled catalogue"),
    fmt: Format = typer.Option("auto", "--format", help="the catalogue's format"),
    image_root: Path | None = typer.Option(None, help="where the catalogue's relative image paths start"),
    held_out: int = typer.Option(0, min=0, help="also route this many other fresh synthetic products by the new "
                                                "thresholds and print what happened to them"),
    held_out_seed: int = typer.Option(3001, help="seed of the held-out products (never the calibration seed)"),
    write: bool = typer.Option(False, "--write", help="store them with the version (VERSION/review_thresholds.json); "
                                                      "without it nothing is written"),
    threads: int = typer.Option(2, min=1, help="onnxruntime threads"),
) -> None:
    """Recompute the review thresholds of an exported version: per attribute, the lowest calibrated confidence at
    which accepted labels reach the target precision with the stated confidence (Learn-then-Test). Prints the
    threshold, the expected precision and the share sent to review; --write stores them with the version."""
    from model.export import onnx_predictor, onnx_session, predict_all
    from model.thresholds import ReviewTargets, judge, review_thresholds, write_thresholds
    from model.tritonconfig import DEFAULT_REPOSITORY, ONNX_FILE

    if run is not None and catalogue is not None:
        raise typer.BadParameter("give --run or --catalogue, not both", param_hint="--run")
    if held_out and run is None and catalogue is None and held_out_seed == data_seed:
        raise typer.BadParameter("the held-out products would be the calibration split; choose another seed",
                                 param_hint="--held-out-seed")
    review_targets = ReviewTargets.load(targets).overridden(default=default_target, confidence=confidence)
    version_dir = _version_dir(repository or DEFAULT_REPOSITORY, version)
    predict = onnx_predictor(onnx_session(version_dir / ONNX_FILE, threads=threads))
    if run is not None:
        calibration = _load_split(run / VALIDATION_FILE)
        _check_reference(calibration, version_dir)
        described = f"validation split of the training run {run} ({len(calibration)} images)"
    else:
        calibration = _data(catalogue, fmt, image_root, synthetic, data_seed)
        described = (f"labelled catalogue {catalogue.name} ({len(calibration)} images)" if catalogue is not None else
                     f"{len(calibration)} fresh synthetic products, data seed {data_seed}")
    console.print(f"calibration split: {described}")
    outputs = predict_all(predict, calibration.images)
    thresholds = review_thresholds(outputs, calibration.labels, review_targets, description=described)
    routed = judge(outputs, calibration.labels, thresholds)
    held = None
    if held_out:
        other = _data(None, fmt, None, held_out, held_out_seed)
        held = judge(predict_all(predict, other.images), other.labels, thresholds)
    _print_thresholds(thresholds, routed, held, version_dir.name)
    if write:
        console.print(f"[green]wrote[/green] {write_thresholds(version_dir, thresholds)}")
    else:
        console.print(f"nothing written; pass --write to store them with version {version_dir.name}")


def _version_dir(repository: Path, version: int | None) -> Path:
    from model.tritonconfig import ONNX_FILE
    from modelspec.tensors import MODEL_NAME

    model_dir = repository / MODEL_NAME
    versions = sorted(int(p.name) for p in model_dir.glob("*") if p.is_dir() and p.name.isdigit())
    if not versions:
        raise typer.BadParameter(f"{model_dir} holds no exported version; run `tagstream model export` first",
                                 param_hint="--repository")
    if version is not None and version not in versions:
        raise typer.BadParameter(f"{model_dir} has no version {version}; it has {', '.join(map(str, versions))}",
                                 param_hint="--version")
    chosen = model_dir / str(version or versions[-1])
    if not (chosen / ONNX_FILE).is_file():
        raise typer.BadParameter(f"{chosen} has no {ONNX_FILE}; export the version again", param_hint="--version")
    return chosen


def _check_reference(split: LabelledImages, version_dir: Path) -> None:
    """Refuse a run whose validation split is not the reference set the version was exported with."""
    from contracts import ReferenceProfile
    from modelspec.repository import PROFILE_FILE
    from modelspec.taxonomy import ATTRIBUTE_NAMES

    if not (version_dir / PROFILE_FILE).is_file():
        raise typer.BadParameter(f"{version_dir} has no {PROFILE_FILE} to check the run against; calibrate on "
                                 "synthetic products or a labelled catalogue instead", param_hint="--run")
    profile = ReferenceProfile.model_validate_json((version_dir / PROFILE_FILE).read_bytes())
    labelled = {name: int((split.labels[:, j] >= 0).sum()) for j, name in enumerate(ATTRIBUTE_NAMES)}
    if profile.reference_size != len(split) or labelled != {n: a.labelled for n, a in profile.attributes.items()}:
        raise typer.BadParameter(f"this run's validation split ({len(split)} images) is not the reference set of "
                                 f"version {version_dir.name} ({profile.reference_size}); calibrate on synthetic "
                                 "products or a labelled catalogue instead", param_hint="--run")


def _print_thresholds(thresholds: ReviewThresholds, routed: Routing, held: Routing | None, version: str) -> None:
    from rich.table import Table

    table = Table(title=f"review thresholds of version {version} at {thresholds.confidence:.0%} confidence")
    for column in ("attribute", "target", "threshold", "expected precision", "review share"):
        table.add_column(column, justify="left" if column == "attribute" else "right")
    if held is not None:
        table.add_column("held-out precision", justify="right")
        table.add_column("held-out review share", justify="right")
    for name, entry in thresholds.attributes.items():
        cells = [name, f"{entry.target_precision:.2f}",
                 f"{entry.threshold:.3f}" if entry.threshold is not None else "none: always review",
                 f"{entry.expected_precision:.3f}" if entry.expected_precision is not None else "-",
                 f"{entry.review_share:.1%}"]
        if held is not None:
            seen = held.attributes[name]
            cells += [f"{seen.precision:.3f} of {seen.accepted}" if seen.accepted else "-", f"{seen.review_share:.1%}"]
        table.add_row(*cells)
    out = Console()
    out.print(table)
    never = [n for n, e in thresholds.attributes.items() if e.threshold is None]
    if never:
        out.print(f"{len(never)} attribute(s) reach their target at no threshold and always go to review: "
                  f"{', '.join(never)}")
    for label, routing in (("calibration split", routed), ("held-out products", held)):
        if routing is not None:
            out.print(f"{label}: {routing.any_review_share:.1%} of {routing.products} products need some review, "
                      f"{routing.attributes_per_product:.2f} attributes each on average "
                      f"({routing.out_of_distribution} out of distribution, reviewed whole)")


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
    copy: bool = typer.Option(False, "--copy", help="write an unchanged copy instead: a candidate that must pass "
                                                    "every guardrail (to rehearse a rollout that goes to full)"),
    failing: bool = typer.Option(False, "--failing", help="write a copy that loads but fails every inference call "
                                                          "(the taggers tag its events by stable meanwhile)"),
) -> None:
    """Write a deliberately bad candidate for a game day: a copy of a served version whose classes are shuffled in
    every head (or in one attribute's head). Roll it out and watch the guardrails roll it back. With --copy, a good
    one: the source version unchanged under the new number; with --failing, one that loads and then fails every
    call."""
    from model.drill import copy_candidate, drill_candidate, failing_candidate
    from model.tritonconfig import DEFAULT_REPOSITORY

    repository = out or DEFAULT_REPOSITORY
    if copy and failing:
        raise typer.BadParameter("choose one of --copy and --failing", param_hint="--failing")
    if (copy or failing) and attribute is not None:
        raise typer.BadParameter("--copy and --failing change no head; leave out --attribute",
                                 param_hint="--copy" if copy else "--failing")
    if copy:
        target = copy_candidate(repository, version=version, source=source, overwrite=overwrite)
        what = "an unchanged copy"
    elif failing:
        target = failing_candidate(repository, version=version, source=source, overwrite=overwrite)
        what = "fails every inference call"
    else:
        target = drill_candidate(repository, version=version, attribute=attribute, source=source, seed=seed,
                                 overwrite=overwrite)
        what = f"the {attribute} head scrambled" if attribute else "every head scrambled"
    console.print(f"[green]wrote[/green] candidate {target} ({what}); roll it out with "
                  f"`tagstream rollout start --candidate {version}`")


def register(app: typer.Typer) -> None:
    app.add_typer(model_app, name="model")
