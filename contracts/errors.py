"""The root of every tagstream exception; each room adds its own in an ``errors.py``."""

from __future__ import annotations


class TagstreamError(Exception):
    """Base of all tagstream errors.

    ``code`` is a stable machine-readable reason, ``field`` the input field at fault (if any),
    and ``hint`` tells the operator what to do about it.
    """

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field
        self.hint = hint

    def __str__(self) -> str:
        text = self.message
        if self.hint:
            text = f"{text} ({self.hint})"
        return text


class ContractError(TagstreamError):
    """A message does not satisfy its contract."""

    code = "contract_violation"
