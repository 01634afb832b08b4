"""Which dead letters a command works on: by error code and by age."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from contracts import ErrorCode
from tools.dlq.errors import DlqError
from tools.dlq.reader import Letter

_AGO = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``30m``, ``2h``, ``1d`` ago, or an ISO 8601 time (UTC when it names no zone)."""
    match = _AGO.match(text.strip())
    if match:
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise DlqError(f"--since {text!r} is neither a duration nor a time", field="since",
                       hint="give e.g. 30m, 2h, 1d or 2026-12-01T09:00:00Z") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_code(text: str | None) -> ErrorCode | None:
    if text is None:
        return None
    try:
        return ErrorCode(text)
    except ValueError:
        raise DlqError(f"--code {text!r} is not a dead-letter code", field="code",
                       hint=f"one of {', '.join(c.value for c in ErrorCode)}") from None


def parse_position(text: str) -> tuple[int | None, int]:
    """``OFFSET`` or ``PARTITION:OFFSET``."""
    partition, _, offset = text.rpartition(":")
    if not offset.isdigit() or (partition and not partition.isdigit()):
        raise DlqError(f"{text!r} is not an offset", field="offset", hint="give OFFSET or PARTITION:OFFSET, "
                                                                          "as `tagstream dlq list` shows them")
    return (int(partition) if partition else None), int(offset)


def matching(letters: Iterable[Letter], code: ErrorCode | None, since: datetime | None) -> list[Letter]:
    return [letter for letter in letters if letter.dead is not None
            and (code is None or letter.dead.error.code is code)
            and (since is None or letter.dead.time >= since)]
