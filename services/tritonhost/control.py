"""The host's model-repository API: load and unload versions, as Triton's is used in explicit model-control mode.

The rollout controller talks to production Triton's HTTP model-repository extension, behind its restricted API
(``--http-restricted-api=model-repository:<header>=<key>``); this server answers the same calls on the local host,
so one client serves both:

- ``POST /v2/repository/index``: ``[{"name", "version", "state", "reason"}]`` for every version served since start;
- ``GET /v2/models/catalog_tagger/config``: the model's configuration, whose ``version_policy`` lists the loaded
  versions (a client changes the policy and posts it back with ``load``);
- ``POST /v2/repository/models/catalog_tagger/load``: body ``{"parameters": {"config": "<JSON>"}}`` whose
  ``version_policy.specific.versions`` names the versions to serve: those are loaded, every other is unloaded
  (without a config: the startup version);
- ``POST /v2/repository/models/catalog_tagger/unload``: every version is unloaded (``catalog_tagger`` itself keeps
  serving the startup version: see ``server.py``).

Every call must carry ``<control_header>: <control_key>`` (compared in constant time); without a configured key
the API refuses everything. ``GET /v2/health/ready`` alone is open, as Triton's health endpoints are: the stack's
readiness probe. It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from modelspec.tensors import MODEL_NAME
from runtime.health import listen
from services.tritonhost.runner import ModelLoadError
from services.tritonhost.server import LOOPBACK, TritonHost
from services.tritonhost.settings import TritonHostSettings

log = logging.getLogger(__name__)

_MODEL = f"/v2/models/{MODEL_NAME}"
_REPOSITORY = f"/v2/repository/models/{MODEL_NAME}"
_MAX_BODY = 1024 * 1024


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _versions_of(body: dict[str, Any], default: str) -> set[str]:
    """The versions a load call names: ``version_policy.specific.versions`` of its config, else ``default``."""
    config_text = body.get("parameters", {}).get("config")
    if config_text is None:
        return {default}
    try:
        config = json.loads(config_text)
        versions = config.get("version_policy", {}).get("specific", {}).get("versions")
    except (ValueError, AttributeError) as e:
        raise ControlError(400, f"parameters.config is not a model configuration in JSON: {e}") from e
    if not isinstance(versions, list) or not all(str(v).isdigit() and int(v) >= 1 for v in versions):
        raise ControlError(400, "parameters.config must give version_policy.specific.versions, a list of version "
                                "numbers (1 or more)")
    return {str(int(v)) for v in versions}


class ControlServer:
    def __init__(self, host: TritonHost, settings: TritonHostSettings) -> None:
        self._host = host
        self._settings = settings
        self._key = settings.key()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def _answer(self, method: str) -> None:
                try:
                    if (method, self.path) == ("GET", "/v2/health/ready"):
                        raise ControlError(200 if host.alive() else 503, "ready" if host.alive() else "not ready")
                    server.authorize(self.headers.get(settings.control_header))
                    length = int(self.headers.get("Content-Length") or 0)
                    if length > _MAX_BODY:
                        raise ControlError(413, f"the body is over {_MAX_BODY} bytes")
                    raw = self.rfile.read(length) if length else b""
                    body = json.loads(raw) if raw.strip() else {}
                    if not isinstance(body, dict):
                        raise ControlError(400, "the body must be a JSON object")
                    status, answer = server.handle(method, self.path.split("?", 1)[0], body)
                except ControlError as e:
                    status, answer = e.status, {"error": str(e)} if e.status != 200 else {"status": str(e)}
                except ValueError as e:
                    status, answer = 400, {"error": f"the body is not JSON: {e}"}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                log.debug("%s " + format, self.address_string(), *args)

        self._server = listen(LOOPBACK, settings.control_port, Handler, port_setting="control_port",
                              serves="the model-repository API")
        self._thread = threading.Thread(target=self._server.serve_forever, name="control", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def authorize(self, given: str | None) -> None:
        key = self._key
        if key is None:
            raise ControlError(403, "the model-repository API is off: no TAGSTREAM_CONTROL_KEY is configured")
        if given is None or not hmac.compare_digest(given.encode(), key.get_secret_value().encode()):
            raise ControlError(401, f"this API is restricted: send the {self._settings.control_header} header")

    def handle(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        if (method, path) == ("POST", "/v2/repository/index"):
            return 200, [{"name": MODEL_NAME, "version": version, "state": "READY" if loaded else "UNAVAILABLE",
                          "reason": "" if loaded else "unloaded"}
                         for version, loaded in sorted(self._host.versions().items(), key=lambda kv: int(kv[0]))]
        if (method, path) == ("GET", f"{_MODEL}/config"):
            loaded = sorted((int(v) for v, up in self._host.versions().items() if up))
            return 200, {"name": MODEL_NAME, "max_batch_size": self._settings.max_batch_size,
                         "version_policy": {"specific": {"versions": loaded}}}
        if (method, path) == ("POST", f"{_REPOSITORY}/load"):
            return self._serve(_versions_of(body, self._settings.model_version))
        if (method, path) == ("POST", f"{_REPOSITORY}/unload"):
            return self._serve(set())
        raise ControlError(404, f"no {method} {path} here; the model is {MODEL_NAME}")

    def _serve(self, versions: set[str]) -> tuple[int, Any]:
        try:
            self._host.serve_versions(versions)
        except ModelLoadError as e:
            raise ControlError(400, f"failed to load {MODEL_NAME}: {e}") from e
        return 200, {}

    def start(self) -> None:
        self._thread.start()
        log.info("model-repository API on http://%s:%d", LOOPBACK, self.port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
