"""A local image host: serves image files over HTTP/1.1 on loopback, with a delay per answer, for demos,
benches and tests of the URL path.

It runs an asyncio server on its own thread, so hundreds of connections wait out their delays at once,
and keeps connections alive (HTTP/1.1). It counts what reaches it (connections, requests, the most at
once), which is how tests see concurrency and keep-alive without timing anything. Its ``mode`` can
change while it runs:

- ``serve``: each request is answered after ``delay_s``: the image, or 404 for an unknown name;
- ``error``: each request is answered 503 after the delay (a failing host, for circuit breakers);
- ``silent``: a tarpit that accepts, reads the request and never answers;
- ``headers``: a tarpit that sends the status line and headers, then never the body.

Tarpits hold their connections until :meth:`ImageHost.stop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import mimetypes
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import quote, unquote, urlsplit

from contracts.errors import TagstreamError

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
PREFIX = "/images/"
_MAX_HEADERS = 100
_BACKLOG = 2048


class ImageHostError(TagstreamError):
    """The image host cannot listen where it was asked to."""

    code = "image_host_failed"


class Mode(enum.StrEnum):
    SERVE = "serve"
    ERROR = "error"
    SILENT = "silent"
    HEADERS = "headers"


@dataclass(frozen=True)
class HostStats:
    """What reached the host since it started (or since :meth:`ImageHost.reset_stats`)."""

    connections: int  # accepted
    open_connections: int
    max_open_connections: int
    requests: int  # request heads read
    active_requests: int
    max_active_requests: int


class _Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values = dict.fromkeys(HostStats.__dataclass_fields__, 0)

    def enter(self, total: str, current: str, peak: str) -> None:
        with self.lock:
            self.values[total] += 1
            self.values[current] += 1
            self.values[peak] = max(self.values[peak], self.values[current])

    def leave(self, current: str) -> None:
        with self.lock:
            self.values[current] -= 1

    def snapshot(self) -> HostStats:
        with self.lock:
            return HostStats(**self.values)

    def reset(self) -> None:
        with self.lock:
            for name in ("connections", "requests", "max_open_connections", "max_active_requests"):
                self.values[name] = 0
            self.values["max_open_connections"] = self.values["open_connections"]
            self.values["max_active_requests"] = self.values["active_requests"]


class ImageHost:
    """Image files by name at ``http://127.0.0.1:PORT/images/NAME``; see the module docstring."""

    def __init__(self, *, port: int = 0, delay_s: float = 0.0, mode: Mode | str = Mode.SERVE) -> None:
        if delay_s < 0:
            raise ImageHostError(f"the delay must be zero or more seconds, got {delay_s}")
        self.delay_s = delay_s
        self.mode = Mode(mode)
        self._requested_port = port
        self._images: dict[str, tuple[bytes, str]] = {}
        self._counters = _Counters()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._handlers: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._stopping: asyncio.Event | None = None  # made on the loop
        self.port = 0

    @property
    def address(self) -> str:
        """``host:port``, as TAGSTREAM_URL_ALLOW_HOSTS must name it."""
        return f"{LOOPBACK}:{self.port}"

    def url(self, name: str) -> str:
        return f"http://{self.address}{PREFIX}{quote(name)}"

    def put(self, name: str, body: bytes, content_type: str | None = None) -> str:
        """Serve ``body`` as ``name`` (thread-safe); returns its URL."""
        kind = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        self._images[name] = (body, kind)
        return self.url(name)

    def __len__(self) -> int:
        return len(self._images)

    def stats(self) -> HostStats:
        return self._counters.snapshot()

    def reset_stats(self) -> None:
        self._counters.reset()

    # lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> ImageHost:
        if self._loop is not None:
            return self
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="image-host", daemon=True)
        thread.start()
        try:
            self._server = asyncio.run_coroutine_threadsafe(self._listen(), loop).result()
        except OSError as e:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()
            raise ImageHostError(f"the image host cannot listen on {LOOPBACK}:{self._requested_port}: "
                                 f"{e.strerror or e}", hint="choose another port, or 0 for a free one") from e
        self._loop, self._thread = loop, thread
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("image host on http://%s%s (%s, %.0f ms per answer)", self.address, PREFIX, self.mode.value,
                 self.delay_s * 1000)
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        self._loop = self._thread = self._server = None

    def __enter__(self) -> ImageHost:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    async def _listen(self) -> asyncio.Server:
        self._stopping = asyncio.Event()
        return await asyncio.start_server(self._connection, LOOPBACK, self._requested_port, backlog=_BACKLOG,
                                          reuse_address=True)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._stopping is not None:
            self._stopping.set()  # tarpits let go
        handlers = list(self._handlers.items())
        for _, writer in handlers:
            writer.close()  # a connection waiting for its next request sees the end of the stream
        await asyncio.gather(*(task for task, _ in handlers), return_exceptions=True)

    # HTTP/1.1 --------------------------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers[task] = writer
        self._counters.enter("connections", "open_connections", "max_open_connections")
        try:
            while (head := await _read_head(reader)) is not None:
                self._counters.enter("requests", "active_requests", "max_active_requests")
                try:
                    keep_alive = await self._answer(reader, writer, *head)
                finally:
                    self._counters.leave("active_requests")
                if not keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass  # a client that hangs up or sends garbage: drop the connection
        finally:
            self._counters.leave("open_connections")
            writer.close()
            if task is not None:
                self._handlers.pop(task, None)

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, method: str, target: str,
                      keep_alive: bool) -> bool:
        mode = self.mode
        if mode is Mode.SILENT:
            await self._hold(reader)
            return False
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        path = unquote(urlsplit(target).path)
        found = self._images.get(path[len(PREFIX):]) if path.startswith(PREFIX) else None
        if mode is Mode.ERROR:
            status, body, kind = "503 Service Unavailable", b"unavailable", "text/plain"
        elif method not in ("GET", "HEAD"):
            status, body, kind, keep_alive = "405 Method Not Allowed", b"GET only", "text/plain", False
        elif found is None:
            status, body, kind = "404 Not Found", b"no such image", "text/plain"
        else:
            status, (body, kind) = "200 OK", found
        head = (f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
                f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n")
        writer.write(head.encode("latin-1"))
        if mode is Mode.HEADERS:
            await writer.drain()
            await self._hold(reader)  # the body never comes
            return False
        if method != "HEAD":
            writer.write(body)
        await writer.drain()
        return keep_alive

    async def _hold(self, reader: asyncio.StreamReader) -> None:
        """A tarpit's wait: until the host stops or the client hangs up (so the counts show live clients)."""
        waits: list[asyncio.Future[object]] = [asyncio.ensure_future(_until_closed(reader))]
        if self._stopping is not None:
            waits.append(asyncio.ensure_future(self._stopping.wait()))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()


async def _until_closed(reader: asyncio.StreamReader) -> None:
    with contextlib.suppress(ConnectionError):
        while await reader.read(64 * 1024):
            pass  # whatever the client sends now is ignored


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, str, bool] | None:
    """The next request's method, target and whether the connection stays open; None when the client is done."""
    line = await reader.readline()
    if not line.strip():
        return None
    method, target, version = line.decode("latin-1").split()
    headers: dict[str, str] = {}
    for _ in range(_MAX_HEADERS):
        field = await reader.readline()
        if field in (b"\r\n", b"\n", b""):
            break
        name, _, value = field.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    if length:
        await reader.readexactly(min(length, 1 << 20))
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
    return method, target, keep_alive


_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


def publisher(host: ImageHost, image_format: str = "JPEG", *, tarpit: ImageHost | None = None,
              tarpit_ratio: float = 0.0) -> Callable[[str, bytes], str]:
    """What ``generate(image_url=...)`` calls: puts each product's image on ``host`` and returns its URL.

    With a ``tarpit``, ``tarpit_ratio`` of the products (chosen by a stable hash of the product id) get a
    URL on the tarpit instead, which never answers: their fetches fail by their deadline.
    """
    extension = _EXTENSIONS.get(image_format.upper(), image_format.lower())
    cut = round(tarpit_ratio * 10_000)

    def publish(product_id: str, image: bytes) -> str:
        name = f"{product_id}.{extension}"
        if tarpit is not None and zlib.crc32(product_id.encode()) % 10_000 < cut:
            return tarpit.url(name)
        return host.put(name, image)

    return publish
