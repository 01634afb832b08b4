"""The operator API's client, as ``tagstream rollout`` uses it: JSON over HTTP with the bearer token.

``RolloutClientSettings`` is the CLI's settings: where the controller listens and the token, from
``TAGSTREAM_ROLLOUT_API_TOKEN`` or, when unset, the file ``TAGSTREAM_ROLLOUT_API_TOKEN_FILE`` names (the local stack
writes one). A refusal or an unreachable controller is an ``ApiError`` naming the cause and the fix.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr

from modelspec.tensors import MODEL_NAME
from rollout.errors import RolloutError
from runtime.settings import TagstreamSettings


class RolloutClientSettings(TagstreamSettings):
    """How ``tagstream rollout`` reaches the controller."""

    rollout_api_url: str = Field("http://127.0.0.1:9500", description="the controller's API")
    rollout_api_token: SecretStr | None = Field(None, description="bearer token for changes (never printed)")
    rollout_api_token_file: Path = Field(Path(".tagstream/secrets/rollout-api-token"),
                                         description="file holding the token when rollout_api_token is unset (the "
                                                     "local stack writes it)")
    rollout_model: str = Field(MODEL_NAME, description="the model whose rollout the commands act on")
    rollout_api_timeout_s: float = Field(180.0, gt=0, description="how long one call may take (a start waits for "
                                                                  "Triton to load the candidate)")

    def token(self) -> SecretStr | None:
        if self.rollout_api_token is not None:
            return self.rollout_api_token
        if self.rollout_api_token_file.is_file():
            return SecretStr(self.rollout_api_token_file.read_text().strip())
        return None


class ApiError(RolloutError):
    """The controller refused, or could not be reached; ``status`` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, *, status: int, code: str = "api_error", hint: str | None = None,
                 problems: list[str] | None = None) -> None:
        super().__init__(message, code=code, hint=hint)
        self.status = status
        self.problems = problems or []

    def __str__(self) -> str:
        text = super().__str__()
        return text if not self.problems else text + "\n" + "\n".join(f"  {p}" for p in self.problems)


class RolloutClient:
    def __init__(self, settings: RolloutClientSettings) -> None:
        self.settings = settings
        self.base = f"{settings.rollout_api_url.rstrip('/')}/v1/rollouts/{settings.rollout_model}"
        if not self.base.startswith(("http://", "https://")):
            raise ApiError(f"TAGSTREAM_ROLLOUT_API_URL={settings.rollout_api_url} is not an http(s) URL", status=0,
                           code="bad_url")

    def get(self, path: str = "") -> Any:
        return self._call("GET", path, None)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        token = self.settings.token()
        if token is None:
            raise ApiError("no API token to change the rollout with", status=0, code="no_token",
                           hint="set TAGSTREAM_ROLLOUT_API_TOKEN (or TAGSTREAM_ROLLOUT_API_TOKEN_FILE)")
        return self._call("POST", path, body, token)

    def _call(self, method: str, path: str, body: dict[str, Any] | None, token: SecretStr | None = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base}{path}", data=data, headers=headers,  # noqa: S310 - checked
                                         method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.settings.rollout_api_timeout_s) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as e:
            raise _api_error(e) from e
        except OSError as e:
            raise ApiError(f"the rollout controller at {self.settings.rollout_api_url} does not answer ({e})",
                           status=0, code="unreachable",
                           hint="start it with `tagstream up` (or `tagstream rollout controller`), or set "
                                "TAGSTREAM_ROLLOUT_API_URL") from e


def _api_error(e: urllib.error.HTTPError) -> ApiError:
    try:
        body = json.loads(e.read())
    except ValueError:
        body = {}
    if e.code == 401:
        return ApiError("the controller refused the API token", status=401, code="unauthorised",
                        hint="set TAGSTREAM_ROLLOUT_API_TOKEN to the controller's token")
    if isinstance(body.get("detail"), str):
        return ApiError(body["detail"], status=e.code)
    if isinstance(body.get("detail"), list):  # FastAPI's validation errors
        problems = [f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}" for d in body["detail"]]
        return ApiError("the controller did not accept the request", status=e.code, problems=problems)
    return ApiError(str(body.get("message", f"HTTP {e.code}")), status=e.code, code=str(body.get("error", "api_error")),
                    hint=body.get("hint"), problems=list(body.get("problems", [])))
