"""Clients' jwks_uri, fetched from a real loopback server that misbehaves: a body of gigabytes,
a drip of a byte at a time, a stall, redirects and errors. Each fetch ends within its byte cap
and its one deadline, the server sees the connection closed early, one fetch per URL is in
flight and failures are remembered (issue 11 point 2)."""

from __future__ import annotations

import json
import socket
import threading
import time
import tracemalloc
from typing import Any

import pytest

from fhirauth.auth.fetch import FetchFailed, TooLarge, bounded_get
from fhirauth.auth.jwks import JwksCache, JwksUnavailable
from tests.auth.helpers import Keys
from tests.auth.hostile import GENEROUS, GIB, Server

pytest_plugins = ("tests.auth.fixtures",)


def get(url: str, deadline: float = 1.0) -> bytes:
    return bounded_get(url, allow_loopback=True, max_bytes=64 * 1024, deadline=deadline)


def test_a_jwks_is_fetched(hostile: Server, keys: Keys) -> None:
    assert json.loads(get(hostile.base + "/jwks"))["keys"][0]["kid"] == keys.kid(keys.ec)


def test_a_body_of_gigabytes_is_read_no_further_than_the_cap(hostile: Server) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(TooLarge):
            get(hostile.base + "/huge", deadline=GENEROUS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    seen = hostile.last("/huge")
    assert seen.closed_early and seen.sent < 2 * GIB
    assert peak < 8 * 1024 * 1024  # the cap is 64 KiB; the server offered 2 GiB


def test_a_declared_length_over_the_cap_is_refused_before_the_body(hostile: Server) -> None:
    with pytest.raises(TooLarge, match="declares"):
        get(hostile.base + "/huge-declared", deadline=GENEROUS)
    seen = hostile.last("/huge-declared")
    assert seen.closed_early and seen.sent < 2 * GIB


@pytest.mark.parametrize("path", ["/drip", "/drip-head"])
def test_a_drip_ends_at_the_one_deadline_whatever_the_number_of_reads(
    hostile: Server, path: str
) -> None:
    started = time.monotonic()
    with pytest.raises(FetchFailed, match="within 1 s"):
        get(hostile.base + path, deadline=1.0)
    assert time.monotonic() - started < GENEROUS
    seen = hostile.last(path)
    assert seen.closed_early  # the server was still dripping when the connection closed


def test_redirects_and_errors_are_failures(hostile: Server) -> None:
    with pytest.raises(FetchFailed, match="HTTP 302"):
        get(hostile.base + "/redirect")
    assert hostile.hits("/jwks") == 0  # not followed
    with pytest.raises(FetchFailed, match="HTTP 500"):
        get(hostile.base + "/broken")


def test_the_address_rules_hold_before_any_connection() -> None:
    for url, why in (
        ("http://127.0.0.1:9/jwks", "http://"),  # loopback needs allow_loopback
        ("https://10.1.2.3/jwks", "private"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("ftp://example.org/jwks", "ftp://"),
    ):
        with pytest.raises(FetchFailed, match=why):
            bounded_get(url, allow_loopback=False, max_bytes=65536, deadline=1.0)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def cache(clock: Clock | None = None, **kw: Any) -> JwksCache:
    return JwksCache(
        lambda url, loopback: get(url, deadline=GENEROUS),
        deadline=GENEROUS,
        clock=clock or Clock(),
        **kw,
    )


def test_one_fetch_per_url_is_in_flight_and_the_others_wait_for_it(
    hostile: Server, keys: Keys
) -> None:
    jwks = cache()
    url, kid = hostile.base + "/slow-jwks", keys.kid(keys.ec)
    results: list[Any] = []

    def ask() -> None:
        results.append(jwks.key(url, kid, True))

    leader = threading.Thread(target=ask)
    leader.start()
    assert hostile.arrived.wait(GENEROUS)
    followers = [threading.Thread(target=ask) for _ in range(4)]
    for t in followers:
        t.start()
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline and hostile.hits("/slow-jwks") == 1:
        time.sleep(0.05)  # a second fetch, if there were one, would reach the server now
    hostile.release.set()
    for t in (leader, *followers):
        t.join(GENEROUS)
    assert hostile.hits("/slow-jwks") == 1
    assert [r["kid"] for r in results] == [kid] * 5


def test_a_failure_is_remembered_for_a_while(hostile: Server) -> None:
    clock = Clock()
    jwks = cache(clock, failure_ttl=30.0)
    url = hostile.base + "/broken"
    for _ in range(3):
        with pytest.raises(JwksUnavailable, match="HTTP 500"):
            jwks.key(url, "any", True)
    assert hostile.hits("/broken") == 1
    clock.t += 31
    with pytest.raises(JwksUnavailable):
        jwks.key(url, "any", True)
    assert hostile.hits("/broken") == 2


def test_an_unknown_kid_refetches_at_most_every_refresh_interval(
    hostile: Server, keys: Keys
) -> None:
    clock = Clock()
    jwks = cache(clock, refresh=10.0, ttl=300.0)
    url = hostile.base + "/jwks"
    assert jwks.key(url, keys.kid(keys.ec), True) is not None
    for _ in range(5):
        assert jwks.key(url, "rotated-in", True) is None
    assert hostile.hits("/jwks") == 1
    clock.t += 11
    assert jwks.key(url, "rotated-in", True) is None
    assert jwks.key(url, keys.kid(keys.ec), True) is not None
    assert hostile.hits("/jwks") == 2
    clock.t += 300
    assert jwks.key(url, keys.kid(keys.ec), True) is not None  # expired: fetched again
    assert hostile.hits("/jwks") == 3


def test_a_jwks_that_is_not_one_is_a_failure() -> None:
    url = "https://ehr.example.org/jwks"
    jwks = JwksCache(lambda url, loopback: b'{"keys": 1}', clock=Clock())
    with pytest.raises(JwksUnavailable, match="not a JWKS"):
        jwks.key(url, "kid", False)
    jwks = JwksCache(lambda url, loopback: b"<html>", clock=Clock())
    with pytest.raises(JwksUnavailable, match="not JSON"):
        jwks.key(url, "kid", False)


def test_a_tls_handshake_that_never_completes_ends_at_the_deadline() -> None:
    """An https jwks_uri whose server accepts and then says nothing, for ever."""
    listener = socket.create_server(("127.0.0.1", 0))
    closed = threading.Event()

    def hold() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(GENEROUS)
            while conn.recv(4096):  # the ClientHello, then nothing until the client gives up
                pass
            closed.set()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    try:
        url = f"https://127.0.0.1:{listener.getsockname()[1]}/jwks"
        with pytest.raises(FetchFailed, match="within 1 s"):
            get(url, deadline=1.0)
        assert closed.wait(GENEROUS)
    finally:
        listener.close()
        thread.join(GENEROUS)
