"""HTTP throughput and latency of fhirauth against the floor of its HTTP stack (issue 13).

Run from the repository root::

    .venv/bin/python bench/submit.py --quick    # under a minute: SQLite, authentication off
    .venv/bin/python bench/submit.py            # every configuration, 10 s a row (6-8 min)
    .venv/bin/python bench/submit.py --memory   # plus worker RSS after 2,000 and 20,000 submits
    .venv/bin/python bench/submit.py --check    # exit 1 when a target in TARGETS fails

The floor is a Flask app that reads the body and answers a small fixed JSON, under the same
gunicorn configuration ``fhirauth serve`` uses. fhirauth is started with the real CLI
(``fhirauth serve --workers N``) on a fresh database, once per configuration: SQLite, and
PostgreSQL when ``FHIRAUTH_DATABASE_URL`` names one (a fresh schema in it, dropped after);
authentication off (``FHIRAUTH_AUTH=off``) and required (a client registered with ``fhirauth
clients add``, one SMART token fetched from ``/auth/token``, sent as ``Authorization: Bearer``
on every request). Each row is one endpoint under ``--connections`` concurrent keep-alive
clients for ``--duration`` seconds after a warm-up:

- ``submit new``: ``examples/mixed-outcomes.json`` with Bundle.identifier and Claim.identifier
  changed on every request, so each is a new request (the server dedupes by content hash);
- ``submit duplicate``: the same body again and again after one initial submit;
- ``inquire``: ``examples/inquiry/inquire-ct-head.json``, matching the one stored
  ``approve-ct-head.json``;
- ``metadata``: ``GET /fhir/metadata``;
- ``read ClaimResponse``: ``GET /fhir/ClaimResponse/{id}`` of the stored mixed-outcomes answer.

Ratios are to the POST floor (same body) for POSTs and to the GET floor for GETs, each the mean
of a measurement before and one after the rest. Column ``other%`` is the CPU other work took
during a row; ``conns`` is how the connections fell on the gunicorn workers (a row where one
worker got them all is run again). The load
generator is wrk with ``bench/lua/request.lua`` when ``wrk`` is installed, else a multiprocess
Python client (``--client`` chooses). The servers get no ``FHIRAUTH_*`` variable from the
environment but those set here, so a setting of the shell (a rate limit, a database URL) does not
leak into a run. ``TARGETS`` holds the issue's targets; they are printed, and only ``--check``
lets them set the exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask, Response, request
from gunicorn.app.base import BaseApplication
from sqlalchemy import text

import fhirauth.serve
from fhirauth import logs
from fhirauth.access import requestor_keys, sender_ids
from fhirauth.auth.credentials import fetch_token
from fhirauth.fhir.bundle import parse_request
from fhirauth.store.db import make_engine

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
LUA = ROOT / "bench" / "lua" / "request.lua"
# The fhirauth of the interpreter running this script (the venv's console script).
FHIRAUTH = Path(sys.executable).parent / "fhirauth"
HOST = "127.0.0.1"
PLACEHOLDER = "__BENCH_ID__"
SCOPES = "system/Claim.write system/Claim.read system/ClaimResponse.read"
FLOOR_BODY = (
    b'{"resourceType":"OperationOutcome",'
    b'"issue":[{"severity":"information","code":"informational"}]}'
)
FHIR_JSON = "application/fhir+json"
MEMORY_POINTS = (2_000, 20_000)
FLOOR_DRIFT = 0.15
OTHERS_WARN = 0.10
MAX_TRIES = 3


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


def children(pid: int) -> list[int]:
    """Child pids of ``pid``, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Field 4 is the parent pid; field 2, the command, may hold spaces: cut after its ')'.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


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
    cmd = [sys.executable, __file__, "--serve-floor", str(port), "--workers", str(workers)]
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


# --- databases and credentials -----------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    backend: str  # sqlite | postgresql
    auth: str  # off | required

    def __str__(self) -> str:
        return f"{self.backend}, auth {self.auth}"


