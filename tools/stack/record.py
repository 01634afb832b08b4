"""``<state_dir>/stack.json``: which stack runs, with which settings, pids and restarts, for later commands.

``tagstream up`` writes it as each component starts; the keeper updates it as it restarts crashed
components; ``tagstream status``, ``restart`` and ``down`` in other processes read it to find the processes
again. Whoever changes it holds the stack lock (``tools.stack.lock``) and reads it afresh first, so two
writers never undo each other. Written atomically, readable by the owner only (the settings may carry
tagger secrets).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
#: Version 1 had no keeper, restarts or start times; it reads as a record without them.
_READABLE = (1, FORMAT_VERSION)


@dataclass
class RecordedProcess:
    pid: int
    start_ticks: str | None
    address: str
    log: str
    started_at: float | None = None
    """Wall-clock time (epoch seconds) of the start, for uptime and the keeper's stable period."""


@dataclass
class Restarts:
    """What the keeper knows about one component's crashes (kept while the component is down)."""

    count: int = 0
    """Restarts after a crash so far (a `tagstream restart` is not counted)."""
    failures: int = 0
    """Crashes and failed starts in a row; sets the backoff; back to 0 once the component stays up."""
    last_exit: str | None = None
    """How it last ended: "was killed by SIGKILL", "exited with code 1", or why a restart failed."""
    last_failure_at: float | None = None
    retry_at: float | None = None
    """While it is down: when the keeper tries again (epoch seconds)."""


@dataclass
class StackRecord:
    settings: dict[str, Any]
    components: dict[str, RecordedProcess] = field(default_factory=dict)
    keeper: RecordedProcess | None = None
    restarts: dict[str, Restarts] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """Nothing runs and nothing waits to be restarted: the record can go."""
        pending = any(r.retry_at is not None for r in self.restarts.values())
        return not self.components and self.keeper is None and not pending

    @classmethod
    def load(cls, path: Path) -> StackRecord | None:
        """The record at ``path``; None when there is none or it is unreadable (logged)."""
        try:
            data = json.loads(path.read_text())
            if data.get("version") not in _READABLE:
                raise ValueError(f"format version {data.get('version')!r}")
            keeper = data.get("keeper")
            return cls(settings=dict(data["settings"]),
                       components={k: RecordedProcess(**v) for k, v in data["components"].items()},
                       keeper=RecordedProcess(**keeper) if keeper else None,
                       restarts={k: Restarts(**v) for k, v in data.get("restarts", {}).items()})
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("ignoring unreadable %s: %s", path, e)
            return None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        data = {"version": FORMAT_VERSION, "settings": self.settings,
                "components": {k: asdict(v) for k, v in self.components.items()},
                "keeper": asdict(self.keeper) if self.keeper else None,
                "restarts": {k: asdict(v) for k, v in self.restarts.items()}}
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
        tmp.replace(path)
