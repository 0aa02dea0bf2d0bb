"""Outbound HTTP to addresses clients choose: https only, no redirects, and never to private,
link-local (cloud metadata) or, unless allowed, loopback addresses, checked on the address
actually dialled."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from fhirauth.outbound import (
    GuardedSession,
    Refused,
    address_refusal,
    guarded_get,
    host_refusal,
    is_loopback_name,
)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/secret")
            self.end_headers()
            return
        self.send_response(200)
        self.end_headers()
        self.wfile.write(self.path.encode())

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def loopback() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


@pytest.mark.parametrize(
    ("ip", "refused"),
    [
        ("169.254.169.254", True),
        ("10.1.2.3", True),
        ("172.16.0.9", True),
        ("192.168.1.1", True),
        ("100.64.0.1", True),
        ("fe80::1", True),
        ("fd00:ec2::254", True),
        ("0.0.0.0", True),
        ("224.0.0.1", True),
        ("::ffff:10.0.0.1", True),
        ("127.0.0.1", True),
        ("::1", True),
        ("93.184.216.34", False),
        ("2606:4700::1111", False),
        # IPv6 addresses carrying an IPv4 address are judged by the one they carry.
        ("::ffff:127.0.0.1", True),  # IPv4-mapped
        ("::ffff:169.254.169.254", True),
        ("::127.0.0.1", True),  # IPv4-compatible (deprecated: all of them)
        ("::93.184.216.34", True),
        ("2002:7f00:1::", True),  # 6to4 around 127.0.0.1
        ("2002:a9fe:a9fe::1", True),  # 6to4 around 169.254.169.254
        ("2002:c0a8:101::", True),  # 6to4 around 192.168.1.1
        ("2002:5db8:d822::1", False),  # 6to4 around 93.184.216.34
        ("64:ff9b::127.0.0.1", True),  # NAT64 around 127.0.0.1
        ("64:ff9b::10.0.0.1", True),
        ("64:ff9b::169.254.169.254", True),
        ("64:ff9b::93.184.216.34", False),  # a public address through NAT64
        ("64:ff9b:1::10.0.0.1", True),  # local-use NAT64 (RFC 8215)
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", True),  # Teredo
        ("2001:0:5db8:d822::1", True),
        ("::", True),
        ("192.0.2.1", True),  # documentation
        ("198.18.0.1", True),  # benchmarking
        ("240.0.0.1", True),  # reserved
        ("fe80::1%eth0", True),
    ],
)
def test_addresses_fhirauth_never_calls(ip: str, refused: bool) -> None:
    assert (address_refusal(ip, allow_loopback=False) is not None) is refused


@pytest.mark.parametrize(
    ("ip", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),  # the same loopback, on a dual-stack socket
        ("2002:7f00:1::", False),  # reached through a 6to4 relay: not our loopback
        ("64:ff9b::127.0.0.1", False),  # the NAT64 gateway's loopback, not ours
        ("::127.0.0.1", False),
        ("10.0.0.1", False),
        ("169.254.169.254", False),
    ],
)
def test_allowing_loopback_allows_only_our_own_loopback(ip: str, allowed: bool) -> None:
    assert (address_refusal(ip, allow_loopback=True) is None) is allowed


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("localhost", "a loopback name"),
        ("LOCALHOST.", "a loopback name"),
        ("LocalHost", "a loopback name"),
        ("ehr.localhost", "a loopback name"),
        ("EHR.LOCALHOST.", "a loopback name"),
        ("127.0.0.1.", "a loopback address"),
        ("127.1", "a loopback address"),  # what inet_aton and resolvers make of it
        ("0x7f.0.0.1", "a loopback address"),
        ("2130706433", "a loopback address"),
        ("[::1]", "a loopback address"),
        ("[::ffff:7f00:1]", "a loopback address"),
        ("0xa9fea9fe", "a link-local address (cloud metadata lives there)"),
        ("10.1", "a private address"),
        ("[2002:a00:1::]", "a private address (10.0.0.1, embedded in a 6to4 address)"),
        ("localhost.ehr.example.org", None),
        ("mylocalhost", None),
        ("ehr.example.org", None),
        ("ehr.example.org.", None),
        ("93.184.216.34", None),
    ],
)
def test_hosts_judged_as_written(host: str, why: str | None) -> None:
    assert host_refusal(host, allow_loopback=False) == why


def test_loopback_names_when_loopback_is_allowed() -> None:
    assert is_loopback_name("LOCALHOST.") and is_loopback_name("a.b.localhost")
    assert not is_loopback_name("localhost.example.org")
    for host in ("LOCALHOST.", "ehr.localhost", "127.1", "[::1]"):
        assert host_refusal(host, allow_loopback=True) is None
    assert host_refusal("10.0.0.1", allow_loopback=True) == "a private address"


@pytest.mark.parametrize(
    "url",
    [
        "https://LOCALHOST./jwks",
        "https://ehr.localhost/jwks",
        "https://127.1/jwks",
        "https://[::ffff:127.0.0.1]/jwks",
        "https://[64:ff9b::a9fe:a9fe]/jwks",
        "https://[2002:a00:1::]/jwks",
    ],
)
def test_refused_before_any_lookup_or_connection(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_lookup(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("looked up")

    monkeypatch.setattr(socket, "getaddrinfo", no_lookup)
    with pytest.raises(Refused, match="refused"):
        GuardedSession().get(url, timeout=2)


def test_loopback_names_over_http_only_when_allowed(loopback: str) -> None:
    port = loopback.rsplit(":", 1)[1]
    with pytest.raises(Refused):
        GuardedSession(allow_loopback=False).get(f"http://LOCALHOST.:{port}/x", timeout=2)
    resp = GuardedSession(allow_loopback=True).get(f"http://127.1:{port}/x", timeout=2)
    assert resp.text == "/x"


def test_loopback_is_called_only_when_allowed(loopback: str) -> None:
    with pytest.raises(Refused):
        guarded_get(f"{loopback}/jwks", allow_loopback=False, timeout=2)
    assert guarded_get(f"{loopback}/jwks", allow_loopback=True, timeout=2).text == "/jwks"


def test_redirects_are_not_followed(loopback: str) -> None:
    resp = guarded_get(f"{loopback}/redirect", allow_loopback=True, timeout=2)
    assert resp.status_code == 302


def test_plain_http_to_other_hosts_is_refused() -> None:
    with pytest.raises(Refused):
        GuardedSession().get("http://ehr.example.org/notify", timeout=2)


def test_a_name_resolving_to_a_private_address_is_refused_at_connect_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # DNS rebinding: the name looks public, the address it resolves to at connect time is not.
    real = socket.getaddrinfo

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "ehr.example.org":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 443))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with pytest.raises(requests.ConnectionError, match="link-local"):
        GuardedSession().get("https://ehr.example.org/notify", timeout=2)


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("2002:7f00:1::", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("64:ff9b::a00:1", "private"),
        ("::a00:1", "IPv4-compatible"),
    ],
)
def test_a_name_resolving_to_an_ipv6_address_around_a_refused_one(
    address: str, why: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = socket.getaddrinfo

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "ehr.example.org":
            return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, 443, 0, 0))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with pytest.raises(requests.ConnectionError, match=why):
        GuardedSession().get("https://ehr.example.org/notify", timeout=2)
