"""One bounded GET of a client's ``jwks_uri``: a byte cap, one total deadline, SSRF rules.

The address rules are fhirauth.outbound's (https only, plain http only to loopback and only
when allowed; no redirects; every resolved address checked, and the checked one connected to).
The bounds are what a hostile JWKS host cannot stretch:

* **bytes**: everything read from the socket (status line, headers, chunk framing and body)
  is counted, and reading stops at ``max_bytes`` of body plus a small allowance for the head;
  a declared ``Content-Length`` over the cap stops it before the body is read;
* **time**: one deadline for the whole exchange (connect, TLS, request, head, body). A watchdog
  shuts the socket down when it passes, so a server that drips a byte a second, or stalls
  halfway, holds the thread no longer than the deadline, however many reads that takes.

Name resolution happens before the deadline's watchdog can act on a socket; the system
resolver's own timeouts bound it.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import socket
import ssl
import threading
import time
from urllib.parse import urlsplit

from fhirauth.outbound import address_refusal, host_refusal

HEAD_ALLOWANCE = 16 * 1024  # status line and headers, on top of the body's cap


class FetchFailed(Exception):
    """The document could not be had within the bounds; the message says why (for the log and
    the audit trail, never for the caller)."""


class TooLarge(FetchFailed):
    pass


def _loopback(host: str) -> bool:
    """Refused only because it is loopback (a loopback name or address literal)."""
    return (
        host_refusal(host, allow_loopback=False) is not None
        and host_refusal(host, allow_loopback=True) is None
    )


class _Watchdog:
    """Shuts the watched socket down when the deadline passes, waking any blocked read."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            if self.expired:
                self._shutdown(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            if self._sock is not None:
                self._shutdown(self._sock)

    @staticmethod
    def _shutdown(sock: socket.socket) -> None:
        # The plain socket's shutdown, on the descriptor: an SSLSocket's own would tear down
        # its TLS state under the reading thread's feet.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def stop(self) -> None:
        """No shutdown after this returns, so the socket may be closed (and its descriptor
        reused) safely."""
        self._timer.cancel()
        with self._lock:
            self._sock = None


class _CappedReader(io.RawIOBase):
    """The socket's bytes, refusing to read past ``limit`` in total."""

    def __init__(self, sock: socket.socket, limit: int) -> None:
        self._sock = sock
        self._limit = limit
        self.seen = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        room = self._limit - self.seen
        if room <= 0:
            raise TooLarge(f"the answer exceeded {self._limit} bytes")
        view = memoryview(buffer)
        n = self._sock.recv_into(view[: min(len(view), room)])
        self.seen += n
        return n


class _CappedSocket:
    """What http.client.HTTPResponse needs of a socket: ``makefile``, capped."""

    def __init__(self, sock: socket.socket, limit: int) -> None:
        self._sock = sock
        self._limit = limit

    def makefile(self, mode: str = "rb", *args: object, **kwargs: object) -> io.BufferedReader:
        return io.BufferedReader(_CappedReader(self._sock, self._limit))


def bounded_get(url: str, *, allow_loopback: bool, max_bytes: int, deadline: float) -> bytes:
    """The body of a 200 answer to ``GET url``, at most ``max_bytes``, within ``deadline``
    seconds in all; FetchFailed otherwise."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https":
        tls = True
    elif parts.scheme == "http" and allow_loopback and _loopback(host):
        tls = False
    else:
        raise FetchFailed(
            f"{parts.scheme}:// URLs are not fetched; use https (plain http only to loopback, "
            "with FHIRAUTH_JWKS_ALLOW_LOOPBACK)"
        )
    why = host_refusal(host, allow_loopback=allow_loopback)
    if why:
        raise FetchFailed(f"{host} is {why}")
    try:
        port = parts.port or (443 if tls else 80)
    except ValueError:
        raise FetchFailed("the URL's port is not a number") from None
    started = time.monotonic()
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise FetchFailed(f"cannot resolve {host}") from None
    for *_, sockaddr in infos:
        why = address_refusal(str(sockaddr[0]), allow_loopback=allow_loopback)
        if why:
            raise FetchFailed(f"{host} resolves to {why}")
    remaining = deadline - (time.monotonic() - started)
    if remaining <= 0:
        raise FetchFailed(f"no answer within {deadline:g} s")
    family, kind, proto, _, sockaddr = infos[0]
    sock = socket.socket(family, kind, proto)
    watchdog = _Watchdog(remaining)
    watchdog.watch(sock)
    try:
        sock.settimeout(remaining)  # a backstop: the watchdog ends the exchange on time
        sock.connect(sockaddr)  # the very address that was checked
        if tls:
            context = ssl.create_default_context()
            sock = context.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
            watchdog.watch(sock)
            sock.do_handshake()
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        sock.sendall(
            f"GET {target} HTTP/1.1\r\nHost: {parts.netloc.rpartition('@')[2]}\r\n"
            "Accept: application/jwk-set+json, application/json\r\n"
            "User-Agent: fhirauth\r\nConnection: close\r\n\r\n".encode("ascii", "replace")
        )
        body = _read(sock, max_bytes)
    except FetchFailed:
        if watchdog.expired:
            raise FetchFailed(f"no complete answer within {deadline:g} s") from None
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if watchdog.expired:
            raise FetchFailed(f"no complete answer within {deadline:g} s") from None
        raise FetchFailed(f"the exchange failed ({type(exc).__name__})") from None
    finally:
        watchdog.stop()
        sock.close()
    if watchdog.expired:  # a body "until close" would end early and look whole
        raise FetchFailed(f"no complete answer within {deadline:g} s")
    return body


def _read(sock: socket.socket, max_bytes: int) -> bytes:
    capped = _CappedSocket(sock, max_bytes + HEAD_ALLOWANCE)
    resp = http.client.HTTPResponse(capped, method="GET")  # type: ignore[arg-type]
    resp.begin()
    if resp.status != 200:
        raise FetchFailed(f"HTTP {resp.status}")
    declared = (resp.getheader("Content-Length") or "").strip()
    if declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"the answer declares {declared} bytes, over the cap of {max_bytes}")
    body = resp.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise TooLarge(f"the answer is larger than the cap of {max_bytes} bytes")
    return body
