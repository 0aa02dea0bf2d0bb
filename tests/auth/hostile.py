"""A real loopback HTTP server that serves a JWKS, and misbehaves on request: a body of
gigabytes, a drip of a byte at a time, a stall, a redirect, an error. It records, per request,
how much it sent and whether the client closed the connection before it was done."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

GIB = 1024**3
CHUNK = b"x" * 65536
GENEROUS = 30.0  # seconds: far above any deadline here; never a performance claim


@dataclass
class Seen:
    """What the server saw of one request."""

    sent: int = 0
    closed_early: bool = False
    done: threading.Event = field(default_factory=threading.Event)


class Hostile(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    jwks: bytes = b""
    seen: dict[str, list[Seen]]
    release: threading.Event
    arrived: threading.Event

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        seen = Seen()
        self.seen.setdefault(self.path, []).append(seen)
        try:
            name = self.path.split("?", 1)[0].strip("/").replace("-", "_")
            getattr(self, "serve_" + name)(seen)
        except (BrokenPipeError, ConnectionResetError):
            seen.closed_early = True
        finally:
            seen.done.set()

    def _write(self, seen: Seen, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()
        seen.sent += len(data)

    def serve_jwks(self, seen: Seen) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.jwks)))
        self.end_headers()
        self._write(seen, self.jwks)

    def serve_slow_jwks(self, seen: Seen) -> None:
        self.arrived.set()
        self.release.wait(GENEROUS)
        self.serve_jwks(seen)

    def serve_huge(self, seen: Seen) -> None:
        """Two gigabytes, chunked: no Content-Length to refuse it by."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        start = b'{"keys": ["'
        self._write(seen, b"%x\r\n" % len(start) + start + b"\r\n")
        while seen.sent < 2 * GIB:
            self._write(seen, b"%x\r\n" % len(CHUNK) + CHUNK + b"\r\n")

    def serve_huge_declared(self, seen: Seen) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(2 * GIB))
        self.end_headers()
        while seen.sent < 2 * GIB:
            self._write(seen, CHUNK)

    def serve_drip(self, seen: Seen) -> None:
        """A valid JWKS, a byte every 0.1 s: a minute and more in all."""
        body = self.jwks + b" " * 600
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for i in range(len(body)):
            self._write(seen, body[i : i + 1])
            time.sleep(0.1)

    def serve_drip_head(self, seen: Seen) -> None:
        """The status line and headers themselves, a byte every 0.1 s, for ever."""
        head = b"HTTP/1.1 200 OK\r\n" + b"X-Padding: " + b"a" * 5000
        for i in range(len(head)):
            self._write(seen, head[i : i + 1])
            time.sleep(0.1)

    def serve_redirect(self, seen: Seen) -> None:
        self.send_response(302)
        self.send_header("Location", "/jwks")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def serve_broken(self, seen: Seen) -> None:
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()


@dataclass
class Server:
    base: str
    seen: dict[str, list[Seen]]
    release: threading.Event
    arrived: threading.Event

    def hits(self, path: str) -> int:
        return len(self.seen.get(path, []))

    def last(self, path: str) -> Seen:
        seen = self.seen[path][-1]
        assert seen.done.wait(GENEROUS), "the server is still sending: the client never closed"
        return seen


@contextmanager
def serve(jwks: dict[str, Any]) -> Iterator[Server]:
    seen: dict[str, list[Seen]] = {}
    release, arrived = threading.Event(), threading.Event()
    handler = type(
        "Handler",
        (Hostile,),
        {
            "jwks": json.dumps(jwks).encode(),
            "seen": seen,
            "release": release,
            "arrived": arrived,
        },
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Server(f"http://127.0.0.1:{server.server_address[1]}", seen, release, arrived)
    release.set()
    server.shutdown()
    server.server_close()
    thread.join()
