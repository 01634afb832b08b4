"""The spine's proofs, against the real Tansu broker and the real Triton server (no fakes)."""

from __future__ import annotations

import base64
import io
import json
import signal
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from contracts import ErrorCode, ReviewKind
from tests.services.tagger.streams import OutputReader, committed_offsets, event_positions
from tools.traffic.produce import produce
from tools.traffic.synthetic import GeneratedRecord, generate

pytestmark = [pytest.mark.integration, pytest.mark.spread]  # every test starts its own stack

#: Short group timeouts so rebalances after a kill take seconds, not a minute.
FAST_GROUP = {"TAGSTREAM_SESSION_TIMEOUT_MS": "6000", "TAGSTREAM_HEARTBEAT_INTERVAL_MS": "1500",
              "TAGSTREAM_COMMIT_INTERVAL_MS": "300"}


def send(stack, records: list[GeneratedRecord], rate: float | None = None) -> None:
    produce(stack.kafka_settings(), records, rate=rate, progress=False)


def valid_ids(records: list[GeneratedRecord]) -> set[str]:
    return {r.event_id for r in records if r.expected_error is None and r.event_id}


def send_in_background(stack, records, rate) -> threading.Thread:
    thread = threading.Thread(target=send, args=(stack, records, rate), daemon=True)
    thread.start()
    return thread


def test_thousand_events_with_five_percent_malformed_give_950_tags_and_50_dead_letters(stack_factory):
    stack = stack_factory(tagger_env=FAST_GROUP)
    records = list(generate(1000, malformed_ratio=0.05, seed=11))
    malformed = [r for r in records if r.expected_error]
    assert len(malformed) == 50
    # identical malformed values (the same deep nesting, say) share a code, so a dict is enough
    expected_codes = {base64.b64encode(r.value).decode(): r.expected_error for r in malformed}
    send(stack, records)
    reader = OutputReader(stack.kafka_settings())
    seen = reader.until(lambda s: len(s.tagged_ids) >= 950 and len(s.dead) >= 50, timeout_s=120)
    time.sleep(1.0)  # anything extra would show up now
    seen = reader.poll()
    assert seen.tagged_ids == valid_ids(records)
    assert len(seen.dead) == 50
    for letter in seen.dead:
        assert letter.error.code == expected_codes[letter.original_value_b64], letter.error
        assert letter.source.topic == "catalog.events"
    assert {item.tag.event_id for item in seen.review} <= seen.tagged_ids
    assert all(item.tag.needs_review or item.kind is ReviewKind.AUDIT for item in seen.review)
    codes = Counter(letter.error.code for letter in seen.dead)
    print(f"dead letters by code: {dict(codes)}")
    assert len(codes) >= 5  # the malformations are varied


def test_tagger_killed_three_times_mid_stream_loses_nothing(stack_factory, record_property):
    stack = stack_factory(tagger_env=FAST_GROUP)
    records = list(generate(1500, seed=12))
    producer = send_in_background(stack, records, rate=300)
    reader = OutputReader(stack.kafka_settings())
    for kill_at in (250, 600, 950):
        reader.until(lambda s, n=kill_at: len(s.tagged_ids) >= n, timeout_s=90)
        stack.kill("tagger-0")
        stack.start_component("tagger-0")
    producer.join(timeout=60)
    seen = reader.until(lambda s: s.tagged_ids >= valid_ids(records), timeout_s=120)
    duplicates = len(seen.tags) - len(seen.tagged_ids)
    record_property("duplicates_after_3_sigkills", duplicates)
    print(f"duplicate tags after three SIGKILLs: {duplicates} of {len(seen.tags)}")
    assert seen.dead == []


def test_partitions_of_a_killed_tagger_move_to_the_survivor(stack_factory):
    stack = stack_factory(taggers=2, tagger_env=FAST_GROUP)
    records = list(generate(1200, seed=13))
    producer = send_in_background(stack, records, rate=300)
    reader = OutputReader(stack.kafka_settings())
    reader.until(lambda s: len(s.tagged_ids) >= 300, timeout_s=90)
    stack.kill("tagger-1")
    producer.join(timeout=60)
    seen = reader.until(lambda s: s.tagged_ids >= valid_ids(records), timeout_s=120)
    assert seen.dead == []


def test_triton_outage_of_ten_seconds_pauses_and_resumes_without_dead_letters(stack_factory):
    stack = stack_factory(tagger_env=FAST_GROUP)
    records = list(generate(1000, seed=14))
    producer = send_in_background(stack, records, rate=100)
    reader = OutputReader(stack.kafka_settings())
    reader.until(lambda s: len(s.tagged_ids) >= 200, timeout_s=90)
    stack.stop_component("triton")
    time.sleep(10)
    stalled = len(reader.poll().tagged_ids)
    stack.start_component("triton")
    producer.join(timeout=60)
    seen = reader.until(lambda s: s.tagged_ids >= valid_ids(records), timeout_s=180)
    assert seen.dead == []
    assert stalled < len(records)  # the outage really stopped tagging


