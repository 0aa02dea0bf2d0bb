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

from fhirauth.outbound import GuardedSession, Refused, address_refusal, guarded_get


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
    ],
)
def test_addresses_fhirauth_never_calls(ip: str, refused: bool) -> None:
    assert (address_refusal(ip, allow_loopback=False) is not None) is refused


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