@dataclass(frozen=True)
class Database:
    data_dir: Path
    url: str | None  # None: SQLite under data_dir


@contextlib.contextmanager
def fresh_database(backend: str, workdir: Path) -> Iterator[Database]:
    """An empty database: a new SQLite folder, or a new schema in FHIRAUTH_DATABASE_URL's
    PostgreSQL database (as tests/conftest.py does), dropped afterwards."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"{backend}-", dir=workdir))
    if backend == "sqlite":
        yield Database(data_dir, None)
        return
    server = postgresql_url()
    assert server is not None
    schema = f"bench_{uuid.uuid4().hex[:16]}"
    admin = make_engine(server)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in server else "?"
        yield Database(data_dir, f"{server}{sep}options=-csearch_path%3D{schema}")
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def postgresql_url() -> str | None:
    url = os.environ.get("FHIRAUTH_DATABASE_URL", "")
    return url if url.startswith(("postgresql://", "postgresql+psycopg://")) else None


@dataclass(frozen=True)
class Credentials:
    client_id: str
    key_path: Path


def register_client(db: Database, bodies: list[bytes]) -> Credentials:
    """A client with a fresh P-384 key, registered with the CLI for the organizations and
    sender ids the benchmark's bundles carry (what $submit and $inquire check)."""
    key = ec.generate_private_key(ec.SECP384R1())
    key_path, public_path = db.data_dir / "bench-key.pem", db.data_dir / "bench-public.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    orgs: dict[str, None] = {}
    senders: dict[str, None] = {}
    for body in bodies:
        req = parse_request(body)
        orgs.update(dict.fromkeys(sorted(requestor_keys(req))))
        senders.update(dict.fromkeys(sender_ids(req)))
    cmd = [str(FHIRAUTH), "clients", "add", "--name", "bench/submit.py", "--jwks", str(public_path)]
    cmd += [arg for org in orgs for arg in ("--org-identifier", org)]
    cmd += [arg for sender in senders for arg in ("--sender-id", sender)]
    cmd += ["--scope", SCOPES, "--data-dir", str(db.data_dir)]
    cmd += ["--database-url", db.url] if db.url else []
    done = subprocess.run(cmd, env=server_env(), cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"fhirauth clients add failed: {done.stderr.strip()}")
    return Credentials(done.stdout.strip().splitlines()[-1], key_path)


def bearer(server: Server, creds: Credentials) -> dict[str, str]:
    """One token through the real token endpoint (discovery, signed assertion, POST)."""
    answer = fetch_token(f"{server.base}/fhir", creds.client_id, creds.key_path, scope=SCOPES)
    return {"Authorization": f"Bearer {answer['access_token']}"}


# --- requests --------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class Spec:
    """One request shape; ``varies``: every request replaces PLACEHOLDER in the body."""

    name: str
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    varies: bool = False

    def one(self, tag: str) -> bytes | None:
        if self.body is None or not self.varies:
            return self.body
        return self.body.replace(PLACEHOLDER.encode(), tag.encode())


def example(name: str) -> bytes:
    return (EXAMPLES / name).read_bytes()


def varying_submit() -> bytes:
    """mixed-outcomes.json with a placeholder in Bundle.identifier and Claim.identifier: what
    the duplicate check hashes changes with them, and the Claim's identifier is what an update
    would be matched by, so each request stays a new one."""
    bundle = orjson.loads(example("mixed-outcomes.json"))
    bundle["identifier"]["value"] = f"RMC-SUB-{PLACEHOLDER}"
    bundle["entry"][0]["resource"]["identifier"][0]["value"] = f"RMC-PA-{PLACEHOLDER}"
    return orjson.dumps(bundle)


def post(name: str, path: str, body: bytes, headers: dict[str, str], varies: bool = False) -> Spec:
    return Spec(name, "POST", path, body, {**headers, "Content-Type": FHIR_JSON}, varies)


