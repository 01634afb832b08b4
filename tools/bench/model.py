"""The model bench: plain cross-entropy against the default long-tail recipe, on the same budget.

Both runs see the same synthetic long-tailed training set, the same split, seed, network, epochs and
batch size; only the long-tail config differs. Both are scored on the same held-out synthetic test set
(another seed) and the recipe's out-of-distribution score on non-garment pictures. The figures:

- ``tail_recall_gain_points``: mean over the heads of tail-class recall, recipe minus baseline, in points
  (tail classes as defined in :mod:`model.scores`);
- ``accuracy_loss_points``: mean over the heads of accuracy, baseline minus recipe, in points;
- ``ece``: the recipe's top-label ECE after temperature scaling, mean over the heads (test set);
- ``ood_auroc``: the recipe's AUROC of non-garment against garment test images.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
from rich.table import Table

from model.dataset import LabelledImages
from model.longtail import DEFAULT_RECIPE, LongTailConfig
from model.nongarment import nongarment_dataset
from model.report import Evaluation, evaluate
from model.scores import TAIL_DEFINITION
from model.synthetic import dataset
from model.train import TrainConfig, train

log = logging.getLogger(__name__)

BASELINE = LongTailConfig(strategy="none")
#: Targets of the issue: gain, loss (points), ECE, AUROC.
TARGETS = {"tail_recall_gain_points": 10.0, "accuracy_loss_points": 1.0, "ece": 0.03, "ood_auroc": 0.95}


class BenchConfig(BaseModel):
    """The shared budget of both runs and the data they are measured on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_train: int = Field(16000, ge=100, description="synthetic training images (validation is split off them)")
    n_test: int = Field(8000, ge=100, description="held-out synthetic test images")
    n_ood: int = Field(1000, ge=8, description="non-garment test images")
    data_seed: int = Field(1, description="training data seed; the test set uses data_seed + 1000")
    train: TrainConfig = Field(default_factory=TrainConfig,
                               description="the budget both runs share (its longtail field is replaced)")
    recipe: LongTailConfig = Field(DEFAULT_RECIPE, description="the long-tail recipe measured against plain CE")


def _per_attribute(evaluation: Evaluation) -> dict[str, dict[str, float | list[str]]]:
    return {name: {"accuracy": s.accuracy, "macro_f1": s.macro_f1, "balanced_accuracy": s.balanced_accuracy,
                   "head_recall": s.head_recall, "tail_recall": s.tail_recall,
                   "tail_classes": [c for c, t in zip(s.classes, s.tail, strict=True) if t],
                   "ece_after": evaluation.after[name].ece}
            for name, s in evaluation.scores.items()}


def _run(name: str, longtail: LongTailConfig, config: BenchConfig, data: LabelledImages, test: LabelledImages,
         ood: np.ndarray, progress: bool, console: Console | None) -> tuple[dict[str, Any], Evaluation]:
    if console is not None and progress:
        console.rule(f"{name}: {longtail.strategy}{' + posthoc' if longtail.posthoc else ''}")
    started = time.monotonic()
    budget = config.train.model_copy(update={"longtail": longtail, "checkpoint_dir": None, "resume": False})
    result = train(data, budget, progress=progress, console=console)
    trained_s = time.monotonic() - started
    evaluation = evaluate(result.model, test, ood_images=ood, device=config.train.device)
    return {"longtail": longtail.model_dump(), "summary": evaluation.summary(), "best_epoch": result.best_epoch,
            "epochs_run": len(result.history), "train_seconds": round(trained_s, 1),
            "posthoc_shifts": result.model.metadata.get("posthoc_shifts", {}),
            "per_attribute": _per_attribute(evaluation)}, evaluation


