"""The review console process: settings, Kafka clients, the queue and the web server, in that order.

SIGTERM or Ctrl-C stops the web server, then the queue (which commits what was decided and leaves the
group: undecided items go back to the queue for the next console), then the producer.
"""

from __future__ import annotations

import logging
import sys
import threading
from contextlib import ExitStack
from typing import Any

from contracts.errors import TagstreamError
from runtime import kafka
from runtime.process import run_service
from runtime.webserver import ThreadedServer
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


def _clients(settings: ReviewSettings) -> tuple[Any, Any]:
    consumer = kafka.consumer(settings, group_id=settings.review_group_id, client_id=settings.instance_id,
                              session_timeout_ms=settings.session_timeout_ms,
                              heartbeat_interval_ms=settings.heartbeat_interval_ms, max_poll_records=200)
    producer = kafka.producer(settings, client_id=settings.instance_id, linger_ms=0)
    return consumer, producer


def connect(settings: ReviewSettings, stop: threading.Event) -> tuple[Any, Any] | None:
    """Consumer and producer; waits for the broker (a log line now and then) until it answers or stop is set."""
    return kafka.until_connected(lambda: _clients(settings), stop, bootstrap=settings.kafka_bootstrap)


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
        self._web: ThreadedServer | None = None
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
        self._web = ThreadedServer(create_app(self.console), self.settings.console_host, self.settings.console_port,
                                   port_setting="console_port", name="review-http")
        try:
            self._web.start(timeout_s)
        except TagstreamError:
            self.stop()
            raise

    @property
    def url(self) -> str:
        if self._web is not None:
            return self._web.url
        return f"http://{self.settings.console_host}:{self.settings.console_port}"

    def stop(self) -> None:
        if self._web is not None:
            self._web.stop()
        self._stack.close()


def main() -> int:
    return run_service("review console", ReviewSettings, serve, log_level=lambda s: s.log_level,
                       instance=lambda s: s.instance_id)


def serve(settings: ReviewSettings, stop: threading.Event) -> int:
    """The console until ``stop``; a console that cannot start raises ``ReviewError`` naming the fix."""
    log.info("starting with %s", {k: v for k, v in settings.redacted().items() if k != "reviewers"})
    server = ConsoleServer(settings)
    server.start(stop)
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