def expect(server: Server, spec: Spec, status: int = 200) -> bytes:
    got, body = call(server.base, spec.method, spec.path, spec.one(uuid.uuid4().hex), spec.headers)
    if got != status:
        raise RuntimeError(f"{server.label}: {spec.name} answered {got}: {body[:500]!r}")
    return body


def fhirauth_specs(server: Server, headers: dict[str, str]) -> list[Spec]:
    """Store what the rows need (an authorization to inquire about, one to replay and read)
    and check each request shape once before it is timed."""
    mixed = example("mixed-outcomes.json")
    expect(server, post("seed", "/fhir/Claim/$submit", example("approve-ct-head.json"), headers))
    stored = orjson.loads(expect(server, post("seed", "/fhir/Claim/$submit", mixed, headers)))
    claim_response = stored["entry"][0]["resource"]["id"]
    specs = [
        post("submit new", "/fhir/Claim/$submit", varying_submit(), headers, varies=True),
        post("submit duplicate", "/fhir/Claim/$submit", mixed, headers),
        post("inquire", "/fhir/Claim/$inquire", example("inquiry/inquire-ct-head.json"), headers),
        Spec("metadata", "GET", "/fhir/metadata", headers=headers),
        Spec("read ClaimResponse", "GET", f"/fhir/ClaimResponse/{claim_response}", None, headers),
    ]
    for spec in specs:
        body = expect(server, spec)
        if spec.name == "inquire" and not orjson.loads(body).get("parameter"):
            raise RuntimeError(f"{server.label}: the inquiry matched no authorization")
    return specs


# --- load generators ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int  # connection errors, timeouts and 4xx/5xx answers

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


class Generator:
    name = "?"

    def describe(self, connections: int) -> str:
        raise NotImplementedError

    def run(self, base: str, spec: Spec, seconds: int, connections: int) -> Load:
        raise NotImplementedError


