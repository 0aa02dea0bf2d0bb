"""FHIR packages for the package-cache tests: a tiny package built in memory and an
npm-protocol registry on loopback (the ``cache`` and ``registry`` fixtures are in
tests/conftest.py)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

NAME = "example.fhir.test"
PROFILE = "http://example.org/fhir/StructureDefinition/test-patient"


def structure_definition(url: str = PROFILE) -> dict[str, Any]:
    """A tiny Patient profile: gender is required."""
    return {
        "resourceType": "StructureDefinition",
        "id": url.rsplit("/", 1)[1],
        "url": url,
        "name": "TestPatient",
        "status": "active",
        "kind": "resource",
        "abstract": False,
        "type": "Patient",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",
        "derivation": "constraint",
        "snapshot": {
            "element": [
                {"id": "Patient", "path": "Patient", "min": 0, "max": "*"},
                {"id": "Patient.id", "path": "Patient.id", "min": 0, "max": "1"},
                {
                    "id": "Patient.meta",
                    "path": "Patient.meta",
                    "min": 0,
                    "max": "1",
                    "type": [{"code": "Meta"}],
                },
                {
                    "id": "Patient.gender",
                    "path": "Patient.gender",
                    "min": 1,
                    "max": "1",
                    "type": [{"code": "code"}],
                },
            ]
        },
    }


def patient(gender: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": "Patient", "id": "p1", "meta": {"profile": [PROFILE]}}
    if gender:
        out["gender"] = gender
    return out


def tgz_bytes(
    files: dict[str, bytes | dict[str, Any]],
    *,
    extra: list[tarfile.TarInfo] | None = None,
) -> bytes:
    """A gzipped tarball of ``files`` (member name → bytes or JSON), plus raw ``extra`` members."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, content in files.items():
            raw = content if isinstance(content, bytes) else json.dumps(content).encode()
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
        for info in extra or []:
            tar.addfile(info)
    return buf.getvalue()


def package_files(name: str = NAME, version: str = "1.0.0", **more: Any) -> dict[str, Any]:
    return {
        "package/package.json": {"name": name, "version": version, "fhirVersions": ["4.0.1"]},
        "package/StructureDefinition-test-patient.json": structure_definition(),
        **more,
    }


def make_tgz(folder: Path, name: str = NAME, version: str = "1.0.0", **more: Any) -> Path:
    """A small FHIR package tarball with one StructureDefinition, written under ``folder``."""
    path = folder / f"{name}-{version}.tgz"
    path.write_bytes(tgz_bytes(package_files(name, version, **more)))
    return path


class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, str, bytes]] = {}

    def do_GET(self) -> None:
        status, ctype, body = self.routes.get(self.path, (404, "application/json", b"{}"))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class NpmRegistry:
    """An npm-protocol package registry on 127.0.0.1: ``GET /{name}`` and the tarballs."""

    def __init__(self, url: str, routes: dict[str, tuple[int, str, bytes]]) -> None:
        self.url = url
        self.routes = routes
        self.meta: dict[str, dict[str, Any]] = {}

    def publish(
        self, tarball: bytes, name: str = NAME, version: str = "1.0.0", *, latest: bool = True
    ) -> dict[str, Any]:
        """Serve ``tarball`` as name@version; the dist entry (editable to break digests)."""
        path = f"/{name}/-/{name}-{version}.tgz"
        self.routes[path] = (200, "application/octet-stream", tarball)
        sha512 = base64.b64encode(hashlib.sha512(tarball).digest()).decode()
        dist = {
            "tarball": self.url + path,
            "shasum": hashlib.sha1(tarball).hexdigest(),
            "integrity": f"sha512-{sha512}",
        }
        meta = self.meta.setdefault(name, {"name": name, "dist-tags": {}, "versions": {}})
        meta["versions"][version] = {"name": name, "version": version, "dist": dist}
        if latest:
            meta["dist-tags"]["latest"] = version
        self.sync()
        return dist

    def sync(self) -> None:
        for name, meta in self.meta.items():
            self.routes[f"/{name}"] = (200, "application/json", json.dumps(meta).encode())


@contextmanager
def npm_registry() -> Iterator[NpmRegistry]:
    handler = type("Handler", (_Handler,), {"routes": {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield NpmRegistry(f"http://127.0.0.1:{server.server_address[1]}", handler.routes)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
