"""Dead-letter replay end to end: the real broker, Triton and tagger; images behind a local HTTP host that
goes down and comes back. Events dead-lettered during the outage are tagged once by `dlq replay`; a second
replay is refused."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from contracts import REPLAY_HEADER, CatalogEvent, ErrorCode, ImageRef, TagPrediction, Topics
from runtime.settings import KafkaSettings
from tests.conftest import FAST_GROUP_ENV
from tools.cli.main import app
from tools.dlq.reader import dead_letters, read_topic
from tools.stack.ports import free_port
from tools.traffic.produce import produce
from tools.traffic.synthetic import GeneratedRecord, generate

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
#: Fewer than the tagger's circuit breaker counts (5 failures in a row open a host's circuit for 30 s, and a
#: replay into an open circuit is dead-lettered again): the test replays as soon as the host is back.
EVENTS = 4
runner = CliRunner()


class ImageHost:
    """A loopback HTTP host serving the events' pictures; ``stop`` and ``start`` make an outage."""

    def __init__(self, port: int, images: dict[str, bytes]) -> None:
        self.port = port
        self.images = images
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        images = self.images

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                body = images.get(self.path)
                self.send_response(200 if body else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def url_events(port: int) -> tuple[list[GeneratedRecord], dict[str, bytes]]:
    """Synthetic events whose pictures are URLs on the image host instead of inline."""
    records, images = [], {}
    for record in generate(EVENTS, seed=31):
        event = CatalogEvent.model_validate_json(record.value)
        assert event.data.image is not None and event.data.image.inline is not None
        path = f"/{event.data.product_id}.jpg"
        images[path] = base64.b64decode(event.data.image.inline)
        data = event.data.model_copy(update={"image": ImageRef(url=f"http://127.0.0.1:{port}{path}")})
        moved = event.model_copy(update={"data": data})
        records.append(GeneratedRecord(key=record.key, value=moved.to_bytes(), headers=record.headers,
                                       event_id=record.event_id, product_id=record.product_id, kind=record.kind,
                                       expected_error=None, truth=record.truth))
    return records, images


def tag_counts(settings: KafkaSettings) -> Counter[str]:
    return Counter(TagPrediction.model_validate_json(r.value).event_id
                   for r in read_topic(settings, Topics.TAGS.name) if r.value)


def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting until {what}")
        time.sleep(0.5)


@pytest.fixture
def image_host() -> Iterator[ImageHost]:
    host = ImageHost(free_port(), {})
    yield host
    host.stop()


def test_events_dead_lettered_in_an_image_host_outage_are_tagged_once_by_replay(stack_factory, image_host):
    records, image_host.images = url_events(image_host.port)
    stack = stack_factory(["broker", "triton", "tagger-0"], tagger_env={
        **FAST_GROUP_ENV, "TAGSTREAM_URL_ALLOW_HOSTS": f"127.0.0.1:{image_host.port}",
        "TAGSTREAM_FETCH_TIMEOUT_S": "2"})
    settings = stack.kafka_settings()
    env = {"TAGSTREAM_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "COLUMNS": "200"}
    ids = {r.event_id for r in records}

    # the image host is down: every event is dead-lettered, none tagged
    produce(settings, records, progress=False)
    wait_for(lambda: len(dead_letters(settings)) >= EVENTS, 90, "every event is dead-lettered")
    letters = dead_letters(settings)
    assert {letter.dead.error.code for letter in letters if letter.dead} == {ErrorCode.IMAGE_URL_FAILED}
    assert not ids & set(tag_counts(settings))
    listed = runner.invoke(app, ["dlq", "list", "--code", "image_url_failed", "--since", "1h"], env=env)
    assert listed.exit_code == 0, listed.output
    assert re.search(rf"image_url_failed\s*│\s*{EVENTS}\s*│\s*0\s*│", listed.output), listed.output
    shown = runner.invoke(app, ["dlq", "show", letters[0].position], env=env)
    assert shown.exit_code == 0, shown.output
    assert "image_url_failed" in shown.output and '"specversion": "1.0"' in shown.output  # pretty-printed JSON

    dry = runner.invoke(app, ["dlq", "replay", "--code", "image_url_failed", "--dry-run"], env=env)
    assert dry.exit_code == 0 and f"would replay {EVENTS}" in dry.output, dry.output
    time.sleep(2)
    assert not ids & set(tag_counts(settings))  # a dry run publishes nothing

    # the host is back: one replay tags every event once
    image_host.start()
    replayed = runner.invoke(app, ["dlq", "replay", "--code", "image_url_failed", "--by", "oncall"], env=env)
    assert replayed.exit_code == 0, replayed.output
    wait_for(lambda: ids <= set(tag_counts(settings)), 90, "every replayed event is tagged")
    again = subprocess.run([sys.executable, "-c", "from tools.cli.main import run; run()", "dlq", "replay", "--code",
                            "image_url_failed"], env={**os.environ, **env}, capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 2, again.stderr  # refused, in one line, no traceback
    assert "replayed before" in again.stderr and "--force" in again.stderr and "Traceback" not in again.stderr
    time.sleep(3)  # time enough for a duplicate to show
    counts = tag_counts(settings)
    assert {event_id: counts[event_id] for event_id in ids} == dict.fromkeys(ids, 1)

    replays = [r for r in read_topic(settings, Topics.EVENTS.name) if dict(r.headers or []).get(REPLAY_HEADER)]
    assert len(replays) == EVENTS
    assert {dict(r.headers)[REPLAY_HEADER].decode() for r in replays} == {
        f"{Topics.DEAD_LETTERS.name}/{letter.partition}/{letter.offset}" for letter in letters}
    listed = runner.invoke(app, ["dlq", "list"], env=env)
    assert listed.exit_code == 0 and re.search(rf"image_url_failed\s*│\s*{EVENTS}\s*│\s*{EVENTS}\s*│",
                                               listed.output), listed.output  # 12 dead letters, 12 replayed
