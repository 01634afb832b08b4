"""Send generated records to Kafka, paced to a target rate, and say what was sent.

Pacing is a schedule on ``time.monotonic``: record ``i`` is due at ``start + i / rate``, so sleep
overshoot never accumulates into drift. After a stall longer than ``MAX_LAG_S`` the schedule is
re-based instead of bursting to catch up. Delivery is checked, not assumed: every send's outcome is
collected, the producer is flushed at the end, and a failed send fails the run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sized
from dataclasses import dataclass, field

from kafka.errors import KafkaError, KafkaTimeoutError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from contracts import ErrorCode, Topics
from contracts.errors import TagstreamError
from runtime.kafka import BrokerUnavailable, producer
from runtime.settings import KafkaSettings
from tools.traffic.synthetic import VALID, GeneratedRecord

log = logging.getLogger(__name__)

MAX_LAG_S = 1.0
FLUSH_TIMEOUT_S = 60.0
BROKER_HINT = "set TAGSTREAM_KAFKA_BOOTSTRAP, or start a local broker with `tagstream up`"


class ProduceError(TagstreamError):
    """Some records were not acknowledged by the broker."""

    code = "produce_failed"


@dataclass(frozen=True)
class ProduceSummary:
    """What one run sent: counts per kind, and the dead-letter code each malformed kind should get."""

    topic: str
    counts: dict[str, int]
    expected_errors: dict[str, ErrorCode] = field(default_factory=dict)
    bytes_sent: int = 0
    elapsed_s: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def valid(self) -> int:
        return self.counts.get(VALID, 0)

    @property
    def malformed(self) -> int:
        return self.total - self.valid

    @property
    def rate(self) -> float:
        """Records per second actually achieved."""
        return self.total / self.elapsed_s if self.elapsed_s > 0 else 0.0


class Pacer:
    """Waits until the next record is due at ``rate`` per second."""

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = rate
        self._clock, self._sleep = clock, sleep
        self._start: float | None = None
        self._count = 0

    def wait(self) -> None:
        now = self._clock()
        if self._start is None:
            self._start = now
        due = self._start + self._count / self.rate
        if due > now:
            self._sleep(due - now)
        elif now - due > MAX_LAG_S:  # we stalled: start a new schedule rather than burst
            self._start, self._count = now, 0
        self._count += 1


class _Outcomes:
    """Collects delivery failures reported on the producer's I/O thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.failed = 0
        self.first: BaseException | None = None

    def failure(self, error: BaseException) -> None:
        with self._lock:
            self.failed += 1
            if self.first is None:
                self.first = error
                log.error("send failed: %r", error)


def _progress(enabled: bool) -> Progress:
    return Progress(TextColumn("[bold]producing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("{task.fields[rate]:>8.1f}/s"), console=Console(stderr=True),
                    disable=not enabled, transient=False)


def produce(settings: KafkaSettings, records: Iterable[GeneratedRecord], *, topic: str = Topics.EVENTS.name,
            rate: float | None = None, progress: bool = True, total: int | None = None) -> ProduceSummary:
    """Send every record to ``topic`` (at most ``rate`` per second) and wait until all are acknowledged.

    ``total`` sizes the progress bar when ``records`` has no length. Raises ``BrokerUnavailable`` when
    no broker answers and ``ProduceError`` when any record is not acknowledged.
    """
    pacer = Pacer(rate) if rate else None
    if total is None and isinstance(records, Sized):
        total = len(records)
    try:
        client = producer(settings, client_id="traffic", bootstrap_timeout_ms=5_000, max_block_ms=30_000)
    except KafkaTimeoutError as e:
        raise BrokerUnavailable(f"no Kafka broker answers at {settings.kafka_bootstrap}",
                                hint=BROKER_HINT) from e
    counts: Counter[str] = Counter()
    expected: dict[str, ErrorCode] = {}
    outcomes = _Outcomes()
    sent_bytes = 0
    started = time.monotonic()
    try:
        with _progress(progress) as bar:
            task = bar.add_task("produce", total=total, rate=0.0)
            for record in records:
                if pacer:
                    pacer.wait()
                client.send(topic, key=record.key, value=record.value,
                            headers=record.headers).add_errback(outcomes.failure)
                counts[record.kind] += 1
                sent_bytes += len(record.value)
                if record.expected_error is not None:
                    expected[record.kind] = record.expected_error
                done = sum(counts.values())
                bar.update(task, completed=done, rate=done / max(time.monotonic() - started, 1e-9))
            client.flush(timeout=FLUSH_TIMEOUT_S)
    except KafkaTimeoutError as e:
        raise ProduceError(f"{settings.kafka_bootstrap} did not take records for {topic} in time ({e}); "
                           "is the broker up and does the topic exist?", hint=BROKER_HINT) from e
    except KafkaError as e:
        raise ProduceError(f"sending to {topic} failed: {e}") from e
    finally:
        client.close(timeout=5)
    summary = ProduceSummary(topic, dict(counts), expected, sent_bytes, time.monotonic() - started)
    if outcomes.failed:
        raise ProduceError(f"{outcomes.failed} of {summary.total} records to {topic} were not acknowledged; "
                           f"first error: {outcomes.first!r}")
    log.info("sent %d records to %s (%d malformed) in %.1fs, %.1f/s", summary.total, topic, summary.malformed,
             summary.elapsed_s, summary.rate)
    return summary
