"""``tagstream bench pipeline``: each component's raw rate and the end-to-end rate, in one run.

On a private stack (temporary state directory, free ports) it measures, with the same events:

1. the broker: consume the events and produce them again (a tagger that does nothing), events/s;
2. decode + preprocess: base64, Pillow decode, resize, feature summary, quality check, on the tagger's threads,
   images/s;
3. Triton: batches of the tagger's batch size from the tagger's number of threads, images/s;
4. end to end: a real tagger process drains the backlog; rate = events / (last tag - first receipt);
5. latency: fresh events (made beforehand, stamped as they are sent) paced at half the end-to-end rate; event
   time to tag read from ``catalog.tags``;
6. CPU: the idle tagger is handed a fresh backlog; its process's CPU time (``/proc/<pid>/stat``, every thread)
   until the last tag, per event;
7. URL path: every image behind a loopback host that answers after 50 ms (``tools.traffic.imagehost``); the
   tagger is restarted on a backlog of such events and drains it as in 4.

``ratio`` = end-to-end rate / slowest component rate; ``url_ratio`` = URL end-to-end rate / inline end-to-end
rate. Triton's own metrics say whether it batched on the server (executions fewer than requests), for the
tagger's full batches and for many small concurrent requests (batch 4 from 8 threads, as from many replicas).
"""

from __future__ import annotations

import base64
import logging
import os
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from kafka import KafkaConsumer, TopicPartition

from contracts import CatalogEvent, ErrorCode, ImageRef, TagPrediction, Topic, Topics
from modelspec.errors import InputError
from modelspec.preprocess import DecodedImage, decode, stack
from runtime import kafka
from runtime.settings import KafkaSettings
from services.tagger.inference import TritonTagger
from services.tagger.load import DECODE_CHUNK, inline_bytes, measured
from services.tagger.settings import TaggerSettings
from tools.stack import LocalStack
from tools.stack.ports import private_settings
from tools.traffic.imagehost import ImageHost
from tools.traffic.produce import produce
from tools.traffic.synthetic import GeneratedRecord, generate

log = logging.getLogger(__name__)
PASSTHROUGH = Topic("bench.passthrough")
#: How long the bench's image host waits before it answers, as a CDN across a network would.
URL_DELAY_S = 0.05


@dataclass
class PipelineFigures:
    events: int
    batch_size: int
    broker_rate: float
    preprocess_rate: float
    preprocess_rate_one_thread: float
    triton_rate: float
    end_to_end_rate: float
    ratio: float
    slowest: str
    shared_cpu_bound: float
    ratio_to_shared_cpu_bound: float
    p50_ms: float
    p99_ms: float
    latency_rate: float
    triton_requests: int
    triton_executions: int
    triton_alone_requests: int
    triton_alone_executions: int
    triton_small_requests: int
    triton_small_executions: int
    tagger_cpu_ms_per_event: float
    url_end_to_end_rate: float
    url_ratio: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _broker_rate(stack_: LocalStack, n: int) -> float:
    """Consume ``n`` events and produce each again, as fast as the client allows."""
    settings = stack_.kafka_settings()
    kafka.ensure_topics(settings, partitions=stack_.settings.partitions, topics=[PASSTHROUGH])
    consumer = kafka.consumer(settings, group_id="bench-broker", client_id="bench", session_timeout_ms=6000,
                              heartbeat_interval_ms=2000)
    producer = kafka.producer(settings, client_id="bench")
    consumer.subscribe([Topics.EVENTS.name])
    seen, start = 0, None
    while seen < n:
        for records in consumer.poll(timeout_ms=200, max_records=1000).values():
            start = start or time.perf_counter()
            for record in records:
                producer.send(PASSTHROUGH.name, key=record.key, value=record.value)
            seen += len(records)
    producer.flush()
    elapsed = time.perf_counter() - (start or time.perf_counter())
    consumer.close(autocommit=False)
    producer.close()
    return n / elapsed


def preprocess_all(events: list[CatalogEvent], threads: int, settings: TaggerSettings, *,
                   clock: Callable[[], float] = time.perf_counter) -> tuple[float, list[DecodedImage]]:
    """Load every event's inline image as the tagger's decode threads do (base64, decode and resize each, then
    the feature summary and quality check of a chunk at once), on ``threads`` threads; returns (images per
    second of ``clock``, the images)."""

    def chunk(part: list[CatalogEvent]) -> list[DecodedImage]:
        images = []
        for event in part:
            if event.data.image is None:  # the bench sends no deletions; the tagger dead-letters an imageless event
                raise InputError(ErrorCode.IMAGE_MISSING, f"event {event.id} has no image", field="data.image")
            raw = inline_bytes(event.data.image, settings.image_max_bytes)
            images.append(decode(raw, max_pixels=settings.image_max_pixels))
        return [pre.image for pre in measured(images, settings)]

    parts = [events[i:i + DECODE_CHUNK] for i in range(0, len(events), DECODE_CHUNK)]
    start = clock()
    with ThreadPoolExecutor(threads) as pool:
        images = [image for part in pool.map(chunk, parts) for image in part]
    return len(events) / (clock() - start), images


