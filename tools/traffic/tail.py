"""Print what is on a topic, readably: each record as ``tools.traffic.describe`` shows its topic's message.

The tail joins no consumer group and commits nothing: it assigns itself every partition and seeks
to the beginning or the end, so watching a topic never moves a real consumer's offsets.
"""

from __future__ import annotations

import logging
import sys
import time

from kafka import TopicPartition
from kafka.errors import KafkaError, KafkaTimeoutError
from rich.console import Console

from contracts.errors import TagstreamError
from runtime.kafka import BrokerUnavailable, consumer
from runtime.settings import KafkaSettings
from tools.traffic.describe import as_json_line, describe

log = logging.getLogger(__name__)

BROKER_HINT = "set TAGSTREAM_KAFKA_BOOTSTRAP, or start a local broker with `tagstream up`"


class TailError(TagstreamError):
    code = "tail_failed"


def tail(settings: KafkaSettings, topic: str, *, from_beginning: bool, max_messages: int | None,
         timeout_s: float | None, as_json: bool, console: Console | None = None) -> int:
    """Print records of ``topic`` until ``max_messages`` were shown, ``timeout_s`` passed with no new
    record, or Ctrl-C. Returns how many were shown."""
    console = console or Console(highlight=False)
    try:
        client = consumer(settings, group_id=None, client_id="tail", bootstrap_timeout_ms=5_000)
    except KafkaTimeoutError as e:
        raise BrokerUnavailable(f"no Kafka broker answers at {settings.kafka_bootstrap}",
                                hint=BROKER_HINT) from e
    shown = 0
    try:
        partitions = client.partitions_for_topic(topic)
        if not partitions:
            raise TailError(f"topic {topic} does not exist on {settings.kafka_bootstrap}",
                            hint="`tagstream up` creates the tagstream topics")
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        client.assign(assigned)
        (client.seek_to_beginning if from_beginning else client.seek_to_end)(*assigned)
        last = time.monotonic()
        while max_messages is None or shown < max_messages:
            batch = client.poll(timeout_ms=200)
            if not batch:
                if timeout_s is not None and time.monotonic() - last >= timeout_s:
                    break
                continue
            last = time.monotonic()
            for record in (r for records in batch.values() for r in records):
                if as_json:
                    sys.stdout.write(as_json_line(record) + "\n")
                    sys.stdout.flush()
                else:
                    console.print(describe(record))
                shown += 1
                if max_messages is not None and shown >= max_messages:
                    break
    except KeyboardInterrupt:
        log.debug("tail of %s stopped by the user after %d records", topic, shown)
    except KafkaError as e:
        raise TailError(f"reading {topic} from {settings.kafka_bootstrap} failed: {e}",
                        hint=BROKER_HINT) from e
    finally:
        client.close()
    return shown
