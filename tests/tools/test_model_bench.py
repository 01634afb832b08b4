"""The model bench runs both arms on one budget and reports every figure the issue asks for, as JSON."""

from __future__ import annotations

import json

from rich.console import Console

from model.network import NetworkConfig
from model.train import TrainConfig
from tools.bench.model import BenchConfig, print_bench, run_model_bench

TINY = BenchConfig(n_train=240, n_test=120, n_ood=16,
                   train=TrainConfig(epochs=1, batch_size=32, network=NetworkConfig(width=4, depth=2, hidden=8)))


def test_a_tiny_bench_reports_both_arms_and_the_four_headline_figures() -> None:
    result = run_model_bench(TINY, progress=False)
    decoded = json.loads(json.dumps(result))
    for key in ("tail_recall_gain_points", "accuracy_loss_points", "ece", "ood_auroc"):
        assert isinstance(decoded[key], float | int), key
    assert 0.0 <= decoded["ood_auroc"] <= 1.0 and decoded["ece"] >= 0.0
    baseline, recipe = decoded["baseline"], decoded["recipe"]
    assert baseline["longtail"]["strategy"] == "none" and recipe["longtail"] == TINY.recipe.model_dump()
    gain = 100 * (recipe["summary"]["tail_recall"] - baseline["summary"]["tail_recall"])
    assert abs(decoded["tail_recall_gain_points"] - gain) < 0.01
    console = Console(record=True, width=160)
    print_bench(result, console)
    assert "tail" in console.export_text()
