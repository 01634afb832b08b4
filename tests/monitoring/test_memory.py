"""Memory stays bounded over a long run: resident memory stops growing once the label index is full.

Slow (about a minute): half a million tags and fifty thousand labels through the monitor, with an index of
100,000 tags. Run with ``pytest -m slow tests/monitoring/test_memory.py -s``; ``tagstream bench monitor``
reports the same figure.
"""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts import LabelFeedback, LabelSource
from monitoring.monitor import Monitor, MonitorConfig
from monitoring.policy import load_targets
from tests.monitoring.factories import card, draw_tags

pytestmark = pytest.mark.slow


def rss_mb() -> float:
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def test_resident_memory_is_flat_once_the_index_is_full():
    monitor = Monitor(MonitorConfig(window_events=5000, targets=load_targets(), index_capacity=100_000,
                                    pending_capacity=5000))
    monitor.observe_card(card("1"))
    base = list(draw_tags(2000, seed=61))
    samples = []
    for i in range(500_000):
        tag = base[i % len(base)].model_copy(update={"product_id": f"p{i}", "event_id": f"e{i}"})
        monitor.observe_tag(tag)
        if i % 10 == 0:  # a label for a tag three windows back (joins), or long evicted (waits, then expires)
            back = i - 15_000 if i % 20 == 0 else i - 300_000
            monitor.observe_label(LabelFeedback(product_id=f"p{max(back, 0)}", labels={"fit": "slim"},
                                                source=LabelSource.AUDIT, time=datetime.now(UTC)))
        if i % 50_000 == 49_999:
            monitor.tick()
            samples.append(rss_mb())
    print("\nRSS every 50,000 tags (MB): " + ", ".join(f"{s:.0f}" for s in samples))
    assert monitor.index.size <= 100_000 + 5000
    assert len(monitor.pending) <= 5000
    assert max(samples[4:]) - samples[3] < 25  # index full after 100,000 tags: flat from there
