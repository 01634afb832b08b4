"""``python -m services.tritonhost``: serve until SIGTERM or SIGINT, then stop tritonserver and exit 0.

A model that cannot be served (missing file, wrong tensors, no CUDA) or invalid settings are one error line
naming the cause and the fix, and exit status 2, before tritonserver starts.
"""

from __future__ import annotations

import logging
import sys
import threading

from runtime.process import run_service
from services.tritonhost.control import ControlServer
from services.tritonhost.server import TritonHost
from services.tritonhost.settings import TritonHostSettings

log = logging.getLogger("services.tritonhost")

#: How often the main thread checks that tritonserver and the model are still alive.
WATCH_PERIOD_S = 1.0


def main() -> int:
    return run_service("tritonhost", TritonHostSettings, serve, log_level=lambda s: s.log_level)


def serve(settings: TritonHostSettings, stop: threading.Event) -> int:
    """Serve until ``stop`` (0), or until tritonserver or the model stops on its own (1)."""
    host = TritonHost(settings)
    control: ControlServer | None = None
    try:
        host.start()  # a model that cannot be served raises ModelLoadError here, before tritonserver runs
        if settings.control_port:
            control = ControlServer(host, settings)
            control.start()
        while not stop.wait(WATCH_PERIOD_S):
            if not host.alive():
                log.error("tritonserver or the model stopped on its own; exiting (see the lines above)")
                return 1
        return 0
    finally:
        if control is not None:
            control.stop()
        host.stop()


if __name__ == "__main__":
    sys.exit(main())
