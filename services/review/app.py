"""The console's web application: server-rendered pages (Starlette, Jinja2), no front-end build step.

Pages (all but the sign-in need a signed-in reviewer; every POST needs the session's CSRF token):

- ``GET /next``: the reviewer's item (the one they hold, or the oldest nobody holds), or an empty queue;
- ``POST /items/{lease}``: the decision; answered with a redirect to ``/next`` once the label is acknowledged;
- ``GET /items/{lease}/image``: the item's picture, fetched by the console (``images.py``);
- ``GET /stats``: queue depth, decisions in the last hour, agreement with the model per attribute;
- ``GET|POST /signin``, ``POST /signout``.

``/metrics``, ``/healthz`` and ``/readyz`` are read-only and open, like the tagger's.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.review import views
from services.review.auth import COOKIE, Session, Sessions, SignInRefused
from services.review.choices import LabelChoices
from services.review.decisions import decide
from services.review.errors import DecisionNotSaved, ImageUnavailable, InvalidDecision, LeaseLost
from services.review.images import ImageSource
from services.review.queue import ReviewQueue

log = logging.getLogger(__name__)

_HERE = Path(__file__).parent
#: Images only from the console itself, scripts and styles only from its own static files.
CSP = ("default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
NOTICES = {"lost": "The item you had was no longer yours (its lease expired and it went to another reviewer); "
                   "nothing was saved for it. Here is the next one."}


@dataclass(frozen=True)
class Console:
    """What the pages need: the queue, sign-in, label choices, images; built by ``main``."""

    queue: ReviewQueue
    sessions: Sessions
    choices: LabelChoices
    images: ImageSource
    lease_timeout_s: float
    secure_cookies: bool = False


class _SecurityHeaders:
    """Security headers on every answer (a plain ASGI middleware: cheaper per request than BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")  # the script and the style: fetched once, not per item

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", CSP)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                headers["X-Frame-Options"] = "DENY"
                headers.setdefault("Cache-Control", "public, max-age=3600" if static else "no-store")
            await send(message)

        await self._app(scope, receive, with_headers)


def create_app(console: Console) -> Starlette:
    templates = Jinja2Templates(directory=str(_HERE / "templates"))

    def page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
        return templates.TemplateResponse(request, name, context, status_code=status)

    def set_cookie(response: Response, session: Session) -> None:
        response.set_cookie(COOKIE, session.token, httponly=True, samesite="strict", secure=console.secure_cookies,
                            path="/")

    def current(request: Request) -> Session | None:
        return console.sessions.get(request.cookies.get(COOKIE))

    def reviewer_session(request: Request) -> Session | Response:
        session = current(request)
        if session is None or session.reviewer is None:
            return RedirectResponse("/signin", status_code=303)
        return session

    async def checked_form(request: Request, session: Session) -> dict[str, str] | Response:
        form = await request.form()
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        if not session.csrf_ok(values.get("csrf")):
            log.warning("refused a %s to %s without a valid CSRF token", request.method, request.url.path)
            return page(request, "refused.html", {"reason": "This form is out of date or did not come from this "
                                                            "console. Reload the page and try again."}, 403)
        return values

    async def signin_form(request: Request) -> Response:
        session = current(request) or console.sessions.anonymous()
        response = page(request, "signin.html", {"csrf": session.csrf, "error": None})
        set_cookie(response, session)
        return response

    async def signin(request: Request) -> Response:
        session = current(request)
        if session is None:
            return page(request, "refused.html", {"reason": "Your sign-in form expired. Reload the page."}, 403)
        form = await checked_form(request, session)
        if isinstance(form, Response):
            return form
        try:
            signed_in = await run_in_threadpool(console.sessions.sign_in, form.get("name", "").strip(),
                                                form.get("password", ""))
        except SignInRefused as e:
            log.info("sign-in refused for %r: %s", form.get("name", "")[:64], e)
            return page(request, "signin.html", {"csrf": session.csrf, "error": str(e)}, 429 if e.throttled else 401)
        console.sessions.sign_out(session.token)
        log.info("%s signed in", signed_in.reviewer)
        response = RedirectResponse("/next", status_code=303)
        set_cookie(response, signed_in)
        return response

    async def signout(request: Request) -> Response:
        session = reviewer_session(request)
        if isinstance(session, Response):
            return session
        form = await checked_form(request, session)
        if isinstance(form, Response):
            return form
        if session.reviewer is not None and form.get("lease"):
            with contextlib.suppress(LeaseLost):  # it had gone back to the queue already
                console.queue.book.release(form["lease"], session.reviewer)
        console.sessions.sign_out(session.token)
        response = RedirectResponse("/signin", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    def item_page(request: Request, session: Session, *, error: str | None = None, status: int = 200) -> Response:
        reviewer = session.reviewer or ""
        leased = console.queue.book.lease(reviewer)
        common = {"csrf": session.csrf, "reviewer": reviewer, "counters": views.counters(console.queue),
                  "notice": NOTICES.get(request.query_params.get("notice", ""))}
        if leased is None:
            return page(request, "empty.html", common)
        lease, item = leased
        return page(request, "item.html", {**common, "error": error, "lease": lease,
                                           "view": views.item_view(item, console.choices),
                                           "lease_minutes": round(console.lease_timeout_s / 60, 1)}, status)

    async def next_item(request: Request) -> Response:
        session = reviewer_session(request)
        if isinstance(session, Response):
            return session
        return item_page(request, session)

    async def submit(request: Request) -> Response:
        session = reviewer_session(request)
        if isinstance(session, Response):
            return session
        form = await checked_form(request, session)
        if isinstance(form, Response):
            return form
        reviewer = session.reviewer or ""
        lease_id = request.path_params["lease"]
        try:
            position, item = console.queue.book.claim(lease_id, reviewer)
        except LeaseLost:
            return RedirectResponse("/next?notice=lost", status_code=303)
        try:
            decision = decide(item, form, unusable=form.get("unusable") == "1", reviewer=reviewer,
                              choices=console.choices, now=datetime.now(UTC))
        except InvalidDecision as e:
            console.queue.book.unclaim(position)
            return item_page(request, session, error=str(e), status=400)
        try:
            await run_in_threadpool(console.queue.publish, position, decision)
        except DecisionNotSaved as e:
            return item_page(request, session, error=str(e), status=503)
        return RedirectResponse("/next", status_code=303)

    async def image(request: Request) -> Response:
        session = reviewer_session(request)
        if isinstance(session, Response):
            return session
        try:
            _, item = console.queue.book.held(request.path_params["lease"], session.reviewer or "")
            data, kind = await run_in_threadpool(console.images.load, item)
        except (LeaseLost, ImageUnavailable) as e:
            return Response(str(e), status_code=404, media_type="text/plain")
        return Response(data, media_type=kind, headers={"Cache-Control": "private, max-age=600"})

    async def stats(request: Request) -> Response:
        session = reviewer_session(request)
        if isinstance(session, Response):
            return session
        return page(request, "stats.html", {"csrf": session.csrf, "reviewer": session.reviewer,
                                            "counters": views.counters(console.queue),
                                            "agreement": console.queue.stats.agreement()})

    async def home(request: Request) -> Response:
        return RedirectResponse("/next", status_code=303)

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def readyz(request: Request) -> Response:
        ready = console.queue.ready()
        return JSONResponse({"ok": ready, "group_joined": ready}, status_code=200 if ready else 503)

    routes = [
        Route("/", home), Route("/signin", signin_form, methods=["GET"]), Route("/signin", signin, methods=["POST"]),
        Route("/signout", signout, methods=["POST"]), Route("/next", next_item),
        Route("/items/{lease}", submit, methods=["POST"]), Route("/items/{lease}/image", image),
        Route("/stats", stats), Route("/metrics", metrics), Route("/healthz", healthz), Route("/readyz", readyz),
        Mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static"),
    ]
    return Starlette(routes=routes, middleware=[Middleware(_SecurityHeaders)])