def _triton_rate(url: str, pixels: np.ndarray, batch: int, threads: int) -> float:
    client = TritonTagger(url, "catalog_tagger")
    batches = [pixels[i:i + batch] for i in range(0, len(pixels) - batch + 1, batch)]
    client.infer(batches[0])  # warm-up
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(client.infer, batches))
    elapsed = time.perf_counter() - start
    client.close()
    return len(batches) * batch / elapsed


@dataclass(frozen=True)
class TagSeen:
    """When one event was made, received and tagged (from its tag), and when the tag was read; epoch seconds."""

    event_time: float
    received_at: float
    tagged_at: float
    read_at: float


def read_tags(settings: KafkaSettings, want: set[str], timeout_s: float) -> dict[str, TagSeen]:
    """The first tag of every event in ``want`` from ``catalog.tags``, with its times.

    Only four floats per tag are kept: a reader that held thousands of parsed tags spent hundreds of
    milliseconds at a time in the garbage collector's full collections, and those pauses were most of the
    p99 latency this bench used to report.
    """
    consumer = KafkaConsumer(**settings.kafka_client_kwargs(), group_id=None, enable_auto_commit=False,
                             fetch_max_wait_ms=20)
    consumer.assign([TopicPartition(Topics.TAGS.name, p) for p in consumer.partitions_for_topic(Topics.TAGS.name)])
    consumer.seek_to_beginning()
    got: dict[str, TagSeen] = {}
    deadline = time.monotonic() + timeout_s
    while not want <= got.keys() and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=20, max_records=2000).values():
            now = time.time()
            for record in records:
                if record.value is None:  # a tombstone
                    continue
                tag = TagPrediction.model_validate_json(record.value)
                if tag.event_id in want and tag.event_id not in got:
                    times = tag.timings
                    got[tag.event_id] = TagSeen(times.event_time.timestamp(), times.received_at.timestamp(),
                                                times.tagged_at.timestamp(), now)
    consumer.close()
    if not want <= got.keys():
        raise TimeoutError(f"only {len(got)} of {len(want)} tags arrived within {timeout_s:.0f} s")
    return got


def drain_rate(tags: dict[str, TagSeen]) -> float:
    """Events per second from the first receipt to the last tag."""
    first = min(t.received_at for t in tags.values())
    last = max(t.tagged_at for t in tags.values())
    return len(tags) / (last - first)


