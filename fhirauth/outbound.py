"""Outbound HTTP that cannot be turned against the payer's own network.

fhirauth calls addresses its clients choose (rest-hook endpoints, ``jwks_uri``), so every such
call: is https (plain http only to loopback, and only when allowed); follows no redirects; and
checks the address it actually connects to, after DNS resolution, refusing loopback (unless
allowed), private, link-local (cloud metadata at 169.254.169.254 included), multicast, reserved
and unspecified addresses, and IPv6 addresses that embed such an IPv4 address (IPv4-mapped,
IPv4-compatible, 6to4, NAT64; Teredo altogether). Checking at connect time, on the resolved
address, is what defeats DNS rebinding: a name that resolves to a public address at validation
time and a private one later. Before any lookup, ``localhost`` and ``*.localhost`` names (any
case, final dot or not) count as loopback, and hosts written as addresses (``[::1]``,
``127.1``, ``0x7f.0.0.1``) are judged as the address they spell.
"""

from __future__ import annotations

import ipaddress
import re
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


_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known NAT64 prefix (RFC 6052)
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d (RFC 4291)
_TEREDO = ipaddress.ip_network("2001::/32")  # RFC 4380
# Hosts written the way inet_aton reads IPv4 (127.1, 0x7f.0.0.1, 2130706433): resolvers do too.
_LEGACY_IPV4 = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$")


def _ipv4_refusal(addr: ipaddress.IPv4Address, allow_loopback: bool) -> str | None:
    if addr.is_loopback:
        return None if allow_loopback else "a loopback address"
    if addr.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if addr.is_private or addr in _SHARED:
        return "a private address"
    if addr.is_multicast or addr.is_reserved or addr.is_unspecified or not addr.is_global:
        return "a reserved address"
    return None


def _ipv6_refusal(addr: ipaddress.IPv6Address, allow_loopback: bool) -> str | None:
    """IPv6 addresses that carry an IPv4 address are judged by the IPv4 address they reach."""
    if addr.ipv4_mapped:  # ::ffff:a.b.c.d is the IPv4 address itself, on a dual-stack socket
        return _ipv4_refusal(addr.ipv4_mapped, allow_loopback)
    if addr.is_loopback:
        return None if allow_loopback else "a loopback address"
    if addr in _TEREDO:
        return "a Teredo tunnel address"
    if addr in _IPV4_COMPATIBLE and not addr.is_unspecified:
        return "an IPv4-compatible IPv6 address (deprecated)"
    # 6to4 and NAT64 reach the IPv4 address they embed (through a relay or gateway, whose own
    # loopback is not ours to allow).
    for embedded, how in ((addr.sixtofour, "6to4"), (_nat64(addr), "NAT64")):
        if embedded is not None:
            why = _ipv4_refusal(embedded, allow_loopback=False)
            return f"{why} ({embedded}, embedded in a {how} address)" if why else None
    if addr.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if addr.is_private:
        return "a private address"
    if addr.is_multicast or addr.is_reserved or addr.is_unspecified or not addr.is_global:
        return "a reserved address"
    return None


def _nat64(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF) if addr in _NAT64 else None


def address_refusal(ip: str, *, allow_loopback: bool) -> str | None:
    """Why fhirauth will not connect to ``ip``, or None when it may: loopback (unless allowed),
    private, shared, link-local, multicast, reserved, unspecified and other non-global
    addresses, also when an IPv6 address embeds them (IPv4-mapped, IPv4-compatible, 6to4,
    NAT64, Teredo). Raises ValueError when ``ip`` is not an address."""
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address):
        return _ipv6_refusal(addr, allow_loopback)
    return _ipv4_refusal(addr, allow_loopback)


def is_loopback_name(host: str) -> bool:
    """``localhost`` and every ``*.localhost`` name, any case, with or without the final dot
    (RFC 6761: they are loopback, whatever a resolver says)."""
    name = host.lower().rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


def _literal(host: str) -> str | None:
    """The address a URL's host is written as, if it is one (brackets, a final dot and the
    inet_aton spellings allowed), else None."""
    h = host.strip("[]").lower()
    h = h[:-1] if h.endswith(".") and ":" not in h else h
    try:
        return str(ipaddress.ip_address(h.split("%", 1)[0]))
    except ValueError:
        pass
    if _LEGACY_IPV4.match(h):
        try:
            return socket.inet_ntoa(socket.inet_aton(h))
        except OSError:
            return None
    return None


def host_refusal(host: str, *, allow_loopback: bool) -> str | None:
    """Why fhirauth will not call a URL whose host is ``host``, judged on how it is written:
    loopback names and refused address literals. Other names are judged on the addresses they
    resolve to, when connecting."""
    if is_loopback_name(host):
        return None if allow_loopback else "a loopback name"
    literal = _literal(host)
    return address_refusal(literal, allow_loopback=allow_loopback) if literal else None


def _is_loopback_host(host: str) -> bool:
    if is_loopback_name(host):
        return True
    literal = _literal(host)
    return literal is not None and address_refusal(literal, allow_loopback=False) == (
        "a loopback address"
    )


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
        host = parts.hostname or ""
        if parts.scheme != "https":
            loopback = _is_loopback_host(host)
            if parts.scheme != "http" or not (
                self.allow_http or (self.allow_loopback and loopback)
            ):
                raise Refused(f"refused: {parts.scheme}:// URLs are not called; use https")
        why = host_refusal(host, allow_loopback=self.allow_loopback)
        if why:
            raise Refused(f"refused: {host} is {why}")
        kwargs["allow_redirects"] = False
        return super().request(method, target, *args, **kwargs)


def guarded_get(url: str, *, allow_loopback: bool, timeout: float) -> requests.Response:
    """GET ``url`` under the rules above (for a client's ``jwks_uri``)."""
    with GuardedSession(allow_loopback=allow_loopback) as session:
        return session.get(url, timeout=timeout)
