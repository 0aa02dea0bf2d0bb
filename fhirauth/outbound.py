"""Outbound HTTP that cannot be turned against the payer's own network.

fhirauth calls addresses its clients choose (rest-hook endpoints, ``jwks_uri``), so every such
call: is https (plain http only to loopback, and only when allowed); follows no redirects; and
checks the address it actually connects to, after DNS resolution, refusing loopback (unless
allowed), private, link-local (cloud metadata at 169.254.169.254 included), multicast, reserved
and unspecified addresses. Checking at connect time, on the resolved address, is what defeats
DNS rebinding: a name that resolves to a public address at validation time and a private one
later.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError


class Refused(requests.ConnectionError):
    """The address is one fhirauth never calls."""


def address_refusal(ip: str, *, allow_loopback: bool) -> str | None:
    """Why fhirauth will not connect to ``ip``, or None when it may."""
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    if addr.is_loopback:
        return None if allow_loopback else "a loopback address"
    if addr.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if addr.is_private or addr in ipaddress.ip_network("100.64.0.0/10"):
        return "a private address"
    if addr.is_multicast or addr.is_reserved or addr.is_unspecified:
        return "a reserved address"
    return None


def _guarded(base: type[HTTPConnection]) -> type[HTTPConnection]:
    class Guarded(base):  # type: ignore[valid-type, misc]
        allow_loopback = False

        def _new_conn(self) -> socket.socket:
            try:
                infos = socket.getaddrinfo(self._dns_host, self.port, type=socket.SOCK_STREAM)
            except socket.gaierror as exc:
                raise NewConnectionError(self, f"cannot resolve {self.host}: {exc}") from exc
            for *_, sockaddr in infos:
                why = address_refusal(str(sockaddr[0]), allow_loopback=self.allow_loopback)
                if why:
                    raise NewConnectionError(self, f"refused: {self.host} resolves to {why}")
            family, kind, proto, _, sockaddr = infos[0]
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(self.timeout if isinstance(self.timeout, int | float) else None)
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                sock.connect(sockaddr)  # the very address that was checked
            except OSError as exc:
                sock.close()
                raise NewConnectionError(self, f"cannot connect to {self.host}: {exc}") from exc
            return sock

    return Guarded


class _Adapter(HTTPAdapter):
    def __init__(self, allow_loopback: bool) -> None:
        self._allow_loopback = allow_loopback
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        http_conn = _guarded(HTTPConnection)
        https_conn = _guarded(HTTPSConnection)
        http_conn.allow_loopback = https_conn.allow_loopback = self._allow_loopback

        class HttpPool(HTTPConnectionPool):
            ConnectionCls = http_conn

        class HttpsPool(HTTPSConnectionPool):
            ConnectionCls = https_conn

        self.poolmanager.pool_classes_by_scheme = {"http": HttpPool, "https": HttpsPool}
        self.poolmanager.key_fn_by_scheme = dict(self.poolmanager.key_fn_by_scheme)


class GuardedSession(requests.Session):
    """A requests Session for calls to addresses that outsiders choose."""

    def __init__(self, *, allow_loopback: bool = False, allow_http: bool = False) -> None:
        super().__init__()
        self.allow_loopback = allow_loopback
        self.allow_http = allow_http
        self.trust_env = False  # no proxies or netrc from the environment
        adapter = _Adapter(allow_loopback)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        target = url.decode() if isinstance(url, bytes) else url
        parts = urlsplit(target)
        host = (parts.hostname or "").lower()
        if parts.scheme != "https":
            loopback = host in ("localhost", "127.0.0.1", "::1") or host.startswith("127.")
            if parts.scheme != "http" or not (
                self.allow_http or (self.allow_loopback and loopback)
            ):
                raise Refused(f"refused: {parts.scheme}:// URLs are not called; use https")
        kwargs["allow_redirects"] = False
        return super().request(method, target, *args, **kwargs)


def guarded_get(url: str, *, allow_loopback: bool, timeout: float) -> requests.Response:
    """GET ``url`` under the rules above (for a client's ``jwks_uri``)."""
    with GuardedSession(allow_loopback=allow_loopback) as session:
        return session.get(url, timeout=timeout)
