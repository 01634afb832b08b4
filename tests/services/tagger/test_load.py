"""The load stage: the image an event names, inline or fetched, within the size limit, decoded on the decode pool."""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime

import numpy as np
import pytest
from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from PIL import Image

from contracts import CatalogEvent, ErrorCode, EventType, ImageRef, ProductData
from modelspec.errors import InputError
from modelspec.preprocess import decode
from services.tagger.load import LoadStage, inline_bytes, measured, within_limit
from services.tagger.router import Router
from services.tagger.settings import TaggerSettings
from services.tagger.work import Loaded, Received, Valid


def _png() -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(7).integers(0, 256, (90, 120, 3), dtype=np.uint8)).save(out, "PNG")
    return out.getvalue()


PNG = _png()


def _error(call: Callable[[], object]) -> InputError:
    with pytest.raises(InputError) as caught:
        call()
    return caught.value


def test_inline_bytes_decodes_inline_when_within_limit() -> None:
    assert inline_bytes(ImageRef(inline=base64.b64encode(PNG).decode()), max_bytes=len(PNG)) == PNG


def test_inline_bytes_refuses_inline_when_base64_is_longer_than_limit() -> None:
    error = _error(lambda: inline_bytes(ImageRef(inline=base64.b64encode(bytes(3000)).decode()), max_bytes=2000))
    assert error.error_code == ErrorCode.IMAGE_TOO_LARGE
    assert error.field == "data.image.inline"


def test_within_limit_refuses_a_fetched_body_when_larger_than_limit() -> None:
    error = _error(lambda: within_limit(bytes(101), 100, "data.image.url"))
    assert error.error_code == ErrorCode.IMAGE_TOO_LARGE
    assert error.field == "data.image.url"


class _Fetcher:
    """Answers each URL with a body, or fails it, when the test says so."""

    def __init__(self) -> None:
        self.futures: dict[str, Future[bytes]] = {}
        self.asked = threading.Condition()

    def fetch(self, url: str) -> Future[bytes]:
        with self.asked:
            self.futures[url] = Future()
            self.asked.notify_all()
            return self.futures[url]

    def future(self, url: str) -> Future[bytes]:
        """The fetch of ``url``, once the load stage has asked for it."""
        with self.asked:
            assert self.asked.wait_for(lambda: url in self.futures, timeout=10)
            return self.futures[url]


class _Sink:
    def __init__(self) -> None:
        self.loaded: list[Loaded] = []
        self.failed: list[tuple[Valid, BaseException]] = []
        self.fatal: list[BaseException] = []
        self.changed = threading.Condition()

    def on_loaded(self, item: Loaded) -> None:
        with self.changed:
            self.loaded.append(item)
            self.changed.notify_all()

    def on_failed(self, valid: Valid, error: BaseException) -> None:
        with self.changed:
            self.failed.append((valid, error))
            self.changed.notify_all()

    def wait(self, count: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.loaded) + len(self.failed) >= count, timeout=10)


def _valid(image: ImageRef, offset: int = 0) -> Valid:
    event = CatalogEvent(id=f"e-{offset}", source="/test", type=EventType.CREATED, time=datetime.now(UTC),
                         data=ProductData(product_id=f"p-{offset}", merchant_id="m-1", image=image))
    record = ConsumerRecord("catalog.events", 0, -1, offset, 0, 0, None, b"", [], None, 0, 0, 0)
    received = Received(tp=TopicPartition("catalog.events", 0), record=record, received_at=datetime.now(UTC), epoch=1)
    return Valid(received=received, event=event, route=Router("catalog_tagger").route(event))


def _stage(fetcher: _Fetcher, sink: _Sink, owns: Callable[[Valid], bool] = lambda _: True) -> LoadStage:
    stage = LoadStage(fetcher, TaggerSettings(image_max_bytes=len(PNG) + 10), owns=owns,  # type: ignore[arg-type]
                      on_loaded=sink.on_loaded, on_failed=sink.on_failed, on_fatal=sink.fatal.append)
    stage.start()
    return stage


def test_a_fetched_image_is_decoded_measured_and_judged_when_its_bytes_arrive() -> None:
    fetcher, sink = _Fetcher(), _Sink()
    stage = _stage(fetcher, sink)
    url = "https://images.example.com/a.png"
    stage.load(_valid(ImageRef(url=url)))
    assert sink.loaded == []  # nothing waits for the network on the caller's thread
    fetcher.future(url).set_result(PNG)
    sink.wait(1)
    stage.stop()
    [loaded] = sink.loaded
    assert (loaded.image.width, loaded.image.height, loaded.image.nbytes) == (120, 90, len(PNG))
    assert loaded.features.width == 120 and loaded.features.bytes == len(PNG)
    assert loaded.quality == ()
    assert sink.failed == [] and sink.fatal == []


