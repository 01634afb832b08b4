"""The local image host: what it serves, how many connections it holds at once, its tarpits, and
``tagstream produce --image-host``, whose events carry URLs on it instead of inline bytes."""

from __future__ import annotations

import asyncio
import base64
import http.client
import re
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kafka import KafkaConsumer
from typer.testing import CliRunner

from contracts import CatalogEvent, Topics
from services.tagger.fetch import FetchPolicy, ImageFetcher
from tools.cli.main import app
from tools.traffic.imagehost import ImageHost, ImageHostError, Mode, publisher
from tools.traffic.synthetic import generate

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def host() -> Iterator[ImageHost]:
    with ImageHost() as image_host:
        image_host.put("a.png", b"PNG a")
        yield image_host


def _get(connection: http.client.HTTPConnection, path: str) -> tuple[int, bytes, str | None]:
    connection.request("GET", path)
    response = connection.getresponse()
    return response.status, response.read(), response.getheader("Content-Type")


def test_host_serves_images_by_name_and_404_otherwise_on_one_kept_alive_connection(host: ImageHost) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=5)
    try:
        assert _get(connection, "/images/a.png") == (200, b"PNG a", "image/png")
        assert _get(connection, "/images/b.png")[0] == 404
        assert _get(connection, "/elsewhere")[0] == 404
        assert _get(connection, "/images/a.png")[1] == b"PNG a"
    finally:
        connection.close()
    stats = host.stats()
    assert (stats.connections, stats.requests) == (1, 4)
    assert host.url("a.png") == f"http://127.0.0.1:{host.port}/images/a.png"


def test_host_answers_503_in_error_mode(host: ImageHost) -> None:
    host.mode = Mode.ERROR
    connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=5)
    try:
        assert _get(connection, "/images/a.png")[0] == 503
    finally:
        connection.close()


def test_host_holds_hundreds_of_connections_waiting_out_their_delay_at_once() -> None:
    count = 300

    async def one(port: int) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /images/a.png HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = await reader.read()
        writer.close()
        return answer

    async def many(port: int) -> list[bytes]:
        return await asyncio.gather(*(one(port) for _ in range(count)))

    with ImageHost(delay_s=1.0) as image_host:
        image_host.put("a.png", b"PNG a")
        answers = asyncio.run(many(image_host.port))
        stats = image_host.stats()
    assert all(a.startswith(b"HTTP/1.1 200 OK") and a.endswith(b"PNG a") for a in answers)
    assert stats.max_active_requests == count


@pytest.mark.parametrize(("mode", "expected"), [(Mode.SILENT, b""), (Mode.HEADERS, b"HTTP/1.1 200 OK")])
def test_tarpit_accepts_and_never_finishes_its_answer(mode: Mode, expected: bytes) -> None:
    image_host = ImageHost(mode=mode).start()
    image_host.put("a.png", b"PNG a")
    with socket.create_connection(("127.0.0.1", image_host.port), timeout=0.5) as client:
        client.sendall(b"GET /images/a.png HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        with pytest.raises(TimeoutError):
            while True:
                received += client.recv(4096)
        assert received.startswith(expected)
        assert not received.endswith(b"PNG a")
        assert image_host.stats().active_requests == 1
        image_host.stop()  # lets the tarpit's connections go
        client.settimeout(5)
        assert client.recv(4096) == b""


def test_host_refuses_a_port_in_use_with_an_error_naming_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ImageHostError, match=f"127.0.0.1:{port}"):
            ImageHost(port=port).start()


def test_events_carry_urls_whose_images_equal_the_inline_ones(host: ImageHost) -> None:
    inline = [CatalogEvent.model_validate_json(r.value) for r in generate(12, seed=3)]
    by_url = [CatalogEvent.model_validate_json(r.value)
              for r in generate(12, seed=3, image_url=publisher(host, "JPEG"))]
    policy = FetchPolicy(allow_hosts=frozenset({host.address}))
    with ImageFetcher(policy) as fetcher:
        for plain, linked in zip(inline, by_url, strict=True):
            assert plain.data.image is not None and linked.data.image is not None
            assert linked.data.image.inline is None
            assert linked.data.image.url == host.url(f"{linked.data.product_id}.jpg")
            assert fetcher.fetch_sync(linked.data.image.url) == base64.b64decode(plain.data.image.inline or "")


def test_publisher_puts_the_tarpit_share_of_products_on_the_tarpit(host: ImageHost) -> None:
    with ImageHost(mode=Mode.SILENT) as tarpit:
        publish = publisher(host, "PNG", tarpit=tarpit, tarpit_ratio=0.1)
        urls = [publish(f"p-{i}", b"image") for i in range(2000)]
    on_tarpit = [u for u in urls if u.startswith(f"http://{tarpit.address}/")]
    assert 150 <= len(on_tarpit) <= 250
    assert len(host) == 1 + 2000 - len(on_tarpit)  # the fixture's a.png, and the rest
    assert urls == [publisher(host, "PNG", tarpit=tarpit, tarpit_ratio=0.1)(f"p-{i}", b"image") for i in range(2000)]


def test_produce_refuses_image_options_without_image_host() -> None:
    result = CliRunner().invoke(app, ["produce", "--synthetic", "5", "--image-delay-ms", "20"])
    assert result.exit_code == 2
    assert "--image-host" in result.output


def _read_events(bootstrap: str, count: int, timeout_s: float = 30.0) -> list[CatalogEvent]:
    consumer = KafkaConsumer(Topics.EVENTS.name, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=int(timeout_s * 1000))
    events: list[CatalogEvent] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(events) < count and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                events.extend(CatalogEvent.model_validate_json(r.value) for r in batch)
    finally:
        consumer.close()
    return events


@pytest.mark.integration
def test_produce_with_image_host_sends_urls_on_the_host_it_names(stack_factory: Any) -> None:
    stack = stack_factory(["broker"])
    result = CliRunner().invoke(
        app, ["produce", "--synthetic", "20", "--no-progress", "--image-host", "--image-delay-ms", "5",
              "--image-tarpit-ratio", "0.2", "--image-linger", "0"],
        env={"TAGSTREAM_KAFKA_BOOTSTRAP": stack.settings.bootstrap, "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    allowed = re.search(r"^TAGSTREAM_URL_ALLOW_HOSTS=(127\.0\.0\.1:\d+),(127\.0\.0\.1:\d+)$", result.output, re.M)
    assert allowed is not None, result.output
    events = _read_events(stack.settings.bootstrap, 20)
    assert len(events) == 20
    urls = [e.data.image.url for e in events if e.data.image is not None]
    assert len(urls) == 20
    assert all(u is not None and u.startswith((f"http://{allowed[1]}/images/", f"http://{allowed[2]}/images/"))
               for u in urls)
    assert any(u is not None and allowed[2] in u for u in urls)  # some on the tarpit
