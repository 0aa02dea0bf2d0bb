"""The load generators: wrk with bench/lua/request.lua, and a multiprocess Python client."""

from __future__ import annotations

import http.client
import math
import os
import secrets
import shutil
import subprocess
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from .servers import ROOT
from .specs import PLACEHOLDER, Spec

LUA = ROOT / "bench" / "lua" / "request.lua"


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
    def describe(self, connections: int) -> str:
        raise NotImplementedError

    def run(self, base: str, spec: Spec, seconds: int, connections: int) -> Load:
        raise NotImplementedError


class Wrk(Generator):
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
