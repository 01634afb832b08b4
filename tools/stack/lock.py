"""One lock per state directory, held by whoever changes the stack: ``up``, ``restart``, ``down``, the keeper.

An exclusive ``flock`` on ``<state_dir>/stack.lock``: the kernel releases it when its holder dies, so a
crashed command never leaves the stack locked. Re-entrant within a process (a ``LocalStack`` method that
holds it may call another that takes it again). Readers (``tagstream status``) need no lock: the record
is replaced atomically.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

LOCK_FILE = "stack.lock"


@dataclass
class _Held:
    thread_lock: threading.RLock = field(default_factory=threading.RLock)
    depth: int = 0
    fd: int | None = None


_held: dict[Path, _Held] = {}
_guard = threading.Lock()


@contextlib.contextmanager
def stack_lock(state_dir: Path) -> Iterator[None]:
    """Hold the state directory's lock for the block; waits while another process holds it."""
    key = state_dir.resolve()
    with _guard:
        held = _held.setdefault(key, _Held())
    with held.thread_lock:
        if held.depth == 0:
            key.mkdir(parents=True, exist_ok=True)
            fd = os.open(key / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)  # not inherited by children
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    log.info("waiting for another tagstream command (or the keeper) to finish with %s", key)
                    fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
            held.fd = fd
        held.depth += 1
        try:
            yield
        finally:
            held.depth -= 1
            if held.depth == 0 and held.fd is not None:
                os.close(held.fd)  # releases the flock
                held.fd = None