def test_durable_broker_killed_mid_stream_comes_back_and_every_event_is_tagged(stack_factory):
    stack = stack_factory(broker_storage="s3", tagger_env=FAST_GROUP)
    records = list(generate(800, seed=15))
    send(stack, records)
    reader = OutputReader(stack.kafka_settings())
    reader.until(lambda s: len(s.tagged_ids) >= 150, timeout_s=90)
    reader.close()
    stack.kill("broker")
    time.sleep(1)
    stack.start_component("broker")
    reader = OutputReader(stack.kafka_settings())
    seen = reader.until(lambda s: s.tagged_ids >= valid_ids(records), timeout_s=240)
    assert seen.dead == []


def test_sigterm_drains_and_commits_exactly_the_acknowledged_events(stack_factory):
    stack = stack_factory(tagger_env=FAST_GROUP)
    records = list(generate(1000, seed=16))
    producer = send_in_background(stack, records, rate=150)  # still arriving when SIGTERM lands
    reader = OutputReader(stack.kafka_settings())
    reader.until(lambda s: len(s.tagged_ids) >= 200, timeout_s=90)
    code = stack.process("tagger-0").stop(signal.SIGTERM, timeout=60)
    assert code == 0
    producer.join(timeout=60)
    time.sleep(1)
    seen = reader.poll()
    committed = committed_offsets(stack.kafka_settings())
    positions = event_positions(stack.kafka_settings())
    below_commit = {eid for eid, (p, o) in positions.items() if o < committed.get(p, 0)}
    assert seen.tagged_ids == below_commit
    assert 200 <= len(below_commit) < len(records)


class _Listener(BaseHTTPRequestHandler):
    hits: list[str] = []
    body = b""

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


def _url_event(i: int, url: str) -> GeneratedRecord:
    doc = {"specversion": "1.0", "id": f"url-{i}", "source": "/test", "type": "catalog.product.created",
           "time": datetime.now(UTC).isoformat(),
           "data": {"product_id": f"u-{i}", "merchant_id": "m-1", "image": {"url": url}}}
    return GeneratedRecord(key=f"u-{i}".encode(), value=json.dumps(doc).encode(), headers=[], event_id=f"url-{i}",
                           product_id=f"u-{i}", kind="url", expected_error=None, truth=None)


def test_hostile_image_urls_are_dead_lettered_and_never_fetched(stack_factory):
    png = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(png, format="PNG")
    hostile_server = ThreadingHTTPServer(("127.0.0.1", 0), type("Hostile", (_Listener,), {"hits": []}))
    allowed_server = ThreadingHTTPServer(("127.0.0.1", 0), type("Allowed", (_Listener,), {"hits": [],
                                                                                        "body": png.getvalue()}))
    for server in (hostile_server, allowed_server):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    port, allowed_port = hostile_server.server_address[1], allowed_server.server_address[1]
    spellings = [f"http://127.0.0.1:{port}/a.png", f"http://localhost:{port}/a.png", f"http://2130706433:{port}/a",
                 f"http://0x7f000001:{port}/a", f"http://017700000001:{port}/a", f"http://127.1:{port}/a",
                 f"http://[::1]:{port}/a", f"http://[::ffff:127.0.0.1]:{port}/a", f"http://0.0.0.0:{port}/a"]
    stack = stack_factory(tagger_env={**FAST_GROUP, "TAGSTREAM_URL_ALLOW_HOSTS": f"127.0.0.1:{allowed_port}",
                                      "TAGSTREAM_FETCH_TIMEOUT_S": "2"})
    records = [_url_event(i, url) for i, url in enumerate(spellings)]
    records.append(_url_event(99, f"http://127.0.0.1:{allowed_port}/ok.png"))
    send(stack, records)
    reader = OutputReader(stack.kafka_settings())
    seen = reader.until(lambda s: len(s.dead) >= len(spellings) and "url-99" in s.tagged_ids, timeout_s=90)
    try:
        assert {d.error.code for d in seen.dead} == {ErrorCode.IMAGE_URL_FORBIDDEN}
        assert {d.error.field for d in seen.dead} == {"data.image.url"}
        assert hostile_server.RequestHandlerClass.hits == []
        assert allowed_server.RequestHandlerClass.hits == ["/ok.png"]
    finally:
        hostile_server.shutdown()
        allowed_server.shutdown()
