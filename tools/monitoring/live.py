"""What ``tagstream demo`` shows of the monitor, and the audit labels it sends while it runs.

``monitor_table`` reads the monitor's ``/metrics`` and sums it up per model version: windows judged, drift
share, the monitor's four decisions, the columns that moved most (PSI), the estimated accuracy (mean over the 13
heads, and the heads under their target), the realised accuracy from audit labels with their count, the review
and out-of-distribution shares. ``DemoLabeller`` plays the audit team: a sample of the demo's products gets
its true labels on ``catalog.labels`` some seconds after the event was sent.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from prometheus_client.parser import text_string_to_metric_families
from rich.table import Table

from contracts import LabelSource, Topics
from runtime.kafka import producer
from runtime.settings import KafkaSettings
from tools.monitoring.labeller import Truth, label_of, sampled
from tools.traffic.synthetic import GeneratedRecord

log = logging.getLogger(__name__)

#: PSI from which a column is listed as moving (the monitor's default floor).
MOVING_PSI = 0.1


def scrape(url: str, timeout_s: float = 1.0) -> dict[str, list[tuple[dict[str, str], float]]]:
    """metric name -> [(labels, value)]; empty when the monitor does not answer."""
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=timeout_s) as response:  # noqa: S310 (loopback, ours)
            text = response.read().decode()
    except OSError:
        return {}
    samples: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name].append((sample.labels, sample.value))
    return samples


def _by_version(samples: list[tuple[dict[str, str], float]]) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for labels, value in samples:
        out[labels.get("model_version", "")].append((labels, value))
    return out


def monitor_table(url: str) -> Table:
    m = scrape(url)
    table = Table(title="monitor · drift and quality per model version (tagstream_monitor_*)", expand=True)
    for column in ("version", "windows", "drift share", "decisions", "moving (PSI)", "estimated acc.",
                   "realised acc. (audit)", "review / OOD"):
        table.add_column(column)
    if not m:
        table.add_row("-", "monitor not answering", "", "", "", "", "", "")
        return table
    windows = _by_version(m.get("tagstream_monitor_windows_total", []))
    if not windows:
        table.add_row("-", "no window judged yet", "", "", "", "", "", "")
    share = {v: s[0][1] for v, s in _by_version(m.get("tagstream_monitor_drift_share", [])).items()}
    decisions = _by_version(m.get("tagstream_monitor_drift_detected", []))
    moving = _by_version(m.get("tagstream_monitor_feature_drift_score", [])
                         + m.get("tagstream_monitor_prediction_drift_score", []))
    estimated = _by_version(m.get("tagstream_monitor_quality_estimated", []))
    drops = _by_version(m.get("tagstream_monitor_quality_drop", []))
    realised = _by_version([s for s in m.get("tagstream_monitor_quality_realised", [])
                            if s[0].get("source") == "audit"])
    labels = _by_version([s for s in m.get("tagstream_monitor_quality_realised_labels", [])
                          if s[0].get("source") == "audit"])
    review = {v: s for v, s in _by_version(m.get("tagstream_monitor_review_share", [])).items()}
    ood = {v: s[0][1] for v, s in _by_version(m.get("tagstream_monitor_ood_share", [])).items()}
    trusted = {v: s[0][1] for v, s in _by_version(m.get("tagstream_monitor_quality_estimate_trusted", [])).items()}
    for version in sorted(windows):
        raised = [lab["kind"] for lab, value in decisions.get(version, []) if value == 1]
        top = sorted(((value, lab.get("feature") or lab.get("attribute", "?")) for lab, value in moving.get(version, [])
                      if value >= MOVING_PSI), reverse=True)[:4]
        under = sorted(lab["attribute"] for lab, value in drops.get(version, [])
                       if value == 1 and lab.get("basis") == "estimated")
        mean_est = _mean(estimated.get(version, []))
        est_text = "-" if mean_est is None else f"{mean_est:.1%} mean" + ("" if trusted.get(version, 1) else
                                                                          " (not trusted)")
        if under:
            est_text += f"; under target: {', '.join(under)}"
        mean_real = _mean(realised.get(version, []))
        count = max((value for _, value in labels.get(version, [])), default=0)
        real_text = "no labels yet" if mean_real is None else f"{mean_real:.1%} mean, {count:.0f} labels"
        any_review = next((value for lab, value in review.get(version, []) if lab.get("reason") == "any"), 0.0)
        table.add_row(
            version, f"{windows[version][0][1]:.0f}", f"{share.get(version, 0.0):.0%}",
            "[red]" + ", ".join(raised) + "[/red]" if raised else "[green]none[/green]",
            ", ".join(f"{name} {value:.2f}" for value, name in top) or "-", est_text, real_text,
            f"{any_review:.0%} / {ood.get(version, 0.0):.1%}")
    return table


def _mean(samples: list[tuple[dict[str, str], float]]) -> float | None:
    return sum(v for _, v in samples) / len(samples) if samples else None


class DemoLabeller:
    """Sends the true labels of a ``sample`` of the demo's products, ``delay_s`` after each was sent."""

    def __init__(self, settings: KafkaSettings, *, sample: float = 0.1, delay_s: float = 20.0, seed: int = 0) -> None:
        self.settings, self.sample, self.delay_s, self.seed = settings, sample, delay_s, seed
        self._due: list[tuple[float, int, Truth]] = []
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-labeller", daemon=True)
        self.sent = 0

    def tap(self, records: Iterable[GeneratedRecord]) -> Iterator[GeneratedRecord]:
        """Pass ``records`` through, noting the truth of the sampled ones."""
        for record in records:
            truth = record.truth
            if truth is not None and record.product_id and not truth.out_of_distribution \
                    and sampled(record.product_id, sample=self.sample, seed=self.seed):
                labels: dict[str, str] = {}
                for attribute, value in truth.labels.items():
                    named = truth.novelty.get(attribute) or value
                    if named is not None:
                        labels[attribute] = named
                with self._lock:
                    heapq.heappush(self._due, (time.monotonic() + self.delay_s, next(self._order),
                                               Truth(record.event_id, record.product_id, labels)))
            yield record

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        client = producer(self.settings, client_id="demo-labeller")
        try:
            while not self._stop.wait(0.5):
                now = time.monotonic()
                with self._lock:
                    ready = []
                    while self._due and self._due[0][0] <= now:
                        ready.append(heapq.heappop(self._due)[2])
                for truth in ready:
                    label = label_of(truth, LabelSource.AUDIT, datetime.now(UTC))
                    client.send(Topics.LABELS.name, key=truth.product_id.encode(), value=label.to_bytes())
                    self.sent += 1
                client.flush(timeout=10)
        except Exception:  # the demo goes on without labels
            log.exception("the demo's labeller stopped")
        finally:
            client.close(timeout=5)
