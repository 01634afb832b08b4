"""An ASGI app served by uvicorn on its own thread, for the processes with a web front (review console, operator API).

The socket is bound here, before uvicorn runs, so a taken port is an ``AddressInUseError`` naming the setting to
change (uvicorn itself would log the failed bind and end its thread, leaving the process running without its
front). Needs uvicorn (the ``review`` and ``controller`` extras); processes without a web front never import this.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from typing import Any

import uvicorn

from contracts.errors import TagstreamError
from runtime.errors import AddressInUseError


class ThreadedServer:
    """``app`` on ``host:port`` (0: any free port); ``port_setting`` names the setting that chose the port."""

    def __init__(self, app: Any, host: str, port: int, *, port_setting: str, name: str = "http") -> None:
        self.host, self.port, self._port_setting, self._name = host, port, port_setting, name
        self._server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                                     access_log=False, lifespan="off"))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> None:
        """Returns once the server answers; a taken port or a server that does not start raises."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        try:
            sock = socket.create_server((self.host, self.port), family=family)
        except OSError as e:
            if e.errno != errno.EADDRINUSE:
                raise
            raise AddressInUseError(f"port {self.port} on {self.host} is taken", field=self._port_setting,
                                    hint=f"set TAGSTREAM_{self._port_setting.upper()} to a free port, or stop what "
                                         "holds it") from e
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, name=self._name,
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                sock.close()
                raise TagstreamError(f"the web server on {self.url} did not start within {timeout_s:.0f} s",
                                     hint="see the lines above")
            time.sleep(0.02)

    def stop(self, timeout_s: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout_s)
