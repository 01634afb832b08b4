"""Print what is on a topic, readably: tags, dead letters and catalogue events each their own way.

The tail joins no consumer group and commits nothing: it assigns itself every partition and seeks
to the beginning or the end, so watching a topic never moves a real consumer's offsets.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from kafka import TopicPartition
from kafka.errors import KafkaError, KafkaTimeoutError
from rich.console import Console
from rich.text import Text

from contracts import Topics
from contracts.errors import TagstreamError
from runtime.kafka import BrokerUnavailable, consumer
from runtime.settings import KafkaSettings

log = logging.getLogger(__name__)

RAW_LIMIT = 300
BROKER_HINT = "set TAGSTREAM_KAFKA_BOOTSTRAP, or start a local broker with `tagstream up`"
_TAG_TOPICS = {Topics.TAGS.name, Topics.TAGS_SHADOW.name, Topics.REVIEW.name}
#: Attribute names shortened so that all 13 tags of a product fit on one or two lines.
_SHORT_NAMES = {"category": "cat", "main_colour": "colour", "secondary_colour": "colour2",
                "main_pattern": "pattern", "secondary_pattern": "pattern2", "trend_element": "trend",
                "sleeve_length": "sleeve", "garment_length": "length"}


class TailError(TagstreamError):
    code = "tail_failed"


class Record(Protocol):
    """The parts of a consumed record the tail shows (a kafka-python ``ConsumerRecord`` has them)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def _parse(value: bytes | None) -> Any:
    """The JSON document in ``value``, or ``None`` when it is not JSON (or too deep to parse)."""
    if not value:
        return None
    try:
        return json.loads(value)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None


def _short(text: str, limit: int = RAW_LIMIT) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} chars)"


def _when(timestamp_ms: int) -> str:
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC).strftime("%H:%M:%S.%f")[:-3]


def _tags(doc: dict[str, Any], text: Text) -> None:
    model, rollout = doc["model"], doc["rollout"]
    review = doc.get("needs_review", [])
    text.append(f"{doc['product_id']}", style="bold")
    text.append(f"  {model['name']} v{model['version']}", style="cyan")
    text.append(f" [{rollout['arm']} r{rollout['revision']}]", style="magenta")
    reasons = doc.get("review_reasons", [])
    if len(review) == len(doc["attributes"]) and any(r != "low_confidence" for r in reasons):
        text.append(f"  held for review: {', '.join(reasons)}", style="bold yellow")  # the whole image is in doubt
    elif review:
        text.append("  review: " + ", ".join(review), style="yellow")
    else:
        text.append("  ok", style="green")
    if doc.get("ood_score") is not None:
        text.append(f"  ood={doc['ood_score']:.2f}", style="dim")
    text.append("\n   ")
    for name, tag in doc["attributes"].items():
        text.append(f" {_SHORT_NAMES.get(name, name)}=", style="dim")
        text.append(f"{tag['label']} {tag['confidence']:.2f}".replace(" 0.", " ."),
                    style="bold yellow" if name in review else "")


def _dead_letter(doc: dict[str, Any], text: Text) -> None:
    error, source = doc["error"], doc["source"]
    text.append(error["code"], style="bold red")
    if error.get("field"):
        text.append(f" field={error['field']}", style="red")
    text.append(f"  from {source['topic']}[{source['partition']}]@{source['offset']}", style="cyan")
    text.append(f"\n    {_short(error['message'], 200)}")


def _event(doc: dict[str, Any], text: Text) -> None:
    raw = doc.get("data")
    data: dict[str, Any] = raw if isinstance(raw, dict) else {}
    image = data.get("image")
    if isinstance(image, dict) and isinstance(image.get("inline"), str):
        picture = f"inline {len(image['inline']) * 3 // 4 / 1024:.1f} KiB"
    elif isinstance(image, dict) and isinstance(image.get("url"), str):
        picture = f"url {_short(image['url'], 80)}"
    else:
        picture = "no image"
    text.append(f"{data.get('product_id', '?')}", style="bold")
    text.append(f"  {str(doc.get('type', '?')).removeprefix('catalog.product.')}", style="cyan")
    text.append(f"  merchant {data.get('merchant_id', '?')}  {picture}")
    text.append(f"\n    id {doc.get('id', '?')}  {_short(str(data.get('title', '')), 100)}", style="dim")


_FORMATTERS: dict[str, Callable[[dict[str, Any], Text], None]] = {
    **dict.fromkeys(_TAG_TOPICS, _tags),
    Topics.DEAD_LETTERS.name: _dead_letter,
    Topics.EVENTS.name: _event,
}


def describe(record: Record) -> Text:
    """One record as a line or two of styled text (never markup: the payload cannot inject any)."""
    text = Text()
    text.append(f"{_when(record.timestamp)} {record.topic}[{record.partition}]@{record.offset} ", style="dim")
    doc = _parse(record.value)
    formatter = _FORMATTERS.get(record.topic)
    if formatter is not None and isinstance(doc, dict):
        body = Text()
        try:
            formatter(doc, body)
        except (KeyError, TypeError, AttributeError, ValueError):
            pass  # not the shape this topic should carry: show it raw below
        else:
            return text.append_text(body)
    key = record.key.decode("utf-8", "replace") if record.key is not None else "-"
    raw = (record.value or b"").decode("utf-8", "replace")
    text.append(f"key={key} ", style="dim")
    text.append("" if doc is not None else "(unparseable) ", style="red")
    return text.append(_short(raw).replace("\n", " "))


def as_json_line(record: Record) -> str:
    """One record as one JSON line: the value parsed when it is JSON, else its text, truncated."""
    doc = _parse(record.value)
    line: dict[str, Any] = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": datetime.fromtimestamp(record.timestamp / 1000, UTC).isoformat(),
        "key": record.key.decode("utf-8", "replace") if record.key is not None else None,
        "headers": {k: v.decode("utf-8", "replace") for k, v in record.headers or []},
        "value": doc,
    }
    if doc is None and record.value:
        line["value_raw"] = _short(record.value.decode("utf-8", "replace"))
    return json.dumps(line, separators=(",", ":"), ensure_ascii=False)


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
