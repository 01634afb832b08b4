"""Per-product order, tombstones and rebalances through the whole pipeline, with fake clients."""

from __future__ import annotations

import base64
import io
import threading
import time
from datetime import UTC, datetime

from kafka.errors import KafkaConnectionError, KafkaError
from PIL import Image

from contracts import CatalogEvent, EventType, ImageRef, ProductData, TagPrediction, Topics
from services.tagger.metrics import COMMITS
from tests.services.tagger.fakes import TP, FakeConsumer, FakeFetcher, FakeProducer, FakeTriton, drive, run


def _png(colour: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (96, 96), colour).save(out, format="PNG")
    return out.getvalue()


PNG = _png("navy")
#: Only the rebalance commits: the timed commit step never comes round within a test.
NO_TIMED_COMMITS = {"commit_interval_ms": 600_000}
SLOW = "https://images.example.com/slow.png"


def _event(i: int, product: str, *, url: str | None = None, deleted: bool = False) -> bytes:
    image = None if deleted else ImageRef(url=url) if url else ImageRef(inline=base64.b64encode(PNG).decode())
    return CatalogEvent(id=f"e-{i}", source="/test", type=EventType.DELETED if deleted else EventType.CREATED,
                        time=datetime.now(UTC),
                        data=ProductData(product_id=product, merchant_id="m-1", image=image)).to_bytes()


def _tags(producer: FakeProducer) -> list[tuple[bytes | None, str | None]]:
    """catalog.tags in send order: (key, event id, or None for a tombstone)."""
    return [(key, TagPrediction.model_validate_json(value).event_id if value is not None else None)
            for topic, key, value in producer.sent if topic == Topics.TAGS.name]


def _until(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.01)


def test_a_slow_image_holds_back_only_later_events_of_its_own_product():
    producer, slow = FakeProducer(), threading.Event()
    fetcher = FakeFetcher({SLOW: PNG}, slow={SLOW: slow})
    seen_while_slow: list[list[tuple[bytes | None, str | None]]] = []

    def release_when_others_are_out(consumer: FakeConsumer, polls: int) -> None:
        if polls > 1 and not slow.is_set() and any(key == b"p-2" for key, _ in _tags(producer)):
            seen_while_slow.append(_tags(producer))
            slow.set()

    values = [_event(0, "p-1", url=SLOW), _event(1, "p-1"), _event(2, "p-2")]
    code, consumer = run(values, producer=producer, triton=FakeTriton(), fetcher=fetcher,
                         on_poll=release_when_others_are_out)
    assert code == 0
    assert seen_while_slow == [[(b"p-2", "e-2")]]  # p-1's second tag waited for its first, p-2's did not
    assert [event for key, event in _tags(producer) if key == b"p-1"] == ["e-0", "e-1"]
    assert consumer.commits[-1] == {TP: 3}


def test_a_deletion_publishes_a_tombstone_after_the_products_earlier_tag():
    producer, slow = FakeProducer(), threading.Event()
    fetcher = FakeFetcher({SLOW: PNG}, slow={SLOW: slow})
    tombstone_early: list[bool] = []

    def release_later(consumer: FakeConsumer, polls: int) -> None:
        if polls == 20:
            tombstone_early.append((b"p-1", None) in _tags(producer))
            slow.set()

    values = [_event(0, "p-1", url=SLOW), _event(1, "p-1", deleted=True)]
    code, consumer = run(values, producer=producer, triton=FakeTriton(), fetcher=fetcher, on_poll=release_later)
    assert code == 0
    assert tombstone_early == [False]
    assert _tags(producer) == [(b"p-1", "e-0"), (b"p-1", None)]
    assert consumer.commits[-1] == {TP: 2}


