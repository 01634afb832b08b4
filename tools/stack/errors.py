"""Errors of the local stack: each one line that names what to do about it."""

from __future__ import annotations

from contracts.errors import TagstreamError

#: How to get the broker, Triton and moto binaries into the virtualenv.
INSTALL_HINT = "install them with `pip install -e '.[local]'`"


class StackError(TagstreamError):
    """The local stack could not do what was asked."""

    code = "stack_error"


class PortInUseError(StackError):
    code = "port_in_use"


class MissingBinaryError(StackError):
    code = "missing_binary"


class StackRunningError(StackError):
    """A stack recorded in the state directory is still alive."""

    code = "stack_running"


class ComponentFailedError(StackError):
    """A component exited before it was ready, or was not ready in time; carries its log tail."""

    code = "component_failed"

    def __init__(self, message: str, *, tail: list[str], hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.tail = tail

    def __str__(self) -> str:
        text = super().__str__()
        if not self.tail:
            return text
        return text + "\n" + "\n".join(f"  | {line}" for line in self.tail)


class StartCancelledError(StackError):
    """A start was cancelled while waiting for readiness (the keeper is being stopped)."""

    code = "start_cancelled"
