"""``<state_dir>/stack.json``: which stack runs, with which settings and pids, for later commands.

``tagstream up`` writes it as each component starts; ``tagstream status`` and ``tagstream down`` in
another process read it to find the processes again. Written atomically, readable by the owner only
(the settings may carry tagger secrets).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


@dataclass
class RecordedProcess:
    pid: int
    start_ticks: str | None
    address: str
    log: str


@dataclass
class StackRecord:
    settings: dict[str, Any]
    components: dict[str, RecordedProcess] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> StackRecord | None:
        """The record at ``path``; None when there is none or it is unreadable (logged)."""
        try:
            data = json.loads(path.read_text())
            if data.get("version") != FORMAT_VERSION:
                raise ValueError(f"format version {data.get('version')!r}")
            return cls(settings=dict(data["settings"]),
                       components={k: RecordedProcess(**v) for k, v in data["components"].items()})
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("ignoring unreadable %s: %s", path, e)
            return None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        data = {"version": FORMAT_VERSION, "settings": self.settings,
                "components": {k: asdict(v) for k, v in self.components.items()}}
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
        tmp.replace(path)
