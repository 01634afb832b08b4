"""A loopback image host for benchmarks and tests: images over HTTP/1.1 after a fixed delay, like a CDN.

One asyncio loop in a background thread serves every connection (keep-alive honoured, so a fetcher that
reuses connections can), which keeps the host's own CPU small beside the tagger it feeds. ``tarpit=True``
makes a host that never finishes an answer: it sends the headers and then one byte a second, forever, as
a broken or hostile server would; a fetcher must give up at its own deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Mapping
from types import TracebackType

from tools.stack.settings import LOOPBACK

_REASONS = {200: "OK", 404: "Not Found"}


class ImageHost:
    """Serves ``images`` (path -> body, e.g. ``/p-1.jpg``) on ``127.0.0.1:port`` after ``delay_s``."""

    def __init__(self, images: Mapping[str, bytes], *, delay_s: float = 0.05, tarpit: bool = False) -> None:
        self.images = images
        self.delay_s = delay_s
        self.tarpit = tarpit
        self.requests = 0
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0

    @property
    def port(self) -> int:
        return self._port

    @property
    def address(self) -> str:
        """``host:port``, as ``TAGSTREAM_URL_ALLOW_HOSTS`` names it."""
        return f"{LOOPBACK}:{self._port}"

    def url(self, path: str) -> str:
        return f"http://{self.address}{path}"

    def start(self) -> ImageHost:
        self._server = self._loop.run_until_complete(asyncio.start_server(self._serve, LOOPBACK, 0, backlog=1024))
        self._port = self._server.sockets[0].getsockname()[1]
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"image-host-{self._port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        with contextlib.suppress(TimeoutError, RuntimeError):
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._thread = None
        self._loop.close()

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __enter__(self) -> ImageHost:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                request = await reader.readline()
                if not request:
                    return
                parts = request.decode("latin-1").split()
                headers = {}
                while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip().lower()
                self.requests += 1
                await asyncio.sleep(self.delay_s)
                path = parts[1] if len(parts) > 1 else "/"
                body = self.images.get(path)
                if self.tarpit:
                    await self._drip(writer, len(body or b"x") + 1)
                    return
                status = 200 if body is not None else 404
                body = body if body is not None else b"no such image"
                close = headers.get("connection") == "close" or parts[-1] == "HTTP/1.0"
                writer.write(_head(status, len(body), close) + body)
                await writer.drain()
                if close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return
        finally:
            with contextlib.suppress(ConnectionError, RuntimeError):
                writer.close()

    @staticmethod
    async def _drip(writer: asyncio.StreamWriter, length: int) -> None:
        writer.write(_head(200, length, close=True))
        for _ in range(length):
            writer.write(b"\0")
            await writer.drain()
            await asyncio.sleep(1.0)


def _head(status: int, length: int, close: bool) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS[status]}", "Content-Type: image/jpeg", f"Content-Length: {length}",
             f"Connection: {'close' if close else 'keep-alive'}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
