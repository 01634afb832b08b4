"""``python -m services.tritonhost``: serve until SIGTERM or SIGINT, then stop tritonserver and exit 0.

A model that cannot be served (missing file, wrong tensors, no CUDA) or invalid settings are one error line
naming the cause and the fix, and exit status 2, before tritonserver starts.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from runtime.errors import SettingsError
from runtime.logs import configure
from services.tritonhost.control import ControlServer
from services.tritonhost.errors import ModelLoadError
from services.tritonhost.server import TritonHost
from services.tritonhost.settings import TritonHostSettings

log = logging.getLogger("services.tritonhost")

#: How often the main thread checks that tritonserver and the model are still alive.
WATCH_PERIOD_S = 1.0


def main() -> int:
    try:
        settings = TritonHostSettings()
    except SettingsError as e:
        print(f"tritonhost: {e}", file=sys.stderr)
        return 2
    configure(settings.log_level, name="tritonhost")
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s received, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    host = TritonHost(settings)
    control: ControlServer | None = None
    try:
        host.start()
        if settings.control_port:
            control = ControlServer(host, settings)
            control.start()
        while not stop.wait(WATCH_PERIOD_S):
            if not host.alive():
                log.error("tritonserver or the model stopped on its own; exiting (see the lines above)")
                return 1
        return 0
    except ModelLoadError as e:  # raised by start, before tritonserver runs
        log.error("cannot serve the model: %s", e)
        return 2
    finally:
        if control is not None:
            control.stop()
        host.stop()


if __name__ == "__main__":
    sys.exit(main())