def test_a_failed_fetch_is_handed_on_with_its_input_error() -> None:
    fetcher, sink = _Fetcher(), _Sink()
    stage = _stage(fetcher, sink)
    url = "https://images.example.com/gone.png"
    stage.load(_valid(ImageRef(url=url)))
    fetcher.future(url).set_exception(InputError(ErrorCode.IMAGE_URL_FAILED, "HTTP 404", field="data.image.url"))
    sink.wait(1)
    stage.stop()
    [(_, error)] = sink.failed
    assert isinstance(error, InputError) and error.error_code is ErrorCode.IMAGE_URL_FAILED


def test_a_fetched_body_over_the_limit_is_refused_naming_the_url_field() -> None:
    fetcher, sink = _Fetcher(), _Sink()
    stage = _stage(fetcher, sink)
    url = "https://images.example.com/huge.png"
    stage.load(_valid(ImageRef(url=url)))
    fetcher.future(url).set_result(PNG + bytes(100))
    sink.wait(1)
    stage.stop()
    [(_, error)] = sink.failed
    assert isinstance(error, InputError)
    assert (error.error_code, error.field) == (ErrorCode.IMAGE_TOO_LARGE, "data.image.url")


def test_an_inline_image_goes_straight_to_decoding_without_the_fetcher() -> None:
    fetcher, sink = _Fetcher(), _Sink()
    stage = _stage(fetcher, sink)
    stage.load(_valid(ImageRef(inline=base64.b64encode(PNG).decode())))
    sink.wait(1)
    stage.stop()
    assert len(sink.loaded) == 1 and fetcher.futures == {}


def test_work_of_a_revoked_partition_is_dropped_before_decoding() -> None:
    fetcher, sink = _Fetcher(), _Sink()
    owned = threading.Event()
    owned.set()
    stage = _stage(fetcher, sink, owns=lambda _: owned.is_set())
    url = "https://images.example.com/a.png"
    stage.load(_valid(ImageRef(url=url)))
    fetch = fetcher.future(url)
    owned.clear()  # a rebalance took the partition while the fetch was in flight
    fetch.set_result(PNG)
    stage.stop()
    assert sink.loaded == [] and sink.failed == []


def test_fetches_wait_for_a_slot_and_one_revoked_meanwhile_is_never_fetched() -> None:
    fetcher, sink = _Fetcher(), _Sink()
    revoked: set[str] = set()
    stage = LoadStage(fetcher, TaggerSettings(fetch_in_flight=2), owns=lambda v: v.event.id not in revoked,
                      on_loaded=sink.on_loaded, on_failed=sink.on_failed, on_fatal=sink.fatal.append)
    stage.start()
    urls = [f"https://images.example.com/{i}.png" for i in range(4)]
    for i, url in enumerate(urls):
        stage.load(_valid(ImageRef(url=url), offset=i))
    first, second = fetcher.future(urls[0]), fetcher.future(urls[1])
    assert set(fetcher.futures) == set(urls[:2])  # two slots: the others wait, their deadlines not started
    revoked.add("e-2")  # a rebalance took the third event's partition while it waited
    first.set_result(PNG)
    fetcher.future(urls[3]).set_result(PNG)
    second.set_result(PNG)
    sink.wait(3)
    stage.stop()
    assert urls[2] not in fetcher.futures
    assert sorted(item.valid.event.id for item in sink.loaded) == ["e-0", "e-1", "e-3"]


def test_images_decoded_together_are_measured_as_each_would_be_alone() -> None:
    fetcher, sink = _Fetcher(), _Sink()
    stage = _stage(fetcher, sink)
    urls = [f"https://images.example.com/{i}.png" for i in range(20)]
    for i, url in enumerate(urls):
        stage.load(_valid(ImageRef(url=url), offset=i))
    for url in urls:  # all ready at once: the decode threads take them in chunks
        fetcher.future(url).set_result(PNG)
    sink.wait(len(urls))
    stage.stop()
    alone = measured([decode(PNG, max_pixels=10**7)], TaggerSettings())[0]
    assert len(sink.loaded) == len(urls)
    assert all((item.features, item.quality) == (alone.features, alone.quality) for item in sink.loaded)


def test_a_fetch_that_fails_for_the_fetchers_own_reason_is_not_dead_lettered_but_stops_the_pipeline() -> None:
    fetcher, sink = _Fetcher(), _Sink()
    stage = _stage(fetcher, sink)
    url = "https://images.example.com/a.png"
    stage.load(_valid(ImageRef(url=url)))
    fetcher.future(url).set_exception(RuntimeError("the fetcher's event loop died"))
    stage.stop()
    assert sink.failed == []  # not the event's fault: no dead letter
    assert [type(e) for e in sink.fatal] == [RuntimeError]  # the restart policy decides


def test_a_fetch_cut_short_while_stopping_leaves_the_event_for_redelivery() -> None:
    fetcher, sink = _Fetcher(), _Sink()
    stage = _stage(fetcher, sink)
    url = "https://images.example.com/a.png"
    stage.load(_valid(ImageRef(url=url)))
    stage.stop()
    fetcher.future(url).cancel()
    assert sink.failed == [] and sink.fatal == [] and sink.loaded == []
