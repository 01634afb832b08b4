"""``tagstream bench monitor``: how fast the monitor judges, how much it keeps up with, how much memory it holds,
and how its decisions fare on synthetic streams with known drift.

1. **One window**: ``window`` tags made by the committed model in-process (``tools.monitoring.tags``) are parsed
   from their Kafka bytes, added to a window and judged (``window_seconds``: the decision path, what the metrics
   and alerts wait for); the Evidently snapshot of the same window is timed apart (``snapshot_seconds``), since
   the monitor writes it on another thread.
2. **Sustained rate**: ``windows`` windows of tags on a private Tansu broker, drained by the monitor's own loop
   with snapshots on; ``tags_per_second`` from the first record to the last window judged. ``headroom`` is that
   rate over the tagger's end-to-end rate (``tagger_rate``).
3. **Memory over a long run**: ``memory_tags`` tags and a tenth as many labels through ``Monitor`` with the default
   bounds but a ``memory_capacity`` index; the process's resident memory at the start, the peak and the end.
4. **Scenarios** (window of ``scenario_window``): false alarms on ``stationary_windows`` stationary windows;
   detection delay of the three drift scenarios of the tests; error of the estimated quality against the
   accuracy on the products' own truths, per attribute.
"""

from __future__ import annotations

import resource
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from kafka import KafkaProducer
from rich.console import Console
from rich.table import Table

from contracts import LabelFeedback, LabelSource, TagPrediction, Topics
from model.drift import parse_drift
from model.registry import model_card
from model.tritonconfig import DEFAULT_REPOSITORY
from modelspec.taxonomy import ATTRIBUTE_NAMES
from monitoring.evaluate import evaluate_window
from monitoring.monitor import Monitor, MonitorConfig
from monitoring.policy import load_targets
from monitoring.window import WindowBuffer
from tools.monitoring.tags import Rendered, onnx_model, render, tag

#: The tagger's end-to-end rate with the trained model on the CI machine (`tagstream bench pipeline`, README).
TAGGER_RATE = 834.0
SCENARIOS = {
    "colour prior shift": ["colour_shift=red:6,pink:6,green:6,yellow:6"],
    "brightness shift": ["brightness=0.7"],
    "new pattern class": ["new_pattern=houndstooth", "new_pattern_share=0.3"],
}


@dataclass
class MonitorFigures:
    window: int
    window_seconds: float
    snapshot_seconds: float
    tags_per_second: float
    tagger_rate: float
    headroom: float
    snapshots_written: int
    snapshots_skipped: int
    memory: dict[str, float] = field(default_factory=dict)
    false_alarms: dict[str, int] = field(default_factory=dict)
    detection: dict[str, dict[str, Any]] = field(default_factory=dict)
    estimate_error: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _copies(tags: list[TagPrediction], copies: int) -> list[TagPrediction]:
    """``copies`` of ``tags`` with fresh product and event ids (distinct join keys)."""
    return [t.model_copy(update={"product_id": f"{t.product_id}-{c}", "event_id": f"{t.event_id}-{c}"})
            for c in range(copies) for t in tags]


def time_one_window(tags: list[TagPrediction], config: MonitorConfig, card_profile: Any) -> tuple[float, float]:
    from monitoring.reference import reference_of
    from monitoring.snapshots import window_snapshot

    raw = [t.to_bytes() for t in tags]
    reference = reference_of(card_profile)
    started = time.perf_counter()
    buffer = WindowBuffer(tags[0].model, len(raw), 1, time.time(), time.monotonic())
    for value in raw:
        buffer.add(TagPrediction.model_validate_json(value))
    report = evaluate_window(buffer.close(time.time(), "count"), reference, config.policy, config.targets)
    decided = time.perf_counter() - started
    window_snapshot(report, card_profile, config.policy)  # warm-up: Evidently's first report imports and caches
    started = time.perf_counter()
    window_snapshot(report, card_profile, config.policy)
    return decided, time.perf_counter() - started