def _triton_counts(metrics_port: int) -> tuple[int, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    counts = {"nv_inference_request_success": 0, "nv_inference_exec_count": 0}
    for line in text.splitlines():
        name = line.split("{", 1)[0]
        if name in counts and 'model="catalog_tagger"' in line:
            counts[name] += int(float(line.rsplit(" ", 1)[1]))
    return counts["nv_inference_request_success"], counts["nv_inference_exec_count"]


def url_records(records: list[GeneratedRecord], host: ImageHost) -> list[GeneratedRecord]:
    """The same events with each inline image moved behind ``host``."""
    moved = []
    for record in records:
        event = CatalogEvent.model_validate_json(record.value)
        if event.data.image is None or event.data.image.inline is None:
            moved.append(record)
            continue
        url = host.put(f"{event.data.product_id}.jpg", base64.b64decode(event.data.image.inline))
        data = event.data.model_copy(update={"image": ImageRef(url=url)})
        moved.append(replace(record, value=event.model_copy(update={"data": data}).to_bytes()))
    return moved


def stamped(records: list[GeneratedRecord]) -> Iterator[GeneratedRecord]:
    """The records, each given the time it is sent as its event time, lazily. Rendering the pictures while
    sending, as the bench once did, took a fifth of a core from the pipeline it measured."""
    for record in records:
        event = CatalogEvent.model_validate_json(record.value)
        yield replace(record, value=event.model_copy(update={"time": datetime.now(UTC)}).to_bytes())


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, every thread, from ``/proc/<pid>/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14, 15


def _drain_rate(local: LocalStack, records: list[GeneratedRecord]) -> float:
    """Start ``tagger-0`` on a backlog of ``records``: events / (last tag - first receipt)."""
    kafka_settings = local.kafka_settings()
    produce(kafka_settings, records, progress=False)
    local.start_component("tagger-0")
    return drain_rate(read_tags(kafka_settings, {r.event_id for r in records if r.event_id}, timeout_s=900))


def _cpu_per_event(local: LocalStack, records: list[GeneratedRecord]) -> float:
    """CPU milliseconds per event of the running, idle ``tagger-0`` while it drains ``records`` sent at once."""
    pid = local.process("tagger-0").pid
    if pid is None:
        raise RuntimeError("tagger-0 is not running")
    time.sleep(1.0)  # let the previous measurement's tail settle
    before = cpu_seconds(pid)
    produce(local.kafka_settings(), records, progress=False)
    read_tags(local.kafka_settings(), {r.event_id for r in records if r.event_id}, timeout_s=600)
    return (cpu_seconds(pid) - before) * 1000 / len(records)


def run(events: int = 2000, seed: int = 7, progress: bool = True) -> PipelineFigures:
    tagger = TaggerSettings()
    with tempfile.TemporaryDirectory(prefix="tagstream-bench-") as tmp, ImageHost(delay_s=URL_DELAY_S) as host:
        settings = private_settings(Path(tmp), taggers=1, broker_storage="memory",
                                    tagger_env={"TAGSTREAM_URL_ALLOW_HOSTS": host.address})
        metrics = settings.triton_metrics_port
        with LocalStack(settings) as local:
            local.start(["broker", "triton"])
            kafka_settings = local.kafka_settings()
            records: list[GeneratedRecord] = list(generate(events, seed=seed))
            parsed = [CatalogEvent.model_validate_json(r.value) for r in records]
            produce(kafka_settings, records, progress=progress)

            broker_rate = _broker_rate(local, events)
            one_thread, _ = preprocess_all(parsed[: min(events, 500)], 1, tagger)
            preprocess_rate, images = preprocess_all(parsed, tagger.decode_workers, tagger)
            pixels = stack(images)
            alone0 = _triton_counts(metrics)
            triton_rate = _triton_rate(settings.triton_url, pixels, tagger.batch_max_size, tagger.inference_workers)
            alone1 = _triton_counts(metrics)
            # many small concurrent requests, as from many tagger replicas: the dynamic batcher should merge them
            small0 = _triton_counts(metrics)
            _triton_rate(settings.triton_url, pixels[:512], 4, 8)
            small1 = _triton_counts(metrics)

            requests0, executions0 = _triton_counts(metrics)
            local.start_component("tagger-0")
            end_to_end = drain_rate(read_tags(kafka_settings, {r.event_id for r in records if r.event_id},
                                              timeout_s=600))
            requests1, executions1 = _triton_counts(metrics)

            latency_rate = end_to_end / 2
            paced = list(generate(max(200, int(latency_rate * 15)), seed=seed + 1))
            fresh_ids = {r.event_id for r in paced if r.event_id}
            sender = threading.Thread(target=produce, args=(kafka_settings, stamped(paced)),
                                      kwargs={"rate": latency_rate, "progress": False, "total": len(paced)},
                                      daemon=True)
            sender.start()
            arrived = read_tags(kafka_settings, fresh_ids, timeout_s=600)
            sender.join()
            latencies = np.array([(seen.read_at - seen.event_time) * 1000 for seen in arrived.values()])

            cpu_ms = _cpu_per_event(local, list(generate(events, seed=seed + 2)))
            local.stop_component("tagger-0")
            url_rate = _drain_rate(local, url_records(list(generate(events, seed=seed + 3)), host))

    rates = {"broker": broker_rate, "preprocess": preprocess_rate, "triton": triton_rate}
    slowest = min(rates, key=rates.__getitem__)
    # Each component alone had both cores; in the pipeline they share them. 1 / sum(1 / rate) is the rate of
    # running the stages one after another on the same cores: a reference, not a hard bound, since a
    # component measured alone need not keep both cores busy (Triton with one torch thread does not).
    shared_bound = 1.0 / sum(1.0 / r for r in rates.values())
    return PipelineFigures(
        events=events, batch_size=tagger.batch_max_size, broker_rate=round(broker_rate, 1),
        preprocess_rate=round(preprocess_rate, 1), preprocess_rate_one_thread=round(one_thread, 1),
        triton_rate=round(triton_rate, 1), end_to_end_rate=round(end_to_end, 1),
        ratio=round(end_to_end / rates[slowest], 3), slowest=slowest, shared_cpu_bound=round(shared_bound, 1),
        ratio_to_shared_cpu_bound=round(end_to_end / shared_bound, 3),
        p50_ms=round(float(np.percentile(latencies, 50)), 1), p99_ms=round(float(np.percentile(latencies, 99)), 1),
        latency_rate=round(latency_rate, 1), triton_requests=requests1 - requests0,
        triton_executions=executions1 - executions0, triton_alone_requests=alone1[0] - alone0[0],
        triton_alone_executions=alone1[1] - alone0[1], triton_small_requests=small1[0] - small0[0],
        triton_small_executions=small1[1] - small0[1], tagger_cpu_ms_per_event=round(cpu_ms, 3),
        url_end_to_end_rate=round(url_rate, 1), url_ratio=round(url_rate / end_to_end, 3),
    )
