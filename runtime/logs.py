"""Logging set-up shared by every process: one line per record, secrets never printed."""

from __future__ import annotations

import logging
import re
import sys

_SECRET = re.compile(
    r"(?i)(password|secret|token|sasl_plain_password|ssl_password)(['\"]?\s*[:=]\s*['\"]?)([^'\",\s}]+)")


class RedactingFormatter(logging.Formatter):
    """Masks anything that looks like ``password=...`` in the final message, as a last line of defence."""

    def format(self, record: logging.LogRecord) -> str:
        return _SECRET.sub(r"\1\2***", super().format(record))


def configure(level: str = "INFO", *, name: str = "tagstream") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(f"%(asctime)s %(levelname)s {name} %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("kafka", "urllib3", "tritonclient"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
