"""The monitor process's loop on a real broker, in this process; tag streams from the committed model.

``running_monitor`` runs ``services.monitor.main.serve`` on a thread against a private broker (the committed
model's card is registered when the broker starts) and collects every window and label report. Tag streams are
made by running the committed model in-process on rendered synthetic products (``tools.monitoring.tags``) and
published to the broker: the monitor's own logic is what these tests prove, on real Kafka records.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from contracts import LabelFeedback, ModelRef, TagPrediction, Topics
from model.tritonconfig import DEFAULT_REPOSITORY
from monitoring.evaluate import WindowReport
from monitoring.realised import LabelReport
from services.monitor.loop import MonitorLoop
from services.monitor.main import serve
from services.monitor.settings import MonitorSettings
from tools.monitoring.tags import Predictor, Rendered, onnx_model, render, tag
from tools.stack import LocalStack

#: Tags per window in these tests (the monitor's default is 5,000).
WINDOW = 300
#: Tags are made this long before their labels.
TAG_AGE = timedelta(hours=3)
V1 = ModelRef(name="catalog_tagger", version="1")


@dataclass
class Runner:
    windows: list[WindowReport] = field(default_factory=list)
    labels: list[LabelReport] = field(default_factory=list)
    decisions: list[tuple[str, int, dict[str, bool]]] = field(default_factory=list)  # (version, window, decisions)
    loops: list[MonitorLoop] = field(default_factory=list)

    @property
    def loop(self) -> MonitorLoop:
        return self.loops[0]

    def until(self, done: Callable[[Runner], bool], timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not done(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s} s: {len(self.windows)} windows, "
                                     f"{len(self.labels)} label reports")
            time.sleep(0.05)

    def windows_of(self, version: str) -> list[WindowReport]:
        return [w for w in self.windows if w.model.version == version]


@contextlib.contextmanager
def running_monitor(stack: LocalStack, **overrides: Any) -> Iterator[Runner]:
    settings = MonitorSettings(**{
        "kafka_bootstrap": stack.settings.bootstrap, "monitor_group_id": f"monitor-{uuid.uuid4().hex[:8]}",
        "monitor_window_events": WINDOW, "monitor_window_seconds": 3600.0, "monitor_snapshots": False,
        "monitor_session_timeout_ms": 3000, "monitor_heartbeat_interval_ms": 1000, "monitor_label_report_every": 1,
        "monitor_label_report_seconds": 1.0, "monitor_commit_interval_ms": 1000, **overrides})
    runner = Runner()
    stop = threading.Event()

    def on_window(report: WindowReport) -> None:
        runner.windows.append(report)
        runner.decisions.append((report.model.version, report.index, runner.loop.monitor.decisions(report.model)))

    thread = threading.Thread(target=serve, args=(settings, stop), daemon=True,
                              kwargs={"on_window": on_window, "on_labels": runner.labels.append, "loops": runner.loops})
    thread.start()
    try:
        runner.until(lambda r: bool(r.loops) and r.loop.readiness()[0], timeout_s=60)
        yield runner
    finally:
        stop.set()
        thread.join(timeout=30)


def publish(stack: LocalStack, records: list[TagPrediction] | list[LabelFeedback], topic: str = Topics.TAGS.name,
            ) -> None:
    producer = KafkaProducer(**stack.kafka_settings().kafka_client_kwargs(), acks="all", linger_ms=5)
    try:
        for record in records:
            producer.send(topic, key=record.product_id.encode(), value=record.to_bytes())
        producer.flush(timeout=60)
    finally:
        producer.close(timeout=5)


@pytest.fixture
def broker(stack_factory: Callable[..., LocalStack]) -> LocalStack:
    """A private broker of its own, topics created, the committed model's card registered."""
    return stack_factory(["broker"], partitions=2)


@pytest.fixture(scope="session")
def committed_model() -> Predictor:
    return onnx_model(DEFAULT_REPOSITORY, 1)


@pytest.fixture(scope="session")
def stationary(committed_model: Predictor) -> tuple[Rendered, list[TagPrediction]]:
    """Twenty windows of undrifted products, tagged by the committed model three hours ago."""
    rendered = render(20 * WINDOW, seed=101)
    return rendered, tag(rendered, committed_model, version="1", start_time=datetime.now(UTC) - TAG_AGE)


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("monitor-artifacts")