class Wrk(Generator):
    name = "wrk"

    def __init__(self, binary: str, threads: int, workdir: Path) -> None:
        self.binary, self.threads, self.workdir = binary, threads, workdir

    def version(self) -> str:
        done = subprocess.run([self.binary, "--version"], capture_output=True, text=True)
        first = (done.stdout + done.stderr).strip().splitlines()
        return first[0].split(" [")[0] if first else "wrk"

    def describe(self, connections: int) -> str:
        threads = min(self.threads, connections)
        return (
            f"{self.version()} ({threads} thread(s), {connections} connections, "
            f"Lua {LUA.relative_to(ROOT)})"
        )

    def run(self, base: str, spec: Spec, seconds: int, connections: int) -> Load:
        body_file = "-"
        if spec.body is not None:
            path = self.workdir / f"body-{uuid.uuid4().hex}.json"
            path.write_bytes(spec.body)
            body_file = str(path)
        cmd = [self.binary, "-t", str(min(self.threads, connections)), "-c", str(connections)]
        cmd += ["-d", f"{seconds}s", "--timeout", "30s", "--latency", "-s", str(LUA)]
        for key, value in spec.headers.items():
            cmd += ["-H", f"{key}: {value}"]
        cmd += [base + spec.path, "--", spec.method, body_file]
        cmd += [PLACEHOLDER if spec.varies else "-", secrets.token_hex(6)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        return parse_wrk(done.stdout, done.stderr)


def parse_wrk(stdout: str, stderr: str = "") -> Load:
    line = next((x for x in stdout.splitlines() if x.startswith("WRK_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{stdout}\n{stderr}")
    v = {k: int(val) for k, val in (kv.split("=") for kv in line.split()[1:])}
    errors = sum(v[k] for k in ("connect", "read", "write", "status", "timeout"))
    return Load(v["requests"], v["duration_us"] / 1e6, v["p50_us"] / 1e3, v["p99_us"] / 1e3, errors)


class PythonClient(Generator):
    """Keep-alive http.client connections, as threads spread over processes (one GIL each)."""

    name = "python"

    def processes(self, connections: int) -> int:
        return max(1, min(connections, os.cpu_count() or 1))

    def describe(self, connections: int) -> str:
        return (
            f"python http.client ({self.processes(connections)} processes, {connections} "
            "keep-alive connections in threads)"
        )

    def run(
        self,
        base: str,
        spec: Spec,
        seconds: int,
        connections: int,
        max_requests: int | None = None,
    ) -> Load:
        procs = self.processes(connections)
        shares = [connections // procs + (i < connections % procs) for i in range(procs)]
        quota = math.ceil(max_requests / connections) if max_requests else None
        start_at = time.time() + 0.5  # every connection starts at once, after the forks
        tag = secrets.token_hex(6)
        jobs = [
            (base, spec, start_at, seconds, n, quota, f"{tag}-{i}") for i, n in enumerate(shares)
        ]
        with ProcessPoolExecutor(procs, mp_context=get_context("fork")) as pool:
            parts = list(pool.map(_client_process, jobs))
        latencies = sorted(x for lat, _, _ in parts for x in lat)
        errors = sum(e for _, e, _ in parts)
        ended = max(end for _, _, end in parts)
        return Load(
            len(latencies),
            ended - start_at,
            percentile(latencies, 50),
            percentile(latencies, 99),
            errors,
        )


def _client_process(
    job: tuple[str, Spec, float, int, int, int | None, str],
) -> tuple[list[float], int, float]:
    base, spec, start_at, seconds, connections, quota, tag = job
    host, port = base.removeprefix("http://").split(":")
    results: list[tuple[list[float], int]] = []

    def connection(index: int) -> None:
        latencies: list[float] = []
        errors, n = 0, 0
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        time.sleep(max(0.0, start_at - time.time()))
        deadline = start_at + seconds
        while time.time() < deadline and (quota is None or n < quota):
            n += 1
            body = spec.one(f"{tag}-{index}-{n}")
            t0 = time.perf_counter()
            try:
                conn.request(spec.method, spec.path, body=body, headers=spec.headers)
                resp = conn.getresponse()
                resp.read()
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=60)
                continue
            latencies.append((time.perf_counter() - t0) * 1000)
            errors += resp.status >= 400
        conn.close()
        results.append((latencies, errors))

    threads = [threading.Thread(target=connection, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [x for lat, _ in results for x in lat], sum(e for _, e in results), time.time()


def percentile(ordered: list[float], pct: float) -> float:
    """Nearest rank, as wrk reports it."""
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def pick_generator(choice: str, threads: int, workdir: Path) -> Generator:
    binary = shutil.which("wrk")
    if choice == "wrk" and binary is None:
        raise SystemExit("--client wrk: no wrk binary on PATH (apt-get install wrk)")
    if choice in ("auto", "wrk") and binary is not None:
        return Wrk(binary, threads, workdir)
    return PythonClient()


# --- the run ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    config: str  # "floor" or Config's text
    endpoint: str
    method: str
    load: Load
    others: float = 0.0  # share of the machine's CPU that other work took during the row
    split: tuple[int, ...] = ()  # the clients' connections held by each gunicorn worker


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    memory: dict[int, dict[int, int]] = field(default_factory=dict)  # submissions: pid: KiB

    def find(self, config: str, endpoint: str) -> Row | None:
        return next((r for r in self.rows if r.config == config and r.endpoint == endpoint), None)

    def floors(self, method: str) -> list[float]:
        """The floor's throughput for ``method``, measured before and after the rest."""
        return [r.load.rps for r in self.rows if r.endpoint == f"floor {method}"]

    def ratio(self, row: Row) -> float:
        """To the mean of the floor's measurements: other work on the machine moves both."""
        floors = self.floors(row.method)
        mean = sum(floors) / len(floors) if floors else 0.0
        return row.load.rps / mean if mean else math.nan

    def floor_drift(self) -> float:
        """How far apart the floor's measurements are (0.2: the highest is 20 % above)."""
        spreads = [max(f) / min(f) - 1 for m in ("GET", "POST") if (f := self.floors(m))]
        return max(spreads, default=0.0)


@dataclass(frozen=True)
class Plan:
    configs: list[Config]
    seconds: int
    warmup: int
    connections: int
    workers: int
    memory: bool
    tries: int = MAX_TRIES  # runs of a row whose connections all fell on one worker
    floor_twice: bool = True


def measure(
    gen: Generator, server: Server, spec: Spec, plan: Plan, config: str, results: Results
) -> None:
    """One row. gunicorn's workers accept connections as they come, and now and then one
    worker takes all of the clients' keep-alive connections, leaving the other idle: the
    floor then does 2,000 instead of 5,000 GET/s on 2 cores. Such a run measures a server of
    one worker, so it is run again (at most ``plan.tries`` times)."""
    if plan.warmup:
        gen.run(server.base, spec, plan.warmup, plan.connections)
    for _ in range(plan.tries):
        row = measured_run(gen, server, spec, plan, config)
        if not lopsided(row.split, plan.connections):
            break
    results.rows.append(row)
    print(f"  {config:24} {spec.name:20} {format_row(row, results)}", file=sys.stderr)


def measured_run(gen: Generator, server: Server, spec: Spec, plan: Plan, config: str) -> Row:
    """One run, with the CPU other work took and the connections' split (seen after 1 s)."""
    wait_idle(server)
    meter = CpuMeter([server.proc.pid, *server.worker_pids()])
    seen: list[tuple[int, ...]] = []
    probe = threading.Timer(min(1.0, plan.seconds / 2), lambda: seen.append(split(server)))
    probe.start()
    load = gen.run(server.base, spec, plan.seconds, plan.connections)
    probe.join()
    return Row(config, spec.name, spec.method, load, meter.others(), seen[0] if seen else ())


def wait_idle(server: Server, timeout: float = 10.0) -> None:
    """Until the workers have finished what the last run left them (0.3 s without a tick of
    CPU): a worker still busy with it accepts no new connection in time, and the other one
    takes them all."""
    pids = server.worker_pids()
    deadline, quiet = time.monotonic() + timeout, 0
    last = sum(_cpu_ticks(p) for p in pids)
    while quiet < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
        now = sum(_cpu_ticks(p) for p in pids)
        quiet, last = (quiet + 1 if now - last <= 1 else 0), now


def split(server: Server) -> tuple[int, ...]:
    """How many established connections to the server's port each worker holds."""
    port = f":{server.port:04X}"
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                f = line.split()
                if f[1].endswith(port) and f[3] == "01":  # local address, ESTABLISHED
                    inodes.add(f"socket:[{f[9]}]")
    return tuple(_sockets_in(pid, inodes) for pid in server.worker_pids())


def _sockets_in(pid: int, inodes: set[str]) -> int:
    n = 0
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                n += os.readlink(fd) in inodes
    return n


def lopsided(counts: tuple[int, ...], connections: int) -> bool:
    """A worker without a connection when there were enough for each."""
    return len(counts) > 1 and connections >= len(counts) and min(counts) == 0


class CpuMeter:
    """How much of the machine's CPU went to work other than this benchmark while a row ran:
    all busy time (/proc/stat) less the server's processes, PostgreSQL's, this script's and
    its load generator's (a waited-for child). Other work on a shared machine lowers every
    figure; this column says which rows to distrust."""

    def __init__(self, server_pids: list[int]) -> None:
        self.server_pids = server_pids
        self.start = self._sample()

    def _sample(self) -> tuple[float, float, float]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        total, idle = sum(fields), fields[3] + fields[4]
        ours = sum(_cpu_ticks(p) for p in [*self.server_pids, *_postgres_pids()])
        t = os.times()
        ours += (t.user + t.system + t.children_user + t.children_system) * _TICKS
        return total, total - idle, ours

    def others(self) -> float:
        end = self._sample()
        total, busy, ours = (b - a for a, b in zip(self.start, end, strict=True))
        return max(0.0, (busy - ours) / total) if total else 0.0


_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pid: int) -> int:
    """utime + stime of a live process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def _postgres_pids() -> list[int]:
    """PostgreSQL's server processes (read only, to count their CPU as the benchmark's)."""
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "postgres":
                found.append(int(entry.name))
    return found


def run_floor(
    gen: Generator, plan: Plan, workdir: Path, results: Results, label: str = "floor"
) -> None:
    with floor_server(workdir, plan.workers) as server:
        for spec in (
            Spec("floor GET", "GET", "/fhir/metadata"),
            post("floor POST", "/fhir/Claim/$submit", example("mixed-outcomes.json"), {}),
        ):
            measure(gen, server, spec, plan, label, results)


def run_config(gen: Generator, config: Config, plan: Plan, workdir: Path, results: Results) -> None:
    bodies = [example("mixed-outcomes.json"), example("approve-ct-head.json")]
    with fresh_database(config.backend, workdir) as db:
        creds = register_client(db, bodies) if config.auth == "required" else None
        with fhirauth_server(config, db, plan.workers) as server:
            headers = bearer(server, creds) if creds else {}
            for spec in fhirauth_specs(server, headers):
                measure(gen, server, spec, plan, str(config), results)


def run_memory(plan: Plan, workdir: Path, results: Results) -> None:
    """Worker RSS after 2,000 and 20,000 new submissions (SQLite, authentication off). A
    count, not a duration: the Python client, whatever --client says (wrk cannot stop at N)."""
    client = PythonClient()
    with (
        fresh_database("sqlite", workdir) as db,
        fhirauth_server(Config("sqlite", "off"), db, plan.workers) as server,
    ):
        spec = post("submit new", "/fhir/Claim/$submit", varying_submit(), {}, varies=True)
        done = 0
        for point in MEMORY_POINTS:
            load = client.run(server.base, spec, 10**6, plan.connections, point - done)
            done += load.requests
            results.memory[done] = {pid: rss_kib(pid) for pid in server.worker_pids()}
            rss = ", ".join(f"{kib:,} KiB" for kib in results.memory[done].values())
            print(f"  worker RSS after {done:,} submissions: {rss}", file=sys.stderr)


# --- output and targets ------------------------------------------------------------------------


def format_row(row: Row, results: Results) -> str:
    load = row.load
    return (
        f"{load.rps:9,.1f} {load.p50_ms:9.1f} {load.p99_ms:9.1f} "
        f"{results.ratio(row):7.2f} {load.errors:7,d} {row.others * 100:7.0f} "
        f"{'+'.join(map(str, row.split)) or '?':>8}"
    )


def table(results: Results) -> str:
    head = f"{'configuration':24} {'endpoint':20} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9}"
    head += f" {'ratio':>7} {'errors':>7} {'other%':>7} {'conns':>8}"
    lines = [head, "-" * len(head)]
    for row in results.rows:
        lines.append(f"{row.config:24} {row.endpoint:20} {format_row(row, results)}")
    return "\n".join(lines)


def memory_report(results: Results) -> str:
    (low, first), (high, last) = sorted(results.memory.items())
    lines = [f"worker RSS (VmRSS) after {low:,} and {high:,} submissions (SQLite, auth off):"]
    for pid in sorted(set(first) | set(last)):
        a, b = first.get(pid), last.get(pid)
        growth = f"{(b / a - 1) * 100:+.1f} %" if a and b else "worker replaced"
        lines.append(f"  pid {pid}: {a or 0:,} KiB -> {b or 0:,} KiB ({growth})")
    return "\n".join(lines)


Verdict = tuple[str, str, bool | None]  # (which row or rows, measured, passed; None: skipped)


@dataclass(frozen=True)
class Target:
    text: str
    verdicts: Callable[[Results], list[Verdict]]


def ratio_at_least(endpoint: str, minimum: float) -> Callable[[Results], list[Verdict]]:
    def verdicts(results: Results) -> list[Verdict]:
        rows = [r for r in results.rows if r.endpoint == endpoint]
        return [(r.config, f"{results.ratio(r):.2f}", results.ratio(r) >= minimum) for r in rows]

    return verdicts


def p99_at_most(endpoint: str, ms: float) -> Callable[[Results], list[Verdict]]:
    def verdicts(results: Results) -> list[Verdict]:
        rows = [r for r in results.rows if r.endpoint == endpoint]
        return [(r.config, f"{r.load.p99_ms:.1f} ms", r.load.p99_ms <= ms) for r in rows]

    return verdicts


def postgresql_within(endpoint: str, factor: float) -> Callable[[Results], list[Verdict]]:
    """PostgreSQL's throughput at least SQLite's / factor, per auth mode."""

    def verdicts(results: Results) -> list[Verdict]:
        out: list[Verdict] = []
        for auth in ("off", "required"):
            lite = results.find(str(Config("sqlite", auth)), endpoint)
            pg = results.find(str(Config("postgresql", auth)), endpoint)
            if lite and pg:
                ratio = lite.load.rps / pg.load.rps if pg.load.rps else math.inf
                out.append((f"auth {auth}", f"SQLite/PostgreSQL {ratio:.2f}", ratio <= factor))
        return out or [("-", "no PostgreSQL rows (FHIRAUTH_DATABASE_URL)", None)]

    return verdicts


def auth_within(loss: float) -> Callable[[Results], list[Verdict]]:
    """Every row with authentication required at least (1 - loss) of the same row off."""

    def verdicts(results: Results) -> list[Verdict]:
        out: list[Verdict] = []
        for on in results.rows:
            if not on.config.endswith("auth required"):
                continue
            off = results.find(on.config.replace("auth required", "auth off"), on.endpoint)
            if off and off.load.rps:
                share = on.load.rps / off.load.rps
                where = f"{on.config}: {on.endpoint}"
                out.append((where, f"{share:.2f} of off", share >= 1 - loss))
        return out or [("-", "no rows with authentication required", None)]

    return verdicts


def memory_within(growth: float) -> Callable[[Results], list[Verdict]]:
    def verdicts(results: Results) -> list[Verdict]:
        if len(results.memory) < 2:
            return [("-", "not measured (--memory)", None)]
        (_, first), (_, last) = sorted(results.memory.items())
        out: list[Verdict] = []
        for pid in sorted(first):
            if pid in last:
                g = last[pid] / first[pid] - 1
                out.append((f"worker {pid}", f"{g * 100:+.1f} %", g <= growth))
        return out or [("-", "workers were replaced between the two points", False)]

    return verdicts


# The targets. Ratios are to the floor of the same method.
TARGETS: list[Target] = [
    Target("submit new >= 0.25 of the POST floor", ratio_at_least("submit new", 0.25)),
    Target("submit new p99 <= 100 ms", p99_at_most("submit new", 100.0)),
    Target("submit duplicate >= 0.50 of the POST floor", ratio_at_least("submit duplicate", 0.5)),
    Target("metadata >= 0.70 of the GET floor", ratio_at_least("metadata", 0.7)),
    Target(
        "read ClaimResponse >= 0.70 of the GET floor",
        ratio_at_least("read ClaimResponse", 0.7),
    ),
    Target("PostgreSQL submit new within 1.5x of SQLite", postgresql_within("submit new", 1.5)),
    Target("authentication on within 10 % of off", auth_within(0.10)),
    Target("worker RSS growth 2,000 -> 20,000 submissions <= 10 %", memory_within(0.10)),
]


def check_targets(results: Results) -> bool:
    """Print PASS, FAIL or SKIP per target and row; True when nothing failed."""
    ok = True
    print("\ntargets:")
    for target in TARGETS:
        for where, measured, passed in target.verdicts(results):
            word = "SKIP" if passed is None else "PASS" if passed else "FAIL"
            ok = ok and passed is not False
            print(f"  {word}  {target.text}  [{where}: {measured}]")
    return ok


# --- main --------------------------------------------------------------------------------------


def configurations(quick: bool) -> list[Config]:
    if quick:
        return [Config("sqlite", "off")]
    backends = ["sqlite"] + (["postgresql"] if postgresql_url() else [])
    return [Config(b, a) for b in backends for a in ("off", "required")]


def cpu_busy(seconds: float = 1.0) -> float:
    """The share of all CPUs busy over ``seconds``, from /proc/stat (before we load them)."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def header(gen: Generator, plan: Plan) -> str:
    options = {k: v for k, v in gunicorn_options(0, plan.workers).items() if k != "logconfig_dict"}
    options.pop("bind")
    shown = " ".join(f"{k}={v}" for k, v in options.items())
    busy = cpu_busy()
    lines = [
        f"load generator: {gen.describe(plan.connections)}",
        f"gunicorn: {shown} (fhirauth.serve.gunicorn_options; floor and fhirauth alike)",
        f"CPUs: {os.cpu_count()} (usable {len(os.sched_getaffinity(0))}); "
        f"{busy * 100:.0f} % busy before the run"
        + (" (other work shares the CPUs: figures will be low)" if busy > 0.2 else ""),
        f"{plan.seconds} s per row after a {plan.warmup} s warm-up; configurations: "
        + "; ".join(str(c) for c in plan.configs),
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="SQLite, auth off, 3 s rows (< 1 min)")
    p.add_argument("--duration", type=int, help="seconds per row (default 10; --quick 3)")
    p.add_argument("--warmup", type=int, help="seconds of warm-up per row (default 2; quick 1)")
    p.add_argument("--connections", type=int, default=8, help="concurrent clients (default 8)")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    p.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    p.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1)")
    p.add_argument("--memory", action="store_true", help="also RSS after 2,000/20,000 submits")
    p.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    p.add_argument("--serve-floor", type=int, metavar="PORT", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_floor:  # the floor server's own process, started by floor_server()
        FloorServer(gunicorn_options(args.serve_floor, args.workers)).run()
        return 0
    plan = Plan(
        configurations(args.quick),
        args.duration or (3 if args.quick else 10),
        args.warmup if args.warmup is not None else (1 if args.quick else 2),
        args.connections,
        args.workers,
        args.memory and not args.quick,
        # --quick keeps under a minute: no second run of a row, no second floor.
        tries=1 if args.quick else MAX_TRIES,
        floor_twice=not args.quick,
    )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fhirauth-bench-") as tmp:
        workdir = Path(tmp)
        gen = pick_generator(args.client, args.wrk_threads, workdir)
        print(header(gen, plan), flush=True)
        results = Results()
        run_floor(gen, plan, workdir, results)
        for config in plan.configs:
            run_config(gen, config, plan, workdir, results)
        if plan.floor_twice:  # ratios use the mean; a drift says how far to trust them
            run_floor(gen, plan, workdir, results, "floor (again)")
        if plan.memory:
            run_memory(plan, workdir, results)
    print()
    print(table(results))
    uneven = [r for r in results.rows if lopsided(r.split, plan.connections)]
    if uneven:
        print(
            f"WARNING: in {len(uneven)} row(s) one gunicorn worker held every connection "
            f"in each of its {plan.tries} run(s) (column conns): those rows measure one worker"
        )
    busy = [r for r in results.rows if r.others > OTHERS_WARN]
    if busy:
        print(
            f"WARNING: other work took over {OTHERS_WARN * 100:.0f} % of the CPUs during "
            f"{len(busy)} row(s) (column other%): those figures are low"
        )
    if results.floor_drift() > FLOOR_DRIFT:
        print(
            f"WARNING: the floor moved {results.floor_drift() * 100:.0f} % between its two "
            "measurements (other work, or how connections fell on workers): ratios are rough"
        )
    if results.memory:
        print()
        print(memory_report(results))
    ok = check_targets(results)
    print(f"\n{time.monotonic() - started:.0f} s in all")
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
