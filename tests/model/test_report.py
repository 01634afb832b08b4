"""The evaluation report: every score, the ECE before and after, the charts, and the OOD section."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model.network import NetworkConfig
from model.nongarment import nongarment_dataset
from model.report import REPORT, evaluate, write_report
from model.synthetic import dataset
from model.train import TrainConfig, train
from model.trained import TrainedModel
from modelspec.taxonomy import ATTRIBUTE_NAMES


@pytest.fixture(scope="module")
def trained() -> TrainedModel:
    config = TrainConfig(epochs=1, batch_size=16, network=NetworkConfig(width=4, depth=2, hidden=8), threads=1)
    return train(dataset(80, seed=21), config, progress=False).model


def test_report_has_every_attribute_the_scores_and_the_charts(trained: TrainedModel, tmp_path: Path) -> None:
    path = write_report(trained, dataset(40, seed=22), tmp_path / "out", ood_images=nongarment_dataset(16, seed=1))
    assert path == tmp_path / "out" / REPORT
    text = path.read_text()
    for name in ATTRIBUTE_NAMES:
        assert f"| {name} |" in text
    for needle in ("macro-F1", "balanced acc", "tail recall", "ECE before", "ECE after", "AUROC",
                   "Predicted against true class distribution", "tail classes"):
        assert needle in text, needle
    for chart in ("confusion.png", "recall.png", "reliability.png", "distribution.png", "ood.png"):
        assert (tmp_path / "out" / chart).stat().st_size > 1000, chart
        assert f"]({chart})" in text


def test_report_without_ood_images_has_no_ood_section(trained: TrainedModel, tmp_path: Path) -> None:
    text = write_report(trained, dataset(24, seed=23), tmp_path).read_text()
    assert "Out of distribution" not in text and not (tmp_path / "ood.png").exists()


def test_evaluation_scores_match_the_predictions(trained: TrainedModel) -> None:
    data = dataset(30, seed=24)
    evaluation = evaluate(trained, data)
    summary = evaluation.summary()
    assert evaluation.n == 30 and set(evaluation.scores) == set(ATTRIBUTE_NAMES)
    assert 0.0 <= summary["accuracy"] <= 1.0 and "ood_auroc" not in summary
    for name, scores in evaluation.scores.items():
        assert scores.confusion.sum() == 30
        assert np.isclose(scores.predicted_distribution.sum(), 1.0)
        assert evaluation.before[name].count.sum() == 30
