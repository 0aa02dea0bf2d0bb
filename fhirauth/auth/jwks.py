"""Clients' ``jwks_uri`` documents: fetched within bounds, one fetch per URL at a time, kept.

* A fetched JWKS is reused for ``ttl`` seconds; an assertion naming a ``kid`` it lacks refetches
  it, but not more often than every ``refresh`` seconds (key rotation works, and unknown kids
  cannot turn every request into a fetch).
* A failed fetch is remembered for ``failure_ttl`` seconds: meanwhile the URL is not fetched
  again and the failure is the answer (a JWKS fetched earlier stays usable until its own
  ``ttl``).
* One fetch per URL is in flight: requests that need the same URL meanwhile wait for its result
  (at most the fetch deadline) instead of fetching too.
* The fetch itself (fhirauth.auth.fetch) is capped in bytes and bounded by one deadline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from fhirauth.auth.fetch import FetchFailed, bounded_get
from fhirauth.auth.keys import BadKey, thumbprint

MAX_BYTES = 64 * 1024
DEADLINE = 5.0  # seconds for one whole fetch
TTL = 300.0  # seconds a fetched JWKS is reused
REFRESH = 10.0  # an unknown kid refetches a JWKS older than this
FAILURE_TTL = 30.0  # seconds a failed fetch is the answer

Fetch = Callable[[str, bool], bytes]  # (url, allow_loopback) -> body, or FetchFailed


class JwksUnavailable(Exception):
    """The client's JWKS could not be had; the message says why (log and audit only)."""


@dataclass
class _Entry:
    doc: dict[str, Any] | None = None
    fetched_at: float = 0.0
    failure: str | None = None
    failed_at: float = 0.0


class _Flight:
    def __init__(self) -> None:
        self.done = threading.Event()


def parse_jwks(raw: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise FetchFailed("the answer is not JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise FetchFailed("the answer is not a JWKS")
    return doc


def find_key(jwks: dict[str, Any], kid: str) -> dict[str, Any] | None:
    """The key whose ``kid`` is ``kid`` (a key without one is named by its thumbprint)."""
    for jwk in jwks.get("keys") or []:
        if not isinstance(jwk, dict):
            continue
        name = jwk.get("kid")
        if name is None:
            try:
                name = thumbprint(jwk)
            except BadKey:
                continue
        if name == kid:
            return jwk
    return None


class JwksCache:
    def __init__(
        self,
        fetch: Fetch | None = None,
        *,
        max_bytes: int = MAX_BYTES,
        deadline: float = DEADLINE,
        ttl: float = TTL,
        refresh: float = REFRESH,
        failure_ttl: float = FAILURE_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch or (
            lambda url, loopback: bounded_get(
                url, allow_loopback=loopback, max_bytes=max_bytes, deadline=deadline
            )
        )
        self.deadline = deadline
        self._ttl, self._refresh, self._failure_ttl = ttl, refresh, failure_ttl
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._flights: dict[str, _Flight] = {}
        self._lock = threading.Lock()

    def key(self, url: str, kid: str, allow_loopback: bool) -> dict[str, Any] | None:
        """The JWK named ``kid`` at ``url`` (None: the JWKS has no such key), or
        JwksUnavailable."""
        with self._lock:
            answer = self._cached(url, kid)
            if answer is not None:
                return answer[0]
            flight = self._flights.get(url)
            leader = flight is None
            if flight is None:
                flight = self._flights[url] = _Flight()
        if leader:
            self._fly(url, allow_loopback, flight)
        elif not flight.done.wait(self.deadline + 1.0):
            raise JwksUnavailable("the JWKS is still being fetched by another request")
        with self._lock:
            answer = self._cached(url, kid, after_fetch=True)
        assert answer is not None
        return answer[0]

    def _cached(
        self, url: str, kid: str, after_fetch: bool = False
    ) -> tuple[dict[str, Any] | None] | None:
        """``(key or None,)`` when the cache answers, None when a fetch is needed (lock held)."""
        entry = self._entries.get(url)
        if entry is None:
            if after_fetch:
                raise JwksUnavailable("the JWKS fetch ended without a result")
            return None
        now = self._clock()
        failing = entry.failure is not None and now - entry.failed_at < self._failure_ttl
        if entry.doc is not None and now - entry.fetched_at < self._ttl:
            found = find_key(entry.doc, kid)
            if found is not None or after_fetch or failing:
                return (found,)
            if now - entry.fetched_at < self._refresh:
                return (None,)
            return None
        if failing or after_fetch:
            raise JwksUnavailable(entry.failure or "the JWKS could not be fetched")
        return None

    def _fly(self, url: str, allow_loopback: bool, flight: _Flight) -> None:
        doc, failure = None, "the fetch was interrupted"
        try:
            doc = parse_jwks(self._fetch(url, allow_loopback))
        except FetchFailed as exc:
            failure = str(exc)
        except Exception as exc:  # never leave the waiters without a result
            failure = f"the fetch failed ({type(exc).__name__})"
        finally:
            now = self._clock()
            with self._lock:
                entry = self._entries.setdefault(url, _Entry())
                if doc is not None:
                    entry.doc, entry.fetched_at, entry.failure = doc, now, None
                else:
                    entry.failure, entry.failed_at = failure, now
                del self._flights[url]
            flight.done.set()
