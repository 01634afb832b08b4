"""A consumed record as a person or a script reads it: what ``tagstream tail`` prints for each record.

Each tagstream topic carries one contract message (``MESSAGES``); a record is validated as that message and shown
its own way. A null value is a tombstone (a deleted product on ``catalog.tags``, a removed key on a compacted
topic); a record that is not its topic's message, or a topic tagstream does not know, is one line with the key
and the raw text (and, for an invalid message, what is wrong with it). Nothing a record carries can raise here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError
from rich.text import Text

from contracts import (
    CatalogEvent,
    ContractModel,
    DeadLetter,
    DeadLetterReplay,
    LabelFeedback,
    ModelCard,
    ReviewItem,
    ReviewProgress,
    RolloutState,
    TagPrediction,
    Topics,
)

RAW_LIMIT = 300
#: Attribute names shortened so that all 13 tags of a product fit on one or two lines.
_SHORT_NAMES = {"category": "cat", "main_colour": "colour", "secondary_colour": "colour2",
                "main_pattern": "pattern", "secondary_pattern": "pattern2", "trend_element": "trend",
                "sleeve_length": "sleeve", "garment_length": "length"}

#: The message every tagstream topic carries.
MESSAGES: dict[str, type[ContractModel]] = {
    Topics.EVENTS.name: CatalogEvent,
    Topics.DEAD_LETTERS.name: DeadLetter,
    Topics.TAGS.name: TagPrediction,
    Topics.TAGS_SHADOW.name: TagPrediction,
    Topics.REVIEW.name: ReviewItem,
    Topics.LABELS.name: LabelFeedback,
    Topics.ROLLOUT.name: RolloutState,
    Topics.DLQ_REPLAYS.name: DeadLetterReplay,
    Topics.REVIEW_PROGRESS.name: ReviewProgress,
    Topics.MODELS.name: ModelCard,
}


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


def _key(record: Record) -> str:
    return _short(record.key.decode("utf-8", "replace"), 120) if record.key is not None else "(no key)"


def _when(timestamp_ms: int) -> str:
    try:
        return datetime.fromtimestamp(timestamp_ms / 1000, UTC).strftime("%H:%M:%S.%f")[:-3]
    except (OverflowError, OSError, ValueError):  # a producer's timestamp far outside the calendar
        return "--:--:--.---"


def _iso(timestamp_ms: int) -> str | int:
    try:
        return datetime.fromtimestamp(timestamp_ms / 1000, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return timestamp_ms


def _labels(tag: TagPrediction, names: list[str], text: Text) -> None:
    """``name=label .93`` for each of ``names``, those in doubt highlighted."""
    for name in names:
        attribute = tag.attributes[name]
        text.append(f" {_SHORT_NAMES.get(name, name)}=", style="dim")
        text.append(f"{attribute.label} {attribute.confidence:.2f}".replace(" 0.", " ."),
                    style="bold yellow" if name in tag.needs_review else "")


def _version(tag: TagPrediction, text: Text) -> None:
    text.append(f"{tag.product_id}", style="bold")
    text.append(f"  {tag.model.name} v{tag.model.version}", style="cyan")
    text.append(f" [{tag.rollout.arm.value} r{tag.rollout.revision}]", style="magenta")


def _tags(tag: TagPrediction, text: Text) -> None:
    _version(tag, text)
    reasons = [reason.value for reason in tag.review_reasons]
    if len(tag.needs_review) == len(tag.attributes) and any(r != "low_confidence" for r in reasons):
        text.append(f"  held for review: {', '.join(reasons)}", style="bold yellow")  # the whole image is in doubt
    elif tag.needs_review:
        text.append("  review: " + ", ".join(tag.needs_review), style="yellow")
    else:
        text.append("  ok", style="green")
    if tag.ood_score is not None:
        text.append(f"  ood={tag.ood_score:.2f}", style="dim")
    text.append("\n   ")
    _labels(tag, list(tag.attributes), text)


def _review(item: ReviewItem, text: Text) -> None:
    _version(item.tag, text)
    text.append(f"  {item.kind.value}", style="bold yellow")
    text.append(f"  check: {', '.join(item.attributes)}")
    text.append("\n   ")
    _labels(item.tag, item.attributes, text)
    if item.title:
        text.append(f"  {_short(item.title, 80)}", style="dim")


def _dead_letter(letter: DeadLetter, text: Text) -> None:
    error, source = letter.error, letter.source
    text.append(error.code.value, style="bold red")
    if error.field:
        text.append(f" field={error.field}", style="red")
    text.append(f"  from {source.topic}[{source.partition}]@{source.offset}", style="cyan")
    text.append(f"\n    {_short(error.message, 200)}")


def _event(event: CatalogEvent, text: Text) -> None:
    data, image = event.data, event.data.image
    if image is not None and image.inline is not None:
        picture = f"inline {len(image.inline) * 3 // 4 / 1024:.1f} KiB"
    elif image is not None and image.url is not None:
        picture = f"url {_short(image.url, 80)}"
    else:
        picture = "no image"
    text.append(data.product_id, style="bold")
    text.append(f"  {event.type.value.removeprefix('catalog.product.')}", style="cyan")
    text.append(f"  merchant {data.merchant_id}  {picture}")
    text.append(f"\n    id {event.id}  {_short(data.title, 100)}", style="dim")


def _label(feedback: LabelFeedback, text: Text) -> None:
    text.append(feedback.product_id, style="bold")
    text.append(f"  {feedback.source.value}" + (f" {feedback.who}" if feedback.who else ""), style="cyan")
    if feedback.model is not None:
        text.append(f"  on {feedback.model.name} v{feedback.model.version}", style="dim")
    if feedback.unusable:
        text.append("  image unusable", style="yellow")
    else:
        text.append("  labels:", style="dim")
    for name, label in feedback.labels.items():
        text.append(f" {_SHORT_NAMES.get(name, name)}=", style="dim")
        text.append(label)


def _rollout(state: RolloutState, text: Text) -> None:
    spec, status = state.spec, state.status
    text.append(spec.model, style="bold")
    text.append(f"  r{status.revision} {status.step or status.stage.value}", style="magenta")
    text.append(f"  stable v{spec.stable_version}" + (f", candidate v{spec.candidate_version}"
                                                      if spec.candidate_version else ""), style="cyan")
    text.append(f"  share {status.traffic_share:.0%}" + ("  paused" if status.paused else ""))
    text.append(f"\n    {status.reason.value}: {_short(status.message, 200)}", style="dim")


def _replay(replay: DeadLetterReplay, text: Text) -> None:
    letter, out = replay.dead_letter, replay.republished
    text.append(f"{letter.topic}[{letter.partition}]@{letter.offset}", style="bold")
    text.append(f"  -> {out.topic}[{out.partition}]@{out.offset}", style="cyan")
    text.append(f"  {replay.code.value} by {replay.by}" + ("  forced" if replay.forced else ""))


def _progress(progress: ReviewProgress, text: Text) -> None:
    text.append(f"{progress.group}[{progress.partition}]", style="bold")
    text.append(f"  committed {progress.committed}, decided above it: {len(progress.decided)}")


def _card(card: ModelCard, text: Text) -> None:
    text.append(f"{card.model.name} v{card.model.version}", style="bold")
    text.append(f"  registered {card.registered_at.isoformat(timespec='seconds')}", style="dim")
    review = card.review
    text.append("  no review thresholds" if review is None else
                f"  review thresholds for {len(review.attributes)} attributes at confidence {review.confidence:.2f}")


_FORMATTERS: dict[type[ContractModel], Callable[[Any, Text], None]] = {
    TagPrediction: _tags, ReviewItem: _review, DeadLetter: _dead_letter, CatalogEvent: _event,
    LabelFeedback: _label, RolloutState: _rollout, DeadLetterReplay: _replay, ReviewProgress: _progress,
    ModelCard: _card,
}


def _invalid(error: ValidationError) -> str:
    """The first thing wrong with a record, on one line, and how many more there are."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(the record)"
    more = f" (+{error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"


