"""The monitor process: wire settings, Kafka clients, the monitor, metrics and snapshots; SIGTERM stops it."""

from __future__ import annotations

import logging
import sys
import threading
import warnings
from contextlib import ExitStack

from kafka import KafkaConsumer

from contracts import Topics
from monitoring.monitor import Monitor
from monitoring.publish import Publisher
from monitoring.writer import SnapshotWriter
from runtime import kafka
from runtime.health import serving_health
from runtime.process import run_service
from services.monitor.loop import MonitorLoop, OnLabels, OnWindow
from services.monitor.replay import rebuild_index
from services.monitor.settings import MonitorSettings

log = logging.getLogger("services.monitor")


def tag_topics(settings: MonitorSettings) -> list[str]:
    return [Topics.TAGS.name, *([Topics.TAGS_SHADOW.name] if settings.monitor_read_shadow else [])]


def consumers(settings: MonitorSettings) -> tuple[KafkaConsumer, KafkaConsumer]:
    """The group consumer of tags, shadow tags and labels, and the group-less reader of tagstream.models."""
    topics = [*tag_topics(settings), Topics.LABELS.name]
    consumer = kafka.consumer(settings, group_id=settings.monitor_group_id, client_id=settings.monitor_instance_id,
                              session_timeout_ms=settings.monitor_session_timeout_ms,
                              heartbeat_interval_ms=settings.monitor_heartbeat_interval_ms,
                              max_poll_records=settings.monitor_max_poll_records)
    consumer.subscribe(topics)
    models = kafka.consumer(settings, group_id=None, client_id=f"{settings.monitor_instance_id}-models")
    MonitorLoop.assign_models(models)
    return consumer, models


def _connect(settings: MonitorSettings, stop: threading.Event) -> tuple[KafkaConsumer, KafkaConsumer] | None:
    return kafka.until_connected(lambda: consumers(settings), stop, bootstrap=settings.kafka_bootstrap)


def serve(settings: MonitorSettings, stop: threading.Event, *, on_window: OnWindow | None = None,
          on_labels: OnLabels | None = None, loop_ready: threading.Event | None = None,
          loops: list[MonitorLoop] | None = None) -> int:
    """Run the monitor until ``stop``; ``on_window``/``on_labels`` see every report (tests and benchmarks)."""
    config = settings.monitor_config()
    monitor = Monitor(config)
    publisher = Publisher(config.targets)
    with ExitStack() as stack:
        snapshots = None
        if settings.monitor_snapshots:
            snapshots = SnapshotWriter(settings.monitor_workspace, keep=settings.monitor_snapshot_keep)
            snapshots.start()
            stack.callback(snapshots.stop)
        clients = _connect(settings, stop)
        if clients is None:
            return 0
        rebuild_index(settings, monitor, tag_topics(settings))
        consumer, models = clients
        stack.callback(consumer.close)
        stack.callback(models.close)
        loop = MonitorLoop(consumer=consumer, models=models, monitor=monitor, publisher=publisher,
                           snapshots=snapshots, max_poll_records=settings.monitor_max_poll_records,
                           commit_interval_s=settings.monitor_commit_interval_ms / 1000, on_window=on_window,
                           on_labels=on_labels)
        if loops is not None:
            loops.append(loop)
        if loop_ready is not None:
            loop_ready.set()
        return loop.run(stop)


def _settings() -> MonitorSettings:
    settings = MonitorSettings()
    settings.monitor_config()  # the drift and quality settings, checked before anything starts
    return settings


def main() -> int:
    return run_service("monitor", _settings, _serve_process, log_level=lambda s: s.monitor_log_level,
                       instance=lambda s: s.monitor_instance_id)


def _serve_process(settings: MonitorSettings, stop: threading.Event) -> int:
    # Evidently's classification metrics on a small batch of labels often meet a class never predicted; scikit-learn
    # then warns on every report (precision set to 0, as it should be). Keep the log readable.
    warnings.filterwarnings("ignore", message=".*ill-defined.*")
    log.info("starting with %s", settings.redacted())
    loops: list[MonitorLoop] = []
    with serving_health(settings.monitor_host, settings.monitor_port, lambda: loops[-1] if loops else None,
                        port_setting="monitor_port"):
        return serve(settings, stop, loops=loops)


if __name__ == "__main__":
    sys.exit(main())
