"""The controller's operator API: JSON over HTTP, described by OpenAPI at ``/openapi.json``.

Reads are open (``GET /v1/rollouts/{model}``, ``.../history``, ``/healthz``, ``/readyz``, ``/metrics``). Every call
that changes something (``POST .../start``, ``approve``, ``pause``, ``resume``, ``promote``, ``rollback``) needs
``Authorization: Bearer <token>``: without it, or with another token, the answer is 401 and nothing changes. The
token is compared in constant time and never logged (the access log is off; errors never echo headers).

A refused command is 409 with ``{"error": code, "message", "hint"}`` (``no_rollout``, ``rollout_running``,
``awaiting_approval``...); a plan that does not validate is 422 with its problems, each naming the line and the
field; a broker or Triton that does not answer is 503. The interactive docs pages are off: they load scripts from
a CDN, and nothing here fetches anything at run time.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from pydantic import BaseModel, Field, SecretStr

from contracts import RolloutPlan, RolloutState
from rollout.audit import Transition
from rollout.controller import Controller
from rollout.errors import PlanError, Refused, RolloutError, ServingError, StatePublishError
from rollout.plan import DEFAULT_PLAN, load_plan, parse_plan, shipped_plans
from rollout.view import RolloutView

#: A readiness probe: (ready, details).
Probe = Callable[[], tuple[bool, dict[str, object]]]
Actor = Annotated[str, Field(min_length=1, max_length=200, description="who asks, as the audit history records it")]
_BEARER = HTTPBearer(auto_error=False, description="the controller's API token (TAGSTREAM_ROLLOUT_API_TOKEN)")
#: Module level, so that FastAPI resolves the dependency from this module's names.
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]


class StartRequest(BaseModel):
    candidate: Annotated[str, Field(pattern=r"^[1-9][0-9]*$", description="the version to roll out")]
    plan: str | None = Field(None, max_length=100_000, description="the plan as YAML text (validated here)")
    plan_name: str | None = Field(None, max_length=200,
                                  description="a shipped plan's name when no text is given, else the text's source "
                                              "name in errors (default: the default plan)")
    actor: Actor


class ActorRequest(BaseModel):
    actor: Actor


class RollbackRequest(BaseModel):
    actor: Actor
    reason: Annotated[str, Field(min_length=1, max_length=1000, description="why, for the audit history")]


class ErrorBody(BaseModel):
    error: str
    message: str
    hint: str | None = None
    problems: list[str] = Field(default_factory=list)


def _error(status: int, e: RolloutError) -> JSONResponse:
    problems = e.problems if isinstance(e, PlanError) else []
    body = ErrorBody(error=e.code, message=e.message, hint=e.hint, problems=problems)
    return JSONResponse(status_code=status, content=body.model_dump())


def resolve_plan(request: StartRequest) -> tuple[RolloutPlan, str]:
    """The plan of a start request: its YAML text, else a shipped plan by name (never a file of this host)."""
    if request.plan is not None:
        source = request.plan_name or "plan"
        return parse_plan(request.plan, source=source), source
    name = request.plan_name or DEFAULT_PLAN
    if name not in shipped_plans():
        raise PlanError(f"no shipped plan {name!r}", field="plan_name",
                        hint=f"send the plan's text, or name one of {', '.join(shipped_plans())}")
    return load_plan(name), name


def create_app(controller: Controller, *, token: SecretStr, ready: Probe) -> FastAPI:
    app = FastAPI(title="tagstream rollout controller", version="1",
                  description="Start, watch, gate and roll back staged rollouts of the catalogue model.",
                  docs_url=None, redoc_url=None)
    expected = token.get_secret_value().encode()

    def authorised(credentials: Credentials) -> None:
        given = credentials.credentials.encode() if credentials is not None else b""
        if not expected or not hmac.compare_digest(given, expected):
            raise HTTPException(status_code=401, detail="a bearer token is needed to change a rollout",
                                headers={"WWW-Authenticate": "Bearer"})

    def check_model(model: str) -> None:
        if model != controller.model:
            raise HTTPException(status_code=404, detail=f"this controller rolls out {controller.model}, not {model}")

    @app.exception_handler(Refused)
    async def refused(_request: Request, e: Refused) -> JSONResponse:
        return _error(409, e)

    @app.exception_handler(PlanError)
    async def bad_plan(_request: Request, e: PlanError) -> JSONResponse:
        return _error(422, e)

    @app.exception_handler(RolloutError)
    async def unavailable(_request: Request, e: RolloutError) -> JSONResponse:
        status = 503 if isinstance(e, StatePublishError | ServingError) or e.code == "candidate_not_served" else 409
        return _error(status, e)

    @app.get("/healthz", tags=["probes"])
    def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/readyz", tags=["probes"])
    def readyz() -> JSONResponse:
        ok, detail = ready()
        return JSONResponse(status_code=200 if ok else 503, content={"ok": ok, **detail})

    @app.get("/metrics", tags=["probes"], response_class=PlainTextResponse)
    def prometheus_metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/rollouts/{model}", tags=["read"])
    def status(model: str) -> RolloutView:
        """Where the rollout stands: stage, share, time in stage, bake, each guardrail against its limit, next gate."""
        check_model(model)
        return controller.view()

    @app.get("/v1/rollouts/{model}/history", tags=["read"])
    def history(model: str, limit: int | None = None) -> list[Transition]:
        """The audit history: every transition, who, why, when and the figures behind it (oldest first)."""
        check_model(model)
        return controller.history(limit=limit)

    write: dict[str, Any] = {"tags": ["change"], "dependencies": [Depends(authorised)],
                             "responses": {401: {"model": ErrorBody}, 409: {"model": ErrorBody},
                                           503: {"model": ErrorBody}}}

    @app.post("/v1/rollouts/{model}/start", **{**write, "responses": {**write["responses"], 422: {"model": ErrorBody}}})
    def start(model: str, request: StartRequest) -> RolloutState:
        """Load the candidate on Triton and enter the plan's first stage."""
        check_model(model)
        plan, name = resolve_plan(request)
        return controller.start(request.candidate, plan, actor=request.actor, plan_name=name)

    @app.post("/v1/rollouts/{model}/approve", **write)
    def approve(model: str, request: ActorRequest) -> RolloutState:
        """Open the current stage's manual gate."""
        check_model(model)
        return controller.approve(actor=request.actor)

    @app.post("/v1/rollouts/{model}/pause", **write)
    def pause(model: str, request: ActorRequest) -> RolloutState:
        """Stop advancing (routing stays; a breach still rolls back)."""
        check_model(model)
        return controller.pause(actor=request.actor)

    @app.post("/v1/rollouts/{model}/resume", **write)
    def resume(model: str, request: ActorRequest) -> RolloutState:
        """Advance again; the stage's analysis starts afresh."""
        check_model(model)
        return controller.resume(actor=request.actor)

    @app.post("/v1/rollouts/{model}/promote", **write)
    def promote(model: str, request: ActorRequest) -> RolloutState:
        """Skip what is left of the current stage's bake and gate."""
        check_model(model)
        return controller.promote(actor=request.actor)

    @app.post("/v1/rollouts/{model}/rollback", **write)
    def rollback(model: str, request: RollbackRequest) -> RolloutState:
        """Back to stable now."""
        check_model(model)
        return controller.rollback(actor=request.actor, reason=request.reason)

    return app