def sustained_rate(tags: list[TagPrediction], windows: int, window: int) -> tuple[float, int, int]:
    from services.monitor.main import serve
    from services.monitor.settings import MonitorSettings
    from tools.stack import LocalStack
    from tools.stack.ports import private_settings

    records = _copies(tags[:window], windows)
    with tempfile.TemporaryDirectory(prefix="tagstream-bench-monitor-") as folder, \
            LocalStack(private_settings(Path(folder), partitions=4)) as stack:
        stack.start(["broker"])
        producer = KafkaProducer(**stack.kafka_settings().kafka_client_kwargs(), acks="all", linger_ms=20)
        for record in records:
            producer.send(Topics.TAGS.name, key=record.product_id.encode(), value=record.to_bytes())
        producer.flush(timeout=120)
        producer.close()
        settings = MonitorSettings(kafka_bootstrap=stack.settings.bootstrap, monitor_window_events=window,
                                   monitor_window_seconds=3600.0, monitor_workspace=Path(folder) / "evidently",
                                   monitor_group_id=f"bench-{uuid.uuid4().hex[:6]}", monitor_session_timeout_ms=6000,
                                   monitor_heartbeat_interval_ms=2000)
        judged: list[float] = []
        first: list[float] = []
        stop = threading.Event()
        loops: list[Any] = []

        def on_window(_report: Any) -> None:
            judged.append(time.monotonic())
            if len(judged) == windows:
                stop.set()

        thread = threading.Thread(target=serve, args=(settings, stop), kwargs={"on_window": on_window, "loops": loops})
        started = time.monotonic()
        thread.start()
        while not loops or (not loops[0].monitor.windows.open_sizes() and not judged):
            if time.monotonic() - started > 120:
                raise TimeoutError("the monitor read nothing in 120 s")
            time.sleep(0.005)
        first.append(time.monotonic())
        thread.join(timeout=600)
        writer = loops[0].snapshots
        written, skipped = (writer.written, writer.skipped) if writer else (0, 0)
    elapsed = judged[-1] - first[0]
    return len(records) / elapsed, written, skipped


def memory_run(tags: list[TagPrediction], total: int, capacity: int, config: MonitorConfig) -> dict[str, float]:
    monitor = Monitor(MonitorConfig(window_events=config.window_events, window_seconds=3600.0, policy=config.policy,
                                    targets=config.targets, index_capacity=capacity))
    card = model_card(DEFAULT_REPOSITORY, 1)
    monitor.observe_card(card)
    start = _rss_mb()
    peak = start
    made = 0
    while made < total:
        for t in tags:
            copy = t.model_copy(update={"product_id": f"m{made}", "event_id": f"e{made}"})
            monitor.observe_tag(copy)
            if made % 10 == 0:  # a label for a tag a few windows back, or long gone
                back = max(0, made - 3 * config.window_events)
                monitor.observe_label(LabelFeedback(product_id=f"m{back}", event_id=f"e{back}", labels={
                    "main_colour": "black"}, source=LabelSource.AUDIT, time=datetime.now(UTC)))
            made += 1
            if made % 20_000 == 0:
                monitor.tick()
                peak = max(peak, _rss_mb())
            if made >= total:
                break
    monitor.tick()
    return {"tags": float(total), "index_capacity": float(capacity), "index_tags": float(monitor.index.size),
            "index_mb": monitor.index.nbytes / 2**20, "pending_labels": float(len(monitor.pending)),
            "rss_start_mb": start, "rss_peak_mb": max(peak, _rss_mb()), "rss_end_mb": _rss_mb()}