def run_model_bench(config: BenchConfig | None = None, *, progress: bool = True,
                    console: Console | None = None) -> dict[str, Any]:
    """Train the baseline and the recipe on the same budget; the figures as one JSON-able dict."""
    config = config or BenchConfig()
    started = time.monotonic()
    data = dataset(config.n_train, seed=config.data_seed, progress=progress)
    test = dataset(config.n_test, seed=config.data_seed + 1000, progress=progress)
    ood = nongarment_dataset(config.n_ood, seed=config.data_seed + 2000)
    data_s = time.monotonic() - started
    baseline, _ = _run("baseline", BASELINE, config, data, test, ood, progress, console)
    recipe, evaluation = _run("recipe", config.recipe, config, data, test, ood, progress, console)
    b, r = baseline["summary"], recipe["summary"]
    figures = {
        "tail_recall_gain_points": round(100 * (r["tail_recall"] - b["tail_recall"]), 2),
        "accuracy_loss_points": round(100 * (b["accuracy"] - r["accuracy"]), 2),
        "macro_f1_gain_points": round(100 * (r["macro_f1"] - b["macro_f1"]), 2),
        "ece": round(r["ece_after"], 4),
        "ood_auroc": round(evaluation.ood.auroc, 4) if evaluation.ood else float("nan"),
    }
    met = {"tail_recall_gain_points": figures["tail_recall_gain_points"] >= TARGETS["tail_recall_gain_points"],
           "accuracy_loss_points": figures["accuracy_loss_points"] <= TARGETS["accuracy_loss_points"],
           "ece": figures["ece"] <= TARGETS["ece"], "ood_auroc": figures["ood_auroc"] >= TARGETS["ood_auroc"]}
    return {**figures, "targets": TARGETS, "met": met, "tail_definition": TAIL_DEFINITION,
            "budget": {"n_train": config.n_train, "n_test": config.n_test, "n_ood": config.n_ood,
                       "data_seed": config.data_seed,
                       "train": config.train.model_dump(mode="json", exclude={"longtail"})},
            "baseline": baseline, "recipe": recipe,
            "timings": {"data_seconds": round(data_s, 1), "baseline_train_seconds": baseline["train_seconds"],
                        "recipe_train_seconds": recipe["train_seconds"],
                        "total_seconds": round(time.monotonic() - started, 1)}}


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def print_bench(result: dict[str, Any], console: Console) -> None:
    """The per-attribute table (baseline -> recipe) and the headline figures against their targets."""
    table = Table(title="model bench: plain cross-entropy -> long-tail recipe (test set, %)")
    for column in ("attribute", "accuracy", "macro-F1", "tail recall", "tail classes"):
        table.add_column(column, justify="left" if column in ("attribute", "tail classes") else "right")
    base, recipe = result["baseline"]["per_attribute"], result["recipe"]["per_attribute"]
    for name, b in base.items():
        r = recipe[name]
        table.add_row(name, f"{_pct(b['accuracy'])} -> {_pct(r['accuracy'])}",
                      f"{_pct(b['macro_f1'])} -> {_pct(r['macro_f1'])}",
                      f"{_pct(b['tail_recall'])} -> {_pct(r['tail_recall'])}", ", ".join(r["tail_classes"]))
    bs, rs = result["baseline"]["summary"], result["recipe"]["summary"]
    table.add_row("mean", f"{_pct(bs['accuracy'])} -> {_pct(rs['accuracy'])}",
                  f"{_pct(bs['macro_f1'])} -> {_pct(rs['macro_f1'])}",
                  f"{_pct(bs['tail_recall'])} -> {_pct(rs['tail_recall'])}", "", end_section=True)
    console.print(table)
    console.print(f"{result['tail_definition'].capitalize()}.")
    met = result["met"]

    def mark(key: str) -> str:
        return "[green]met[/]" if met[key] else "[red]missed[/]"

    console.print(f"tail-class recall gain: {result['tail_recall_gain_points']:+.2f} points "
                  f"(target >= +{TARGETS['tail_recall_gain_points']:.0f}) {mark('tail_recall_gain_points')}")
    console.print(f"accuracy loss: {result['accuracy_loss_points']:.2f} points "
                  f"(target <= {TARGETS['accuracy_loss_points']:.0f}) {mark('accuracy_loss_points')}")
    console.print(f"ECE after calibration (recipe, mean over heads): {result['ece']:.4f} "
                  f"(target <= {TARGETS['ece']}) {mark('ece')}")
    console.print(f"OOD AUROC (recipe, non-garments against garments): {result['ood_auroc']:.4f} "
                  f"(target >= {TARGETS['ood_auroc']}) {mark('ood_auroc')}")
    t = result["timings"]
    console.print(f"time: data {t['data_seconds']:.0f} s, baseline {t['baseline_train_seconds']:.0f} s, "
                  f"recipe {t['recipe_train_seconds']:.0f} s, total {t['total_seconds']:.0f} s")
