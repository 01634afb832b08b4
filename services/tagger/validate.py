"""Turn a Kafka record into a ``CatalogEvent``, or an ``InputError`` that says what is wrong and where."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from contracts import CatalogEvent, ErrorCode, EventType
from contracts.events import from_binary_mode, is_binary_mode
from modelspec.errors import InputError

#: Deepest JSON nesting accepted; a real event is 3 levels deep.
MAX_DEPTH = 16


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return False


def _load_json(raw: bytes) -> Any:
    try:
        value = json.loads(raw)
    except RecursionError as e:
        raise InputError(ErrorCode.NESTED_TOO_DEEP, f"JSON nested deeper than {MAX_DEPTH} levels") from e
    except (UnicodeDecodeError, ValueError) as e:  # JSONDecodeError is a ValueError
        raise InputError(ErrorCode.NOT_JSON, f"value is not JSON: {e}") from e
    if _depth_exceeds(value, MAX_DEPTH):
        raise InputError(ErrorCode.NESTED_TOO_DEEP, f"JSON nested deeper than {MAX_DEPTH} levels")
    return value


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(root)"


def _contract_error(error: ValidationError) -> InputError:
    details = error.errors(include_url=False)
    first = details[0]
    summary = "; ".join(f"{_field(d['loc'])}: {d['msg']}" for d in details[:3])
    more = f" (and {len(details) - 3} more)" if len(details) > 3 else ""
    return InputError(ErrorCode.CONTRACT_VIOLATION, f"event breaks the CatalogEvent contract: {summary}{more}",
                      field=_field(first["loc"]))


def parse_event(value: bytes | None, headers: list[tuple[str, bytes]] | None, *,
                max_event_bytes: int) -> CatalogEvent:
    """Validate one record strictly. Structured CloudEvents mode, or binary mode (``ce_`` headers)."""
    if not value:
        raise InputError(ErrorCode.NOT_JSON, "record has an empty value")
    if len(value) > max_event_bytes:
        raise InputError(ErrorCode.EVENT_TOO_LARGE,
                         f"record is {len(value)} bytes, over the limit of {max_event_bytes} "
                         "(TAGSTREAM_MAX_EVENT_BYTES)")
    document = _load_json(value)
    if is_binary_mode(headers):
        if not isinstance(document, dict):
            raise InputError(ErrorCode.BINARY_MODE_INVALID,
                             "binary-mode CloudEvent: the value must be the JSON object of `data`", field="data")
        raw = from_binary_mode(headers or [], document)
        event_type = next((v.decode("utf-8", errors="replace") for k, v in headers or [] if k == "ce_type"), None)
        document = {"type": event_type, "data": document}
    else:
        raw = value
    if not isinstance(document, dict):
        raise InputError(ErrorCode.CONTRACT_VIOLATION, "event must be a JSON object", field="(root)")
    data = document.get("data")
    if isinstance(data, dict) and data.get("image") is None and document.get("type") != EventType.DELETED.value:
        raise InputError(ErrorCode.IMAGE_MISSING, "event has no image: give data.image.url or data.image.inline",
                         field="data.image")
    try:
        return CatalogEvent.model_validate_json(raw)
    except ValidationError as e:
        raise _contract_error(e) from None
