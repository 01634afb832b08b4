"""Keys the local stack makes for its own components: random, kept in ``<state_dir>/secrets/`` (mode 0600).

The Triton host's model-repository API and the rollout controller's API refuse mutating calls without a key; the
stack gives the same key to the server and to its clients (the controller, ``tagstream rollout``) through these
files, so no key is typed, printed or logged. A key is made once and kept until the file is removed.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

TRITON_CONTROL_KEY = "triton-control-key"
ROLLOUT_API_TOKEN = "rollout-api-token"  # noqa: S105 - the file's name, not a secret


def secret_file(secrets_dir: Path, name: str) -> Path:
    """The file holding the stack's key ``name``, made (0600, in a 0700 folder) when it does not exist yet."""
    secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = secrets_dir / name
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    return path


def secret(secrets_dir: Path, name: str) -> str:
    return secret_file(secrets_dir, name).read_text().strip()
