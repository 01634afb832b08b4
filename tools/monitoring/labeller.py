"""A synthetic labeller: ``LabelFeedback`` from the generator's ground truth, late and out of order.

``tagstream produce --truth-out FILE`` keeps each valid event's truth beside the stream; this publishes a
sample of it on ``catalog.labels``, as auditors (a random sample of tags: unbiased) or reviewers would. Each
label is due ``delay`` seconds after the labeller starts plus a random ``jitter``, and labels are sent in due
order, so they arrive out of order with respect to their tags. A product is sampled by a hash of its id and
``seed``, so the same run labels the same products. A garment whose pattern is outside the taxonomy is
labelled with that pattern's name (as a reviewer would type it); a picture with no garment gets no label.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from kafka.errors import KafkaError

from contracts import LabelFeedback, LabelSource, TagstreamError, Topics
from runtime.kafka import BrokerUnavailable, producer
from runtime.settings import KafkaSettings

log = logging.getLogger(__name__)


class LabellerError(TagstreamError):
    code = "labeller_error"


@dataclass(frozen=True)
class Truth:
    event_id: str | None
    product_id: str
    labels: dict[str, str]  # what a person would write for each attribute with a known class

    @classmethod
    def from_line(cls, line: str, where: str) -> Truth | None:
        """The truth of one ``--truth-out`` line; None for a picture with no garment."""
        try:
            record = json.loads(line)
            product_id = record["product_id"]
            if record.get("out_of_distribution"):
                return None
            novelty = record.get("novelty") or {}
            labels = {name: novelty.get(name) or value for name, value in record["labels"].items()
                      if (novelty.get(name) or value) is not None}
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise LabellerError(f"{where}: not a truth line of `tagstream produce --truth-out` ({e})",
                                field="truth", hint="pass the file that --truth-out wrote") from e
        return cls(event_id=record.get("event_id"), product_id=str(product_id), labels=labels) if labels else None


def read_truth(path: Path) -> Iterator[Truth]:
    try:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    truth = Truth.from_line(line, f"{path}:{number}")
                    if truth is not None:
                        yield truth
    except OSError as e:
        raise LabellerError(f"cannot read the truth file {path}: {e.strerror or e}", field="truth") from e


def sampled(product_id: str, *, sample: float, seed: int) -> bool:
    """Whether ``product_id`` is in the ``sample`` share (stable for a seed)."""
    return zlib.crc32(f"{seed}:{product_id}".encode()) / 2**32 < sample


def schedule(truths: Iterable[Truth], *, sample: float, seed: int, delay_s: float, jitter_s: float,
             ) -> list[tuple[float, Truth]]:
    """(seconds after start, truth) of every sampled product, in due order."""
    rng = np.random.default_rng(seed)
    due = [(delay_s + float(rng.uniform(0.0, jitter_s)) if jitter_s > 0 else delay_s, t)
           for t in truths if sampled(t.product_id, sample=sample, seed=seed)]
    return sorted(due, key=lambda item: item[0])


def label_of(truth: Truth, source: LabelSource, at: datetime) -> LabelFeedback:
    return LabelFeedback(product_id=truth.product_id, event_id=truth.event_id, labels=truth.labels, source=source,
                         time=at)


def publish(settings: KafkaSettings, due: list[tuple[float, Truth]], *, source: LabelSource,
            clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> int:
    """Send each label when it is due (label time = when it is sent); returns how many were acknowledged."""
    try:
        client = producer(settings, client_id="labeller", bootstrap_timeout_ms=5_000, max_block_ms=30_000)
    except KafkaError as e:
        raise BrokerUnavailable(f"no Kafka broker answers at {settings.kafka_bootstrap}",
                                hint="start one with `tagstream up` or set TAGSTREAM_KAFKA_BOOTSTRAP") from e
    start = clock()
    futures = []
    try:
        for offset, truth in due:
            wait = start + offset - clock()
            if wait > 0:
                sleep(wait)
            label = label_of(truth, source, datetime.now(UTC))
            futures.append(client.send(Topics.LABELS.name, key=truth.product_id.encode(), value=label.to_bytes()))
        client.flush(timeout=60)
        for future in futures:
            future.get(timeout=60)
    except KafkaError as e:
        raise LabellerError(f"sending labels to {Topics.LABELS.name} failed: {e}",
                            hint="check that the broker runs") from e
    finally:
        client.close(timeout=5)
    log.info("published %d %s labels", len(futures), source.value)
    return len(futures)
