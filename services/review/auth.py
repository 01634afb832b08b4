"""Sign-in, sessions and CSRF tokens, kept in the console's memory.

- A session is a random token in an ``HttpOnly``, ``SameSite=Strict`` cookie (``Secure`` behind TLS); the
  server keeps what it means, so signing out ends it and a restart signs everyone out (nothing to forge).
- Every session, even before sign-in, has its own CSRF token, which every form carries in a hidden field
  and every POST must send back (the synchronizer-token pattern); the sign-in form is covered too, and a
  successful sign-in starts a new session (no fixation).
- Passwords are checked against scrypt hashes (``passwords.py``); after ``MAX_FAILURES`` wrong passwords
  for one name within ``FAILURE_WINDOW_S``, that name is refused for the rest of the window.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from services.review.errors import ReviewError
from services.review.passwords import verify

COOKIE = "tagstream_review"
MAX_FAILURES = 5
FAILURE_WINDOW_S = 300.0
MAX_SESSIONS = 10_000  # anonymous sessions beyond it push out the oldest: memory stays bounded


@dataclass
class Session:
    token: str
    csrf: str
    reviewer: str | None = None
    last_seen: float = 0.0

    def csrf_ok(self, sent: str | None) -> bool:
        return sent is not None and hmac.compare_digest(sent.encode(), self.csrf.encode())


@dataclass
class _Failures:
    times: deque[float] = field(default_factory=deque)


class SignInRefused(ReviewError):
    """Wrong name or password, or too many tries: the page says which in general terms only."""

    code = "sign_in_refused"

    def __init__(self, message: str, *, throttled: bool = False) -> None:
        super().__init__(message, field="password")
        self.throttled = throttled


class Sessions:
    def __init__(self, reviewers: dict[str, str], *, ttl_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._reviewers = dict(reviewers)
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._failures: dict[str, _Failures] = {}

    def get(self, token: str | None) -> Session | None:
        """The live session of a cookie value, refreshed; None when unknown or expired."""
        if not token:
            return None
        now = self._clock()
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None
            if now - session.last_seen > self._ttl_s:
                del self._sessions[token]
                return None
            session.last_seen = now
            self._sessions.move_to_end(token)
            return session

    def anonymous(self) -> Session:
        return self._new(None)

    def sign_in(self, name: str, password: str) -> Session:
        """A new signed-in session, or ``SignInRefused``. The scrypt check runs outside the lock."""
        now = self._clock()
        with self._lock:
            failures = self._failures.setdefault(name, _Failures())
            while failures.times and now - failures.times[0] > FAILURE_WINDOW_S:
                failures.times.popleft()
            if len(failures.times) >= MAX_FAILURES:
                raise SignInRefused("too many wrong passwords for this name; try again in a few minutes",
                                    throttled=True)
        if not verify(password, self._reviewers.get(name)):
            with self._lock:
                self._failures.setdefault(name, _Failures()).times.append(now)
                if len(self._failures) > MAX_SESSIONS:  # names are chosen by strangers: keep this bounded too
                    self._failures.pop(next(iter(self._failures)))
            raise SignInRefused("wrong name or password")
        with self._lock:
            self._failures.pop(name, None)
        return self._new(name)

    def sign_out(self, token: str) -> None:
        with self._lock:
            self._sessions.pop(token, None)

    def _new(self, reviewer: str | None) -> Session:
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), reviewer, self._clock())
        with self._lock:
            self._sessions[session.token] = session
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        return session
