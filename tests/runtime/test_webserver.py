"""A web front on its own thread: ``start`` returns once it listens, or says which setting to change."""

from __future__ import annotations

import socket
import urllib.request
from typing import Any

import pytest

from runtime.errors import AddressInUseError
from runtime.webserver import ThreadedServer


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello"})


def test_start_returns_once_it_serves_and_stop_ends_it() -> None:
    server = ThreadedServer(app, "127.0.0.1", _free_port(), port_setting="api_port")
    server.start()
    try:
        with urllib.request.urlopen(server.url, timeout=5) as response:
            assert response.read() == b"hello"
    finally:
        server.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(server.url, timeout=2)


def test_start_raises_naming_the_setting_when_port_is_taken(held_port: int) -> None:
    with pytest.raises(AddressInUseError, match=f"port {held_port} on 127.0.0.1 is taken") as info:
        ThreadedServer(app, "127.0.0.1", held_port, port_setting="console_port").start(timeout_s=10)
    assert info.value.field == "console_port" and "TAGSTREAM_CONSOLE_PORT" in str(info.value)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
