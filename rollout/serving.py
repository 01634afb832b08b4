"""Which model versions Triton serves: the controller loads the candidate when a rollout starts and unloads the
old version after full or a rollback, through Triton's model-repository API.

Production Triton runs in explicit model-control mode (``--model-control-mode=explicit``) with its repository API
behind the restricted-API setting (``--http-restricted-api=model-repository,model-config:<header>=<key>``).
``TritonRepository.serve`` reads the model's configuration, sets ``version_policy`` to the versions wanted
(``specific: {versions: [1, 2]}``) and posts it back with ``load``: Triton then serves exactly those versions of
the one model name. The local Triton host answers the same calls on its own port (see
``services/tritonhost/control.py``), so the same client drives both.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any, Protocol

from pydantic import SecretStr

from rollout.errors import ServingError

log = logging.getLogger(__name__)


class ModelServing(Protocol):
    def served(self) -> set[str]:
        """The versions ready now."""
        ...

    def serve(self, versions: set[str]) -> None:
        """Serve exactly ``versions``; raises ``ServingError`` when Triton does not."""
        ...


class TritonRepository:
    """Triton's HTTP model-repository extension for one model name."""

    def __init__(self, url: str, model: str, *, header: str = "admin-key", key: SecretStr | None = None,
                 timeout_s: float = 120.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ServingError(f"the Triton repository URL {url!r} is not http(s)", field="triton_repository_url")
        self.url = url.rstrip("/")
        self.model = model
        self._header = header
        self._key = key
        self._timeout_s = timeout_s

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if self._key is not None:
            headers[self._header] = self._key.get_secret_value()
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, headers=headers,  # noqa: S310 - checked
                                         method=method)
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310 - checked above
                text = response.read()
        except urllib.error.HTTPError as e:
            detail = e.read()[:500].decode(errors="replace")
            raise ServingError(f"Triton at {self.url} answered {e.code} to {method} {path}: {detail}",
                               hint="check the restricted-API header and key" if e.code in (401, 403) else None) from e
        except OSError as e:
            raise ServingError(f"Triton at {self.url} did not answer {method} {path}: {e}") from e
        return json.loads(text) if text.strip() else {}

    def served(self) -> set[str]:
        index = self._call("POST", "/v2/repository/index", {})
        return {str(entry["version"]) for entry in index
                if entry.get("name") == self.model and entry.get("state") == "READY" and entry.get("version")}

    def serve(self, versions: set[str]) -> None:
        if not versions or not all(v.isdigit() for v in versions):
            raise ServingError(f"versions to serve must be numbers, at least one; got {sorted(versions)}")
        config = self._call("GET", f"/v2/models/{self.model}/config")
        config["version_policy"] = {"specific": {"versions": sorted(int(v) for v in versions)}}
        self._call("POST", f"/v2/repository/models/{self.model}/load",
                   {"parameters": {"config": json.dumps(config)}})
        missing = versions - self.served()
        if missing:
            raise ServingError(f"Triton loaded {self.model} but versions {sorted(missing)} are not ready")
        log.info("Triton serves %s versions %s", self.model, ", ".join(sorted(versions, key=int)))
