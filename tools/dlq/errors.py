"""Errors of the dead-letter operations."""

from __future__ import annotations

from contracts.errors import TagstreamError


class DlqError(TagstreamError):
    code = "dlq_failed"


class AlreadyReplayed(DlqError):
    """Every selected dead letter was replayed before: replaying again needs ``--force``."""

    code = "already_replayed"
