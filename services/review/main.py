"""The review console process: settings, Kafka clients, the queue and the web server, in that order.

SIGTERM or Ctrl-C stops the web server, then the queue (which commits what was decided and leaves the
group: undecided items go back to the queue for the next console), then the producer.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from contextlib import ExitStack
from typing import Any

import uvicorn
from kafka.errors import KafkaError
from pydantic import ValidationError
from pydantic_settings import SettingsError

from contracts.errors import TagstreamError
from runtime import kafka
from runtime.logs import configure
from services.review import metrics
from services.review.app import Console, create_app
from services.review.auth import Sessions
from services.review.choices import LabelChoices
from services.review.errors import ReviewError
from services.review.images import ImageSource
from services.review.leases import LeaseBook
from services.review.queue import ReviewQueue
from services.review.settings import ReviewSettings
from services.review.stats import ReviewStats

log = logging.getLogger("services.review")


def connect(settings: ReviewSettings, stop: threading.Event) -> tuple[Any, Any] | None:
    """Consumer and producer; waits for the broker (a log line now and then) until it answers or stop is set."""
    delay, last_log = 0.5, 0.0
    while not stop.is_set():
        try:
            consumer = kafka.consumer(settings, group_id=settings.review_group_id, client_id=settings.instance_id,
                                      session_timeout_ms=settings.session_timeout_ms,
                                      heartbeat_interval_ms=settings.heartbeat_interval_ms, max_poll_records=200)
            producer = kafka.producer(settings, client_id=settings.instance_id, linger_ms=0)
            return consumer, producer
        except KafkaError as e:
            if time.monotonic() - last_log > 10:
                log.warning("Kafka at %s not reachable (%s); retrying", settings.kafka_bootstrap, e)
                last_log = time.monotonic()
            stop.wait(delay)
            delay = min(delay * 2, 5.0)
    return None


def build(settings: ReviewSettings, *, consumer: Any, producer: Any) -> Console:
    if not settings.reviewers:
        raise ReviewError("no reviewer can sign in", field="reviewers",
                          hint='set TAGSTREAM_REVIEWERS=\'{"name": "<hash>"}\' with hashes from '
                               "`tagstream review hash-password`")
    choices = (LabelChoices.from_label_files(settings.labels_dir) if settings.labels_dir is not None
               else LabelChoices.from_taxonomy())
    book = LeaseBook(settings.lease_timeout_s, on_expired=metrics.LEASES_EXPIRED.inc)
    queue = ReviewQueue(settings, consumer=consumer, producer=producer, book=book, stats=ReviewStats())
    return Console(queue=queue, sessions=Sessions(settings.reviewers, ttl_s=settings.session_ttl_s),
                   choices=choices,
                   images=ImageSource(max_bytes=settings.image_max_bytes, timeout_s=settings.image_timeout_s,
                                      allow_hosts=frozenset(settings.image_allow_hosts)),
                   lease_timeout_s=settings.lease_timeout_s, secure_cookies=settings.secure_cookies)


class ConsoleServer:
    """The console on its own thread: ``start`` returns once it listens; ``stop`` shuts it down in order."""

    def __init__(self, settings: ReviewSettings) -> None:
        self.settings = settings
        self._stack = ExitStack()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.console: Console | None = None

    def start(self, stop: threading.Event | None = None, *, timeout_s: float = 30.0) -> None:
        clients = connect(self.settings, stop or threading.Event())
        if clients is None:
            return
        consumer, producer = clients
        self._stack.callback(producer.close, timeout=10)
        self.console = build(self.settings, consumer=consumer, producer=producer)
        self.console.queue.start()
        self._stack.callback(self.console.queue.stop)
        config = uvicorn.Config(create_app(self.console), host=self.settings.console_host,
                                port=self.settings.console_port,
                                log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="review-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ReviewError(f"the console could not listen on {self.url}",
                                  hint="is the port taken? set TAGSTREAM_CONSOLE_PORT")
            time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"http://{self.settings.console_host}:{self.settings.console_port}"

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
        self._stack.close()


def main() -> int:
    try:
        settings = ReviewSettings()
    except (ValidationError, SettingsError, TagstreamError) as e:
        print(f"review: invalid settings: {e}", file=sys.stderr)
        return 2
    configure(settings.log_level, name=settings.instance_id)
    log.info("starting with %s", {k: v for k, v in settings.redacted().items() if k != "reviewers"})
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    server = ConsoleServer(settings)
    try:
        server.start(stop)
    except TagstreamError as e:
        log.error("%s", e)
        return 2
    if server.console is None:  # stopped while waiting for the broker
        return 0
    log.info("review console on %s (%d reviewers)", server.url, len(settings.reviewers))
    try:
        stop.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
