"""Running the rows: the floor's, each configuration's, and the memory measurement."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .credentials import bearer, register_client
from .databases import fresh_database
from .load import Generator, PythonClient
from .procfs import CpuMeter, cpu_ticks, rss_kib, split
from .servers import Config, Server, fhirauth_server, floor_server
from .specs import Spec, example, fhirauth_specs, post, varying_submit
from .table import Results, Row, format_row

MEMORY_POINTS = (2_000, 20_000)
MAX_TRIES = 3


@dataclass(frozen=True)
class Plan:
    configs: list[Config]
    seconds: int
    warmup: int
    connections: int
    workers: int
    memory: bool
    tries: int = MAX_TRIES  # runs of a row whose connections fell lopsided on the workers
    floor_twice: bool = True


def measure(
    gen: Generator, server: Server, spec: Spec, plan: Plan, config: str, results: Results
) -> None:
    """One row. The kernel spreads the clients' keep-alive connections over the workers'
    sockets by a hash, and now and then one worker gets most of them while the other idles.
    Such a run measures less than the server, so it is run again (at most ``plan.tries``
    times)."""
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
    last = sum(cpu_ticks(p) for p in pids)
    while quiet < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
        now = sum(cpu_ticks(p) for p in pids)
        quiet, last = (quiet + 1 if now - last <= 1 else 0), now


def lopsided(counts: tuple[int, ...], connections: int) -> bool:
    """A worker holding more than one connection over its share (6+2 or worse of 8 on 2
    workers). The worker with 6 serves them on one interpreter while the other idles: such
    rows came out up to a quarter below comparable rows at 4+4, more than the differences
    the targets compare (authentication on within 10 % of off)."""
    if len(counts) < 2 or connections < len(counts):
        return False
    return max(counts) > -(-connections // len(counts)) + 1


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
