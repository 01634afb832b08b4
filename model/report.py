"""Evaluating a trained model on labelled images, and the Markdown-and-PNG report of it.

``evaluate`` runs the network once over the images and gathers everything the report shows: the scores
of :mod:`model.scores` (head and tail classes from the model's training priors), ECE before and
after temperature scaling with reliability-diagram data, and, given non-garment images, how well the
out-of-distribution score tells them from the garments. ``write_report`` writes ``report.md`` and its
charts into a folder. Charts use matplotlib's object API with the Agg canvas (no display, no pyplot state).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from model.calibration import Reliability, reliability, softmax
from model.dataset import LabelledImages
from model.errors import ModelArgumentError
from model.ood import auroc, distances
from model.scores import TAIL_DEFINITION, AttributeScores, mean_of, score_all
from model.train import network_outputs
from model.trained import TrainedModel
from modelspec.taxonomy import ATTRIBUTES

log = logging.getLogger(__name__)

REPORT = "report.md"
_COLUMNS = 4


@dataclass(frozen=True)
class OodEvaluation:
    threshold: float  # Mahalanobis distance; the served score is distance / threshold
    auroc: float
    flagged_garments: float  # share of the evaluated garments above the threshold
    flagged_nongarments: float
    garment_scores: np.ndarray  # distance / threshold
    nongarment_scores: np.ndarray


@dataclass(frozen=True)
class Evaluation:
    scores: dict[str, AttributeScores]
    temperatures: dict[str, float]
    before: dict[str, Reliability]  # temperature 1
    after: dict[str, Reliability]  # the fitted temperature
    ood: OodEvaluation | None
    n: int

    def summary(self) -> dict[str, float]:
        """Means over the heads, as fractions (ECE and AUROC as they are)."""
        out = {field: mean_of(self.scores, field)
               for field in ("accuracy", "macro_f1", "balanced_accuracy", "head_recall", "tail_recall")}
        out["ece_before"] = _mean(r.ece for r in self.before.values())
        out["ece_after"] = _mean(r.ece for r in self.after.values())
        if self.ood is not None:
            out["ood_auroc"] = self.ood.auroc
        return out


def _mean(values: Any) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return float(np.mean(kept)) if kept else float("nan")


def evaluate(trained: TrainedModel, data: LabelledImages, *, ood_images: np.ndarray | None = None,
             batch_size: int = 512, device: str = "cpu") -> Evaluation:
    """Scores, calibration and (with ``ood_images``) out-of-distribution separation on ``data``."""
    missing = [a.name for a in ATTRIBUTES if a.name not in trained.train_priors]
    if missing:
        raise ModelArgumentError(f"the model has no train_priors for {missing}; it was not made by model.train")
    network = trained.network.to(device)
    outputs = network_outputs(network, data.images, batch_size=batch_size, device=device)
    priors = {name: np.asarray(p) for name, p in trained.train_priors.items()}
    scores = score_all({k: v.argmax(axis=1) for k, v in outputs.logits.items()}, data.labels, priors)
    before, after = {}, {}
    for j, attribute in enumerate(ATTRIBUTES):
        logits, labels = outputs.logits[attribute.name], data.labels[:, j]
        before[attribute.name] = reliability(softmax(logits), labels)
        after[attribute.name] = reliability(softmax(logits, trained.temperatures[attribute.name]), labels)
    ood = None
    if ood_images is not None and trained.ood is not None and len(ood_images) and len(data):
        threshold = trained.ood.threshold
        inside = distances(trained.ood, outputs.embeddings) / threshold
        outside = distances(trained.ood, network_outputs(network, ood_images, batch_size=batch_size,
                                                         device=device).embeddings) / threshold
        ood = OodEvaluation(threshold, auroc(inside, outside), float(np.mean(inside > 1.0)),
                            float(np.mean(outside > 1.0)), inside, outside)
    network.to("cpu")
    return Evaluation(scores, dict(trained.temperatures), before, after, ood, len(data))


def _grid(count: int, size: float = 3.2) -> tuple[Figure, list[Any]]:
    rows = math.ceil(count / _COLUMNS)
    figure = Figure(figsize=(_COLUMNS * size, rows * size * 1.05))
    axes = figure.subplots(rows, _COLUMNS, squeeze=False).ravel().tolist()
    figure.subplots_adjust(left=0.08, right=0.98, bottom=0.06, top=0.93, wspace=0.45, hspace=0.75)
    for extra in axes[count:]:
        extra.set_visible(False)
    return figure, axes[:count]


def _confusion_chart(evaluation: Evaluation, path: Path) -> None:
    figure, axes = _grid(len(evaluation.scores))
    for ax, s in zip(axes, evaluation.scores.values(), strict=True):
        rows = s.confusion.sum(axis=1, keepdims=True)
        ax.imshow(s.confusion / np.maximum(rows, 1), vmin=0.0, vmax=1.0, cmap="Blues")
        ticks = range(len(s.classes))
        ax.set_xticks(ticks, s.classes, rotation=90, fontsize=5)
        ax.set_yticks(ticks, s.classes, fontsize=5)
        ax.set_title(f"{s.name} (rows: true)", fontsize=8)
    figure.suptitle("Confusion matrices, row-normalised")
    figure.savefig(path, dpi=110)


def _recall_chart(evaluation: Evaluation, path: Path) -> None:
    figure, axes = _grid(len(evaluation.scores))
    for ax, s in zip(axes, evaluation.scores.values(), strict=True):
        x = np.arange(len(s.classes))
        ax.bar(x, np.nan_to_num(s.recall), color=["tab:orange" if t else "tab:blue" for t in s.tail])
        ax.set_xticks(x, s.classes, rotation=90, fontsize=5)
        ax.set_ylim(0, 1)
        ax.set_title(f"{s.name}: head {s.head_recall:.2f}, tail {s.tail_recall:.2f}", fontsize=8)
    figure.suptitle("Recall per class (blue: head classes, orange: tail classes)")
    figure.savefig(path, dpi=110)


def _reliability_chart(evaluation: Evaluation, path: Path) -> None:
    figure, axes = _grid(len(evaluation.scores))
    for ax, name in zip(axes, evaluation.scores, strict=True):
        ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8)
        for label, diagram, style in (("before", evaluation.before[name], "o--"),
                                      ("after", evaluation.after[name], "s-")):
            filled = diagram.count > 0
            ax.plot(diagram.confidence[filled], diagram.accuracy[filled], style, markersize=3,
                    label=f"{label}: ECE {diagram.ece:.3f}")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(f"{name} (T = {evaluation.temperatures[name]:.2f})", fontsize=8)
        ax.legend(fontsize=6, loc="upper left")
    figure.suptitle("Reliability: accuracy against confidence, before and after temperature scaling")
    figure.savefig(path, dpi=110)


def _distribution_chart(evaluation: Evaluation, path: Path) -> None:
    figure, axes = _grid(len(evaluation.scores))
    for ax, s in zip(axes, evaluation.scores.values(), strict=True):
        x = np.arange(len(s.classes))
        ax.bar(x - 0.2, s.true_distribution, width=0.4, label="true")
        ax.bar(x + 0.2, s.predicted_distribution, width=0.4, label="predicted")
        ax.set_xticks(x, s.classes, rotation=90, fontsize=5)
        ax.set_yscale("log")
        ax.set_title(s.name, fontsize=8)
        ax.legend(fontsize=6)
    figure.suptitle("Class distribution: true against predicted (log scale)")
    figure.savefig(path, dpi=110)


def _ood_chart(ood: OodEvaluation, path: Path) -> None:
    figure = Figure(figsize=(6, 3.5), layout="tight")
    ax = figure.subplots()
    top = float(np.quantile(np.concatenate([ood.garment_scores, ood.nongarment_scores]), 0.99))
    bins = np.linspace(0.0, max(top, 1.5), 60).tolist()
    ax.hist(np.clip(ood.garment_scores, 0, bins[-1]), bins=bins, alpha=0.6, label="garments", density=True)
    ax.hist(np.clip(ood.nongarment_scores, 0, bins[-1]), bins=bins, alpha=0.6, label="non-garments", density=True)
    ax.axvline(1.0, color="black", linestyle="--", label="threshold")
    ax.set_xlabel("ood_score (distance / threshold)")
    ax.set_title(f"Out-of-distribution score, AUROC {ood.auroc:.3f}")
    ax.legend()
    figure.savefig(path, dpi=110)


def _pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.1f}"


def _markdown(trained: TrainedModel, evaluation: Evaluation, title: str, charts: Mapping[str, str]) -> str:
    meta, summary = trained.metadata, evaluation.summary()
    lines = [f"# {title}", "",
             f"{evaluation.n} labelled images; strategy `{meta.get('strategy', '?')}`, "
             f"best epoch {meta.get('best_epoch', '?')} of {meta.get('epochs_run', '?')}, "
             f"{meta.get('n_train', '?')} training images. Scores in percent, means over the 13 heads.", "",
             f"*{TAIL_DEFINITION.capitalize()}.* Head and tail recall are the mean recall of those classes.", "",
             "| accuracy | macro-F1 | balanced accuracy | head recall | tail recall | ECE before | ECE after |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
             f"| {_pct(summary['accuracy'])} | {_pct(summary['macro_f1'])} | {_pct(summary['balanced_accuracy'])} "
             f"| {_pct(summary['head_recall'])} | {_pct(summary['tail_recall'])} | {summary['ece_before']:.4f} "
             f"| {summary['ece_after']:.4f} |", "",
             "## Per attribute", "",
             "| attribute | n | accuracy | macro-F1 | balanced acc. | head recall | tail recall (classes) "
             "| T | ECE before | ECE after |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, s in evaluation.scores.items():
        lines.append(f"| {name} | {s.support} | {_pct(s.accuracy)} | {_pct(s.macro_f1)} | "
                     f"{_pct(s.balanced_accuracy)} | {_pct(s.head_recall)} | {_pct(s.tail_recall)} "
                     f"({int(s.tail.sum())}) | {evaluation.temperatures[name]:.2f} | "
                     f"{evaluation.before[name].ece:.4f} | {evaluation.after[name].ece:.4f} |")
    lines += ["", "## Predicted against true class distribution", "",
              "Long-tail strategies change the priors a model predicts with: resampling or re-weighting makes it "
              "predict tail classes more often than they occur. Total variation is half the L1 distance between "
              "the two distributions.", "",
              "| attribute | tail share, true | tail share, predicted | total variation |",
              "| --- | ---: | ---: | ---: |"]
    for name, s in evaluation.scores.items():
        tv = 0.5 * float(np.abs(s.true_distribution - s.predicted_distribution).sum())
        lines.append(f"| {name} | {_pct(float(s.true_distribution[s.tail].sum()))} | "
                     f"{_pct(float(s.predicted_distribution[s.tail].sum()))} | {_pct(tv)} |")
    if evaluation.ood is not None:
        ood = evaluation.ood
        lines += ["", "## Out of distribution", "",
                  f"Mahalanobis distance of the backbone embedding to the training set; threshold {ood.threshold:.2f} "
                  f"(the {meta.get('ood_quantile', '?')} quantile of validation garments). AUROC garments against "
                  f"non-garments: **{ood.auroc:.4f}**; flagged: {_pct(ood.flagged_garments)}% of garments, "
                  f"{_pct(ood.flagged_nongarments)}% of non-garments."]
    lines += ["", "## Charts", ""] + [f"![{caption}]({file})" for file, caption in charts.items()]
    return "\n".join(lines) + "\n"


def write_report(trained: TrainedModel, data: LabelledImages, out_dir: Path, *, ood_images: np.ndarray | None = None,
                 evaluation: Evaluation | None = None, title: str = "Model evaluation") -> Path:
    """Write ``report.md`` and its PNG charts into ``out_dir``; returns the path of ``report.md``."""
    evaluation = evaluation or evaluate(trained, data, ood_images=ood_images)
    out_dir.mkdir(parents=True, exist_ok=True)
    charts = {"confusion.png": "confusion matrices", "recall.png": "recall per class",
              "reliability.png": "reliability diagrams", "distribution.png": "predicted against true distribution"}
    _confusion_chart(evaluation, out_dir / "confusion.png")
    _recall_chart(evaluation, out_dir / "recall.png")
    _reliability_chart(evaluation, out_dir / "reliability.png")
    _distribution_chart(evaluation, out_dir / "distribution.png")
    if evaluation.ood is not None:
        _ood_chart(evaluation.ood, out_dir / "ood.png")
        charts["ood.png"] = "out-of-distribution score"
    path = out_dir / REPORT
    path.write_text(_markdown(trained, evaluation, title, charts))
    log.info("wrote %s", path)
    return path
