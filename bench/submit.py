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

This file reads the command line and prints; the benchmark itself is the package
``bench/throughput/``: ``servers.py`` (the floor app, starting and stopping gunicorn),
``databases.py`` and ``credentials.py`` (a fresh store, a client and its token per
configuration), ``specs.py`` (the request of each row), ``load.py`` (wrk and the Python client),
``runs.py`` (running the rows), ``procfs.py`` (workers, connections and CPU from /proc),
``table.py`` (rows, ratios, the table) and ``targets.py`` (``TARGETS`` and their checks).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from throughput.databases import postgresql_url  # bench/ is the script's folder, so on sys.path
from throughput.load import Generator, pick_generator
from throughput.procfs import cpu_busy
from throughput.runs import MAX_TRIES, Plan, lopsided, run_config, run_floor, run_memory
from throughput.servers import Config, FloorServer, gunicorn_options
from throughput.table import Results, memory_report, table
from throughput.targets import check_targets

FLOOR_DRIFT = 0.15
OTHERS_WARN = 0.10


def configurations(quick: bool) -> list[Config]:
    if quick:
        return [Config("sqlite", "off")]
    backends = ["sqlite"] + (["postgresql"] if postgresql_url() else [])
    return [Config(b, a) for b in backends for a in ("off", "required")]


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
            f"WARNING: in {len(uneven)} row(s) one gunicorn worker held most connections "
            f"in each of its {plan.tries} run(s) (column conns): those rows are low"
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
