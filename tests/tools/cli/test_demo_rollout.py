"""What `make demo` shows of rollouts and review: the repository it serves, and a copy candidate rolled out to full on
a real stack while traffic flows, as the demo's live view renders it."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from model.export import onnx_predictor, onnx_session
from model.registry import model_card, versions
from modelspec.repository import ONNX_FILE
from modelspec.tensors import INPUT_SHAPE, MODEL_NAME, output_name
from tests.conftest import StackFactory
from tools.cli.demo_rollout import DemoCandidate, DemoRollout, demo_repository, review_line
from tools.traffic.produce import produce
from tools.traffic.synthetic import generate


def _fabric(path: Path) -> np.ndarray:
    images = np.random.default_rng(2).integers(0, 256, size=(32, *INPUT_SHAPE), dtype=np.uint8)
    return onnx_predictor(onnx_session(path))(images)[output_name("fabric")].argmax(axis=1)


@pytest.mark.parametrize(("candidate", "versions_there"), [(DemoCandidate.COPY, [1, 2]),
                                                           (DemoCandidate.DRILL, [1, 2]),
                                                           (DemoCandidate.NONE, [1])])
def test_the_demo_repository_holds_the_committed_model_and_its_candidate(tmp_path: Path, candidate: DemoCandidate,
                                                                          versions_there: list[int]) -> None:
    (tmp_path / "demo-repository" / "stale").mkdir(parents=True)  # a previous demo's folder is replaced
    repository = demo_repository(tmp_path, candidate)
    assert versions(repository) == versions_there and not (repository / "stale").exists()
    if candidate is DemoCandidate.NONE:
        return
    card = model_card(repository, 2)
    same = np.array_equal(_fabric(repository / MODEL_NAME / "1" / ONNX_FILE),
                          _fabric(repository / MODEL_NAME / "2" / ONNX_FILE))
    assert same == (candidate is DemoCandidate.COPY) and card.model.version == "2"


def _render(renderable: object) -> str:
    console = Console(record=True, width=200)
    console.print(renderable)
    return console.export_text()


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_the_demo_rolls_a_copy_candidate_out_to_full_while_traffic_flows(tmp_path: Path,
                                                                         stack_factory: StackFactory) -> None:
    repository = demo_repository(tmp_path, DemoCandidate.COPY)
    stack = stack_factory(taggers=1, controller=True, review=True, model_repository=repository)
    stop = threading.Event()

    def traffic() -> None:
        records = itertools.takewhile(lambda _: not stop.is_set(), generate(1_000_000, seed=3))
        produce(stack.kafka_settings(), records, rate=100.0, progress=False)

    sender = threading.Thread(target=traffic, daemon=True)
    sender.start()
    releaser = DemoRollout(stack.settings, after_s=1.0)
    assert "will be rolled out" in _render(releaser.panel())
    releaser.start()
    try:
        deadline = time.monotonic() + 180
        while "RolloutCompleted" not in (shown := _render(releaser.panel())):
            assert time.monotonic() < deadline, f"the rollout did not complete:\n{shown}"
            assert "rolled_back" not in shown and "did not start" not in shown, shown
            time.sleep(1.0)
    finally:
        releaser.stop()
        stop.set()
        sender.join(timeout=15)
    assert "stable 2" in shown and "version 2 is stable" in shown
    line = _render(review_line(stack.settings, user="reviewer", password="pw")).replace("\n", " ")
    assert "items waiting" in line and "sign in as reviewer" in line
