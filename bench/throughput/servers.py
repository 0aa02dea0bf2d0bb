"""The servers a run measures: the floor (a do-nothing Flask app) and fhirauth, each under
gunicorn with the options ``fhirauth serve`` uses, started and stopped as processes."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, Response, request
from gunicorn.app.base import BaseApplication

import fhirauth.serve
from fhirauth import logs

from .databases import Database
from .procfs import children

ROOT = Path(__file__).resolve().parents[2]
# The floor runs in a process of its own: bench/submit.py again, with --serve-floor.
SUBMIT = ROOT / "bench" / "submit.py"
# The fhirauth of the interpreter running this script (the venv's console script).
FHIRAUTH = Path(sys.executable).parent / "fhirauth"
HOST = "127.0.0.1"
FLOOR_BODY = (
    b'{"resourceType":"OperationOutcome",'
    b'"issue":[{"severity":"information","code":"informational"}]}'
)
FHIR_JSON = "application/fhir+json"


def gunicorn_options(port: int, workers: int) -> dict[str, Any]:
    # fhirauth's logging setup (its INFO default) too, so gunicorn's own lines cost the floor
    # what they cost fhirauth.
    return fhirauth.serve.gunicorn_options(HOST, port, workers, logs.dict_config())


# --- the floor app ---------------------------------------------------------------------------


def floor_app() -> Flask:
    """Reads the body (as fhirauth must) and answers a small fixed JSON, on any path."""
    app = Flask("floor")

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
    @app.route("/<path:path>", methods=["GET", "POST"])
    def answer(path: str) -> Response:
        request.get_data()
        return Response(FLOOR_BODY, content_type=FHIR_JSON)

    return app


class FloorServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # as fhirauth/serve.py: older gunicorns lack some
                self.cfg.set(key, value)

    def load(self) -> Flask:
        return floor_app()


# --- servers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    backend: str  # sqlite | postgresql
    auth: str  # off | required

    def __str__(self) -> str:
        return f"{self.backend}, auth {self.auth}"


@dataclass
class Server:
    label: str
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def worker_pids(self) -> list[int]:
        return children(self.proc.pid)

    def stop(self) -> None:
        """SIGTERM to the gunicorn master (it stops its workers), SIGKILL after 20 s."""
        if self.proc.poll() is not None:
            return
        workers = self.worker_pids()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            # Workers first, while they are still the master's children and their pids ours.
            for pid in [p for p in workers if p in self.worker_pids()] + [self.proc.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def server_env(**settings: str) -> dict[str, str]:
    """This environment without any FHIRAUTH_* variable, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIRAUTH_")}
    return {**env, **settings}


def start(label: str, cmd: list[str], env: dict[str, str], log_path: Path, port: int) -> Server:
    with log_path.open("ab") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    server = Server(label, proc, port, log_path)
    try:
        wait_ready(server)
    except BaseException:
        server.stop()
        raise
    return server


def wait_ready(server: Server, timeout: float = 120) -> None:
    """Poll GET /fhir/metadata (the floor answers any path) until it answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            tail = server.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{server.label} exited with {server.proc.returncode}:\n{tail}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            if call(server.base, "GET", "/fhir/metadata", timeout=5)[0] == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{server.label} did not answer within {timeout:.0f} s")


@contextlib.contextmanager
def floor_server(workdir: Path, workers: int) -> Iterator[Server]:
    port = free_port()
    cmd = [sys.executable, str(SUBMIT), "--serve-floor", str(port), "--workers", str(workers)]
    server = start("floor", cmd, server_env(), workdir / "floor.log", port)
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def fhirauth_server(config: Config, db: Database, workers: int) -> Iterator[Server]:
    port = free_port()
    env = server_env(
        FHIRAUTH_DATA_DIR=str(db.data_dir),
        FHIRAUTH_AUTH=config.auth,
        # One token serves the whole run, which may outlast the default 300 s.
        FHIRAUTH_TOKEN_LIFETIME="3600",
        **({"FHIRAUTH_DATABASE_URL": db.url} if db.url else {}),
    )
    cmd = [str(FHIRAUTH), "serve", "--workers", str(workers), "--port", str(port)]
    server = start(f"fhirauth {config}", cmd, env, db.data_dir / "server.log", port)
    try:
        yield server
    finally:
        server.stop()


def call(
    base: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> tuple[int, bytes]:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()