def scenarios(window: int, stationary_windows: int, predictor: Any, config: MonitorConfig,
              figures: MonitorFigures, progress: Console | None) -> None:
    card = model_card(DEFAULT_REPOSITORY, 1)
    run_config = MonitorConfig(window_events=window, window_seconds=3600.0, policy=config.policy,
                               targets=config.targets)

    def say(text: str) -> None:
        if progress is not None:
            progress.print(text)

    say(f"rendering {stationary_windows} stationary windows of {window}")
    stationary = render(stationary_windows * window, seed=901)
    stationary_tags = tag(stationary, predictor, version="1")
    monitor = Monitor(run_config)
    monitor.observe_card(card)
    alarms = {"windows": 0, "window_decisions_raised": 0, "columns_drifted": 0}
    for t in stationary_tags:
        for report in monitor.observe_tag(t):
            alarms["windows"] += 1
            alarms["window_decisions_raised"] += sum(monitor.decisions(report.model).values())
            alarms["columns_drifted"] += len(report.drifted_columns())
    figures.false_alarms = alarms
    figures.estimate_error = _estimate_error(stationary, stationary_tags, window)
    start = 2 * window + window // 2
    for i, (name, knobs) in enumerate(SCENARIOS.items()):
        say(f"scenario {name}")
        drifted = render(window + window // 2, seed=950 + i, drift=parse_drift(knobs))
        monitor = Monitor(run_config)
        monitor.observe_card(card)
        found: dict[str, Any] = {"detected": False}
        for t in [*stationary_tags[:start], *tag(drifted, predictor, version="1")]:
            for report in monitor.observe_tag(t):
                if report.index >= 3 and report.drifted_columns() and not found["detected"]:
                    found = {"detected": True, "windows_after_start": report.index - 2,
                             "events_after_start": report.index * window - start,
                             "columns": report.drifted_columns()}
        figures.detection[name] = found


def _estimate_error(rendered: Rendered, tags: list[TagPrediction], window: int) -> dict[str, float]:
    """Mean absolute error, over windows, of the estimated accuracy against the accuracy on the truths."""
    errors: dict[str, list[float]] = {a: [] for a in ATTRIBUTE_NAMES}
    for start in range(0, len(tags) - window + 1, window):
        chunk = list(zip(tags[start:start + window], rendered.truths[start:start + window], strict=True))
        for attribute in ATTRIBUTE_NAMES:
            known = [(t, tr.labels[attribute]) for t, tr in chunk if tr.labels.get(attribute) is not None]
            if not known:
                continue
            estimated = float(np.mean([t.attributes[attribute].confidence for t, _ in chunk]))
            realised = float(np.mean([t.attributes[attribute].label == truth for t, truth in known]))
            errors[attribute].append(abs(estimated - realised))
    return {a: float(np.mean(e)) for a, e in errors.items() if e}


def run(*, window: int = 5000, windows: int = 6, tagger_rate: float | None = None, progress: bool = True,
        memory_tags: int = 400_000, memory_capacity: int = 200_000, scenario_window: int = 1000,
        stationary_windows: int = 20) -> MonitorFigures:
    console = Console(stderr=True) if progress else None
    predictor = onnx_model(DEFAULT_REPOSITORY, 1)
    config = MonitorConfig(window_events=window, targets=load_targets())
    if console:
        console.print(f"rendering one window of {window} products and tagging them with the committed model")
    rendered = render(window, seed=777)
    tags = tag(rendered, predictor, version="1")
    card = model_card(DEFAULT_REPOSITORY, 1)
    window_s, snapshot_s = time_one_window(tags, config, card.profile)
    if console:
        console.print(f"one window: {window_s:.2f} s to judge, {snapshot_s:.2f} s for its snapshot; streaming "
                      f"{windows} windows through a broker")
    rate, written, skipped = sustained_rate(tags, windows, window)
    reference = tagger_rate or TAGGER_RATE
    figures = MonitorFigures(window=window, window_seconds=window_s, snapshot_seconds=snapshot_s,
                             tags_per_second=rate, tagger_rate=reference, headroom=rate / reference,
                             snapshots_written=written, snapshots_skipped=skipped)
    if console:
        console.print(f"memory: {memory_tags:,} tags through the monitor, index capacity {memory_capacity:,}")
    figures.memory = memory_run(tags, memory_tags, memory_capacity, config)
    scenarios(scenario_window, stationary_windows, predictor, config, figures, console)
    return figures


def print_figures(figures: MonitorFigures, console: Console) -> None:
    table = Table(title=f"tagstream bench monitor (windows of {figures.window:,} tags)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("judge one window (parse, window, decisions)", f"{figures.window_seconds:.2f} s")
    table.add_row("its Evidently snapshot (another thread)", f"{figures.snapshot_seconds:.2f} s")
    table.add_row("sustained through the broker, snapshots on", f"{figures.tags_per_second:,.0f} tags/s")
    table.add_row("snapshots written / skipped", f"{figures.snapshots_written} / {figures.snapshots_skipped}")
    table.add_row("tagger end to end", f"{figures.tagger_rate:,.0f} tags/s")
    table.add_row("headroom (target >= 2)", f"{figures.headroom:.2f}")
    memory = figures.memory
    table.add_row(f"memory over {memory.get('tags', 0):,.0f} tags (RSS start / peak / end)",
                  f"{memory.get('rss_start_mb', 0):.0f} / {memory.get('rss_peak_mb', 0):.0f} / "
                  f"{memory.get('rss_end_mb', 0):.0f} MB")
    table.add_row("label index (tags held, arrays)", f"{memory.get('index_tags', 0):,.0f}, "
                                                     f"{memory.get('index_mb', 0):.1f} MB")
    table.add_row("stationary windows / decisions raised", f"{figures.false_alarms.get('windows', 0)} / "
                                                           f"{figures.false_alarms.get('window_decisions_raised', 0)}")
    for name, found in figures.detection.items():
        text = (f"{found['windows_after_start']} window(s), {found['events_after_start']} tags: "
                f"{', '.join(found['columns'])}" if found.get("detected") else "not detected")
        table.add_row(f"detection: {name}", text)
    for attribute, error in figures.estimate_error.items():
        table.add_row(f"|estimated - realised|: {attribute}", f"{error:.3f}")
    console.print(table)

