"""After a restart, rebuild the label index from the tags the monitor already read, so late labels still join.

The monitor's state lives in memory and its group resumes from the committed offsets, so the tags before them
would be gone from the index, and their labels (which may come hours later) would expire unjoined. Before the
loop starts, ``rebuild_index`` reads, without a group, up to ``per_partition`` tags before each committed offset
of ``catalog.tags`` and ``catalog.tags.shadow`` (the index's capacity split over the partitions) and hands them
to ``Monitor.remember``: into the index only, no window judged, no metric. A first start (nothing committed)
reads nothing. It stops after ``timeout_s`` whatever it has read.
"""

from __future__ import annotations

import logging
import time

from kafka import KafkaConsumer, TopicPartition
from pydantic import ValidationError

from contracts import TagPrediction
from monitoring.monitor import Monitor
from runtime import kafka
from services.monitor.settings import MonitorSettings

log = logging.getLogger(__name__)


def committed_offsets(settings: MonitorSettings, topics: list[str]) -> dict[TopicPartition, int]:
    """The monitor group's committed offset of every partition of ``topics`` (asked without joining the group)."""
    probe: KafkaConsumer = kafka.consumer(settings, group_id=settings.monitor_group_id,
                                          client_id=f"{settings.monitor_instance_id}-offsets")
    try:
        offsets = {}
        for topic in topics:
            for partition in sorted(probe.partitions_for_topic(topic) or ()):
                tp = TopicPartition(topic, partition)
                committed = probe.committed(tp)
                if committed:
                    offsets[tp] = committed
        return offsets
    finally:
        probe.close(autocommit=False)


def rebuild_index(settings: MonitorSettings, monitor: Monitor, topics: list[str], *, timeout_s: float = 120.0) -> int:
    """Put the tags read before the committed offsets back into ``monitor``'s index; returns how many."""
    ends = committed_offsets(settings, topics)
    if not ends:
        return 0
    per_partition = max(1, settings.monitor_index_capacity // len(ends))
    reader: KafkaConsumer = kafka.consumer(settings, group_id=None, client_id=f"{settings.monitor_instance_id}-replay",
                                           max_poll_records=settings.monitor_max_poll_records)
    tags: list[TagPrediction] = []
    started = time.monotonic()
    try:
        reader.assign(list(ends))
        for tp, end in ends.items():
            reader.seek(tp, max(0, end - per_partition))
        left = set(ends)
        while left and time.monotonic() - started < timeout_s:
            for tp, records in reader.poll(timeout_ms=500).items():
                for record in records:
                    if record.offset >= ends[tp] or record.value is None:
                        continue
                    try:
                        tags.append(TagPrediction.model_validate_json(record.value))
                    except ValidationError:
                        continue
            left = {tp for tp in left if reader.position(tp) < ends[tp]}
    finally:
        reader.close()
    monitor.remember(tags)
    log.info("label index rebuilt with %d tags read before the restart (%.1f s)", len(tags),
             time.monotonic() - started)
    return len(tags)
