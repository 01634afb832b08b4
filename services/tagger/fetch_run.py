"""One image fetch, on the fetcher's loop: the slots, the circuit, resolving and checking, the exchange.

:class:`Fetches` holds what every fetch of one :class:`~services.tagger.fetch.ImageFetcher` run shares (its
session, host gates and fetcher slots); the rules it applies are in ``services/tagger/fetch.py``'s docstring.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import aiohttp
from aiohttp.abc import ResolveResult
from yarl import URL

from runtime.addresses import is_public
from services.tagger.fetch_hosts import HostGate, HostGates, HostKey, Pass
from services.tagger.fetch_metrics import FETCH_SECONDS, FETCHES, SLOT_WAIT_SECONDS
from services.tagger.fetch_url import FetchError, Target, failed, forbidden, literal_answer, parse, too_large

if TYPE_CHECKING:
    from services.tagger.fetch import FetchPolicy

logger = logging.getLogger(__name__)

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
_HOST_FAILURES = frozenset({"timeout", "unreachable", "server_error"})  # what counts against a host's circuit


@dataclass(frozen=True)
class _Redirect:
    location: str


class Fetches:
    """Runs fetches under ``policy`` with the session, host gates and fetcher slots of one fetcher run."""

    def __init__(self, policy: FetchPolicy, session: aiohttp.ClientSession, gates: HostGates,
                 slots: asyncio.Semaphore) -> None:
        self._policy = policy
        self._allow = frozenset(h.strip().lower() for h in policy.allow_hosts)
        self._session, self._gates, self._slots = session, gates, slots

    async def run(self, url: str, deadline: float) -> bytes:
        """The body of ``url`` by ``deadline`` (on the loop's clock), or a :class:`FetchError`."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        shown = "image URL"
        try:
            target = parse(url)
            for _ in range(self._policy.max_redirects + 1):
                shown = target.shown
                result = await self._hop(target, deadline)
                if isinstance(result, bytes):
                    FETCHES.labels("ok").inc()
                    logger.debug("fetched %s: %d bytes", target.shown, len(result))
                    return result
                target = parse(urljoin(target.url, result.location))
            raise failed(f"image URL redirected more than {self._policy.max_redirects} times "
                         f"(last to {target.shown})", "redirects")
        except FetchError as e:
            FETCHES.labels(e.outcome).inc()
            raise
        except asyncio.CancelledError:
            FETCHES.labels("stopped").inc()
            raise
        except Exception as e:  # a defect here must not take the tagger down: the event is dead-lettered
            logger.exception("fetching %s failed unexpectedly", shown)
            FETCHES.labels("unreachable").inc()
            raise failed(f"fetching {shown} failed: {type(e).__name__}", "unreachable") from e
        finally:
            FETCH_SECONDS.observe(loop.time() - started)

    async def _hop(self, target: Target, deadline: float) -> bytes | _Redirect:
        path, _, query = target.path.partition("?")
        try:
            url = URL.build(scheme=target.scheme, host=target.bracketed, port=target.port, path=path,
                            query_string=query, encoded=True)
        except ValueError:
            raise forbidden("image URL has a malformed host") from None
        key: HostKey = (url.raw_host or target.host, target.port)  # as aiohttp will ask the resolver
        with self._gates.using(key) as gate:
            if not gate.breaker.allows():  # fail fast, without queueing for a slot
                raise self._circuit_open(gate, target)
            async with self._slot(gate, target, deadline):
                granted = gate.breaker.admit()
                if granted is None:
                    raise self._circuit_open(gate, target)
                return await self._request(gate, granted, target, url, deadline)

    async def _request(self, gate: HostGate, granted: Pass, target: Target, url: URL,
                       deadline: float) -> bytes | _Redirect:
        try:
            async with asyncio.timeout_at(deadline):
                gate.addresses = await self._checked(target)
                result = await self._exchange(target, url)
        except TimeoutError as e:
            gate.breaker.failure(granted)
            raise failed(f"fetching {target.shown} timed out after {self._policy.timeout_s}s", "timeout") from e
        except FetchError as e:
            if e.outcome in _HOST_FAILURES:
                gate.breaker.failure(granted)
            elif e.outcome == "forbidden":
                gate.breaker.abandon(granted)
            else:  # the host answered (4xx, too large): it is up
                gate.breaker.success(granted)
            raise
        except BaseException:
            gate.breaker.abandon(granted)
            raise
        gate.breaker.success(granted)
        return result

    @asynccontextmanager
    async def _slot(self, gate: HostGate, target: Target, deadline: float) -> AsyncIterator[None]:
        """A slot of the host, then one of the fetcher; both waits count against the fetch's deadline."""
        loop = asyncio.get_running_loop()
        queued = loop.time()
        try:
            async with asyncio.timeout_at(deadline):
                await gate.slots.acquire()
                try:
                    await self._slots.acquire()
                except BaseException:
                    gate.slots.release()
                    raise
        except TimeoutError as e:
            raise failed(f"fetching {target.shown} timed out after {self._policy.timeout_s}s waiting for a slot: "
                         f"at most {self._policy.max_per_host} requests go to image host {target.netloc} at once "
                         f"({self._policy.max_in_flight} in all)", "queue_timeout") from e
        SLOT_WAIT_SECONDS.observe(loop.time() - queued)
        try:
            yield
        finally:
            self._slots.release()
            gate.slots.release()

    def _circuit_open(self, gate: HostGate, target: Target) -> FetchError:
        return failed(f"{gate.refusal()}: {target.shown} was not fetched; replay the event from the dead-letter "
                      "topic once the host recovers", "circuit_open")

    async def _checked(self, target: Target) -> list[ResolveResult]:
        """Resolve ``target``'s host once and check every address; the answers aiohttp may connect to."""
        infos = literal_answer(target)
        if infos is None:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(target.host, target.port,
                                                                     type=socket.SOCK_STREAM)
            except (OSError, UnicodeError) as e:
                raise failed(f"cannot resolve image host {target.host}: {e}", "unreachable") from e
        allowed = target.allowed_by(self._allow)
        answers: list[ResolveResult] = []
        for family, _, proto, _, sockaddr in infos:
            address = ipaddress.ip_address(sockaddr[0])
            if not (allowed or is_public(address)):
                logger.info("refused %s: resolves to internal address %s", target.shown, address)
                raise forbidden(f"image host {target.netloc} resolves to internal address {address}; only "
                                "public addresses are fetched (see TAGSTREAM_URL_ALLOW_HOSTS)")
            answers.append(ResolveResult(hostname=target.host, host=str(sockaddr[0]), port=int(sockaddr[1]),
                                         family=family, proto=proto,
                                         flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV))
        if not answers:
            raise failed(f"image host {target.host} resolves to no address", "unreachable")
        return answers

    async def _exchange(self, target: Target, url: URL) -> bytes | _Redirect:
        try:
            async with self._session.get(url, allow_redirects=False) as response:
                return await self._body(target, response)
        except aiohttp.ClientConnectorError as e:
            reason = os.strerror(e.os_error.errno) if e.os_error.errno else type(e.os_error).__name__
            raise failed(f"cannot connect to image host {target.netloc}: {reason}", "unreachable") from e
        except aiohttp.ClientResponseError as e:  # its text would repeat the URL, query included
            raise failed(f"fetching {target.shown} failed: {type(e).__name__}: {e.message}", "unreachable") from e
        except (aiohttp.ClientError, OSError) as e:
            raise failed(f"fetching {target.shown} failed: {type(e).__name__}: {e}", "unreachable") from e

    async def _body(self, target: Target, response: aiohttp.ClientResponse) -> bytes | _Redirect:
        location = response.headers.get("Location")
        if response.status in _REDIRECTS and location:
            return _Redirect(location)
        if response.status >= 500:
            raise failed(f"image host {target.netloc} answered HTTP {response.status} for {target.shown}",
                         "server_error")
        if response.status >= 400:
            raise failed(f"image host {target.netloc} answered HTTP {response.status} for {target.shown}",
                         "http_error")
        if not 200 <= response.status < 300:
            raise failed(f"image host {target.netloc} answered unexpected HTTP {response.status}", "http_error")
        limit = self._policy.max_bytes
        if response.content_length is not None and response.content_length > limit:
            raise too_large(target, limit, f"Content-Length {response.content_length}")
        chunks: list[bytes] = []
        total = 0
        async for chunk in response.content.iter_chunked(_CHUNK):
            total += len(chunk)
            if total > limit:
                raise too_large(target, limit, f"over {total} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


