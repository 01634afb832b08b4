"""``/metrics``, ``/healthz`` and ``/readyz`` on one small HTTP server, in a background thread.

``serving_health`` is how a process serves them: the probes of whatever component runs now ("starting" until one
does, and again while it is rebuilt), from entering the block to leaving it.
"""

from __future__ import annotations

import errno
import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from runtime.errors import AddressInUseError

log = logging.getLogger(__name__)

#: A probe answers (ok, detail); detail is returned as JSON for people and scripts.
Probe = Callable[[], tuple[bool, dict[str, object]]]


class Probed(Protocol):
    """A running component that says whether it is alive and whether it is ready."""

    def liveness(self) -> tuple[bool, dict[str, object]]: ...

    def readiness(self) -> tuple[bool, dict[str, object]]: ...


def listen(host: str, port: int, handler: type[BaseHTTPRequestHandler], *, port_setting: str,
           serves: str) -> ThreadingHTTPServer:
    """A threading HTTP server bound to ``host:port``; a taken port is an ``AddressInUseError`` naming the setting
    (``port_setting``) that chose it and what ``serves`` there."""
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as e:
        if e.errno != errno.EADDRINUSE:
            raise
        raise AddressInUseError(f"port {port} on {host} is taken (it is for {serves})", field=port_setting,
                                hint=f"set TAGSTREAM_{port_setting.upper()} to a free port, or stop what holds it"
                                ) from e
    server.daemon_threads = True
    return server


class HealthServer:
    """``port_setting`` names the setting that chose ``port``, for the error when the port is taken."""

    def __init__(self, host: str, port: int, *, liveness: Probe, readiness: Probe,
                 port_setting: str = "metrics_port") -> None:
        probes = {"/healthz": liveness, "/readyz": readiness}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
                elif path in probes:
                    ok, detail = probes[path]()
                    self._send(200 if ok else 503, json.dumps({"ok": ok, **detail}).encode(), "application/json")
                else:
                    self._send(404, b'{"error": "try /metrics, /healthz or /readyz"}', "application/json")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                log.debug("%s " + format, self.address_string(), *args)

        self._server = listen(host, port, Handler, port_setting=port_setting,
                              serves="/metrics, /healthz and /readyz")
        self._thread = threading.Thread(target=self._server.serve_forever, name="health", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def serving_health(host: str, port: int, current: Callable[[], Probed | None], *,
                   port_setting: str = "metrics_port") -> Iterator[HealthServer]:
    """The probes of ``current()``: alive and not ready ("starting") while it is ``None``. Served inside the block."""

    def liveness() -> tuple[bool, dict[str, object]]:
        component = current()
        return (True, {"starting": True}) if component is None else component.liveness()

    def readiness() -> tuple[bool, dict[str, object]]:
        component = current()
        return (False, {"starting": True}) if component is None else component.readiness()

    health = HealthServer(host, port, liveness=liveness, readiness=readiness, port_setting=port_setting)
    health.start()
    log.info("metrics, /healthz and /readyz on http://%s:%d", host, health.port)
    try:
        yield health
    finally:
        health.stop()