def describe(record: Record) -> Text:
    """One record as a line or two of styled text (never markup: the payload cannot inject any)."""
    text = Text()
    text.append(f"{_when(record.timestamp)} {record.topic}[{record.partition}]@{record.offset} ", style="dim")
    if record.value is None:
        return text.append(f"{_key(record)} deleted (tombstone)", style="bold")
    message = MESSAGES.get(record.topic)
    if message is not None:
        try:
            doc = message.model_validate_json(record.value)
        except (ValidationError, ValueError, KeyError, TypeError) as e:  # a migration can fail on a mangled record
            note = _invalid(e) if isinstance(e, ValidationError) else f"{type(e).__name__}: {e}"
            text.append(f"key={_key(record)} ", style="dim")
            text.append(f"not a valid {message.__name__}: {_short(note, 200)} ".replace("\n", " "), style="red")
        else:
            _FORMATTERS[message](doc, text)
            return text
    else:
        text.append(f"key={_key(record)} ", style="dim")
        text.append("" if _parse(record.value) is not None else "(not JSON) ", style="red")
    return text.append(_short(record.value.decode("utf-8", "replace"), 200).replace("\n", " "))


def as_json_line(record: Record) -> str:
    """One record as one JSON line: the value parsed when it is JSON, else its text, truncated; a tombstone's
    value is null."""
    doc = _parse(record.value)
    line: dict[str, Any] = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": _iso(record.timestamp),
        "key": record.key.decode("utf-8", "replace") if record.key is not None else None,
        "headers": {k: v.decode("utf-8", "replace") for k, v in record.headers or []},
        "value": doc,
    }
    if doc is None and record.value:
        line["value_raw"] = _short(record.value.decode("utf-8", "replace"))
    return json.dumps(line, separators=(",", ":"), ensure_ascii=False)