def test_a_revoke_commits_what_is_acknowledged_and_abandons_the_rest_within_the_bound():
    producer, slow = FakeProducer(), threading.Event()
    fetcher = FakeFetcher({SLOW: PNG}, slow={SLOW: slow})
    failed_before = COMMITS.labels("failed")._value.get()

    def revoke_mid_stream(consumer: FakeConsumer, polls: int) -> None:
        if polls > 1 and consumer.async_commits == [] and len(_tags(producer)) == 2:
            started = time.monotonic()
            drive(consumer.listener.on_partitions_revoked({TP}))  # as the IO loop would, mid-rebalance
            assert time.monotonic() - started < 5  # the bound (rebalance_drain_s = 2) plus the commit
            slow.set()  # the abandoned fetch finishes after its partition is gone
            _until(lambda: len(fetcher.urls) == 1)
            time.sleep(0.3)
            consumer.stop.set()

    values = [_event(0, "p-1"), _event(1, "p-2", url=SLOW), _event(2, "p-3")]
    code, consumer = run(values, producer=producer, triton=FakeTriton(), fetcher=fetcher, settings=NO_TIMED_COMMITS,
                         on_poll=revoke_mid_stream, stop_when_committed=False)
    assert code == 0
    assert consumer.async_commits[0] == {TP: 1}  # offsets 0 and 2 acknowledged, 1 still in flight
    assert sorted(event for _, event in _tags(producer)) == ["e-0", "e-2"]  # e-1 is the next owner's
    assert COMMITS.labels("failed")._value.get() == failed_before


def test_a_revoke_after_everything_finished_commits_to_the_end():
    producer = FakeProducer()

    def revoke_when_done(consumer: FakeConsumer, polls: int) -> None:
        if polls > 1 and consumer.async_commits == [] and len(_tags(producer)) == 3:
            drive(consumer.listener.on_partitions_revoked({TP}))
            consumer.stop.set()

    values = [_event(i, f"p-{i}") for i in range(3)]
    code, consumer = run(values, producer=producer, triton=FakeTriton(), on_poll=revoke_when_done,
                         settings=NO_TIMED_COMMITS, stop_when_committed=False)
    assert code == 0
    assert consumer.async_commits[0] == {TP: 3}


def test_lost_partitions_are_abandoned_without_a_commit():
    producer, slow = FakeProducer(), threading.Event()
    fetcher = FakeFetcher({SLOW: PNG}, slow={SLOW: slow})

    def evicted(consumer: FakeConsumer, polls: int) -> None:
        if polls > 1 and not slow.is_set() and len(_tags(producer)) == 1:
            drive(consumer.listener.on_partitions_lost({TP}))
            slow.set()
            _until(lambda: len(fetcher.urls) == 1)
            time.sleep(0.3)
            consumer.stop.set()

    values = [_event(0, "p-1"), _event(1, "p-2", url=SLOW)]
    code, consumer = run(values, producer=producer, triton=FakeTriton(), fetcher=fetcher, on_poll=evicted,
                         stop_when_committed=False)
    assert code == 0
    assert [event for _, event in _tags(producer)] == ["e-0"]
    assert all(commit == {} for commit in consumer.async_commits)  # only the close, with nothing left to commit
    assert consumer.commits == [] or all(c.get(TP, 0) <= 1 for c in consumer.commits)


def _failing_poll(error: Exception, at_poll: int):
    def hook(consumer: FakeConsumer, polls: int) -> None:
        if polls == at_poll:
            raise error
    return hook


def test_a_kafka_client_error_while_polling_stops_the_pipeline_for_the_restart_policy():
    producer = FakeProducer()
    values = [_event(i, f"p-{i}") for i in range(3)]
    code, consumer = run(values, producer=producer, triton=FakeTriton(), stop_when_committed=False,
                         on_poll=_failing_poll(KafkaError("User rebalance callback throws an error"), at_poll=30))
    assert code == 1  # main's restart policy rebuilds the pipeline (or exits 1), never a traceback out of main
    assert consumer.closed
    assert all(commit.get(TP, 0) <= 3 for commit in consumer.commits)


def test_a_retriable_kafka_client_error_while_polling_is_retried():
    producer = FakeProducer()
    values = [_event(i, f"p-{i}") for i in range(3)]
    code, consumer = run(values, producer=producer, triton=FakeTriton(),
                         on_poll=_failing_poll(KafkaConnectionError("broker went away"), at_poll=2))
    assert code == 0
    assert sorted(event for _, event in _tags(producer)) == ["e-0", "e-1", "e-2"]
    assert consumer.commits[-1] == {TP: 3}
