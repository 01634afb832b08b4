"""What the rebalance tests share: a feeder that keeps a backlog ahead of the taggers, probes, log checks, a report.

The tests (``test_rebalance_*.py``, one file each so they run side by side): no tagger dies, nothing is lost.

A backlog of thousands kept ahead of the taggers, so that every step happens while it drains: taggers
join (their partitions are revoked from the ones at work, which finish or abandon their in-flight events
and commit), leave on SIGTERM, and one is SIGKILLed while the others hold uncommitted work. Every process that was not
stopped on purpose must still be alive and must never have restarted its pipeline. That each step
happened mid-drain is checked, not assumed: fewer tag records than events exist right after it, and
the taggers report events in flight.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime

from contracts import CatalogEvent
from tests.services.tagger.streams import Seen, TagCounter, event_positions
from tools.traffic.produce import produce
from tools.traffic.synthetic import GeneratedRecord, generate

#: Events kept waiting ahead of the taggers while the steps happen, whatever the machine's speed.
BACKLOG = 5000
#: Short group timeouts so a killed member is noticed in seconds; commits often, as a busy tagger would.
GROUP = {"TAGSTREAM_SESSION_TIMEOUT_MS": "6000", "TAGSTREAM_HEARTBEAT_INTERVAL_MS": "1500",
         "TAGSTREAM_COMMIT_INTERVAL_MS": "300"}
#: What a tagger logs when its pipeline failed and main's restart policy rebuilt it.
RESTARTED = "restarting on fresh clients"


def quiet_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports below Linux's ephemeral range (32768 and up), so that no
    client connection made meanwhile takes one before a tagger started later binds it."""
    for base in random.Random().sample(range(20000, 32000, 10), 200):
        if all(_bindable(port) for port in range(base, base + count)):
            return base
    raise AssertionError("no free ports below the ephemeral range")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class Feeder:
    """Keeps at least ``BACKLOG`` events waiting ahead of the taggers until :meth:`stop`: every step of a test
    then happens mid-drain on a fast machine as on a slow one. Events are copies of a pool of synthetic ones
    with fresh ids and products (rendering thousands of pictures would take longer than the test)."""

    def __init__(self, stack, seed: int) -> None:
        self.settings = stack.kafka_settings()
        self.pool = [CatalogEvent.model_validate_json(r.value) for r in generate(1000, seed=seed)]
        self.sent: set[str] = set()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _copies(self, n: int) -> list[GeneratedRecord]:
        copies = []
        for i in range(len(self.sent), len(self.sent) + n):
            event = self.pool[i % len(self.pool)]
            data = event.data.model_copy(update={"product_id": f"{event.data.product_id}-{i}"})
            copy = event.model_copy(update={"id": f"{event.id}-{i}", "data": data, "time": datetime.now(UTC)})
            copies.append(GeneratedRecord(copy.key, copy.to_bytes(), [], copy.id, data.product_id, "valid", None,
                                          None))
        return copies

    def _run(self) -> None:
        counter = TagCounter(self.settings)
        while not self.stopped.is_set():
            if len(self.sent) - counter.count() < BACKLOG:
                for _ in range(10):  # in tenths, so that ``sent`` never lags what the taggers can see by much
                    records = self._copies(BACKLOG // 10)
                    produce(self.settings, records, progress=False)
                    self.sent.update(r.event_id for r in records if r.event_id)
            self.stopped.wait(0.2)
        counter.close()

    def stop(self) -> set[str]:
        """Stop feeding; every event sent."""
        self.stopped.set()
        self.thread.join(timeout=60)
        return set(self.sent)


def _probe(stack, name: str, path: str) -> dict:
    index = int(name.removeprefix("tagger-"))
    try:
        with urllib.request.urlopen(f"{stack.tagger_metrics_url(index)}{path}", timeout=5) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as e:  # a probe that says no still answers with its detail
        return json.loads(e.read())


def in_flight(stack, name: str) -> int:
    return int(_probe(stack, name, "/readyz")["in_flight"])


def until_all_busy(stack, names: list[str], timeout_s: float) -> dict[str, int]:
    """Wait until every tagger named holds events in flight (read, not yet acknowledged, so uncommitted)."""
    deadline = time.monotonic() + timeout_s
    while True:
        holding = {name: in_flight(stack, name) for name in names}
        if all(holding.values()):
            return holding
        assert time.monotonic() < deadline, f"not every tagger held work in flight: {holding}"
        time.sleep(0.05)


def healthy(stack, name: str) -> bool:
    return stack.process(name).alive() and _probe(stack, name, "/healthz")["ok"] is True


def tagger_log(stack, name: str) -> str:
    return stack.process(name).log_path.read_text(errors="replace")


def never_failed(stack, *names: str) -> None:
    for name in names:
        log = tagger_log(stack, name)
        assert RESTARTED not in log, f"{name}'s pipeline failed and was rebuilt"
        assert "Cannot block on net.run()" not in log
        assert "Traceback" not in log, f"{name} logged a traceback"


def report_duplicates(stack, seen: Seen, label: str, record_property) -> int:
    """Print (and record) how many tags were written twice, and where their events sit in the partitions."""
    duplicates = len(seen.tags) - len(seen.tagged_ids)
    record_property(f"duplicates_{label}", duplicates)
    counts = Counter(tag.event_id for tag in seen.tags)
    positions = event_positions(stack.kafka_settings())
    where: dict[int, list[int]] = {}
    for event_id, n in counts.items():
        if n > 1:
            partition, offset = positions[event_id]
            where.setdefault(partition, []).append(offset)
    ranges = {p: f"{len(o)} events, offsets {min(o)}-{max(o)}" for p, o in sorted(where.items())}
    print(f"{label}: {duplicates} duplicate tags of {len(seen.tags)} ({len(seen.tagged_ids)} events); by partition: "
          f"{ranges or 'none'}")
    return duplicates
