"""CPU per request, in-process: what each request costs the serving process, without HTTP.

Run from the repository root::

    .venv/bin/python bench/cpu.py                     # SQLite, authentication off (~1 min)
    FHIRAUTH_DATABASE_URL=postgresql://127.0.0.1:5432/test .venv/bin/python bench/cpu.py
    .venv/bin/python bench/cpu.py --only new --profile   # plus a cProfile of one request kind

``submit.py`` measures throughput over HTTP, where the machine's other work, how connections
fall on workers and the load generator all move the figures by a quarter from run to run.
This measures the process's own CPU time (``time.process_time``) for the same requests sent
through the Flask test client to one app: ``GET /fhir/metadata``, ``GET ClaimResponse/{id}``,
a duplicate ``$submit``, an ``$inquire`` and a new ``$submit`` (``examples/mixed-outcomes.json``
with new identifiers each time), each the best of 5 rounds after a warm-up round. The test
client's own work is in every figure (about 0.1 ms: compare metadata). On PostgreSQL the
server's CPU is not in it: that process is another.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson
from throughput.databases import fresh_database, postgresql_url

from fhirauth import create_app
from fhirauth.config import Settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FHIR_JSON = {"Content-Type": "application/fhir+json"}
ROUNDS = 5
KINDS = {"metadata": 3000, "read": 1000, "duplicate": 1000, "inquire": 300, "new": 200}


def new_bodies(n: int, tag: str) -> list[bytes]:
    bundle = orjson.loads((EXAMPLES / "mixed-outcomes.json").read_bytes())
    out = []
    for i in range(n):
        bundle["identifier"]["value"] = f"cpu-{tag}-{i}"
        bundle["entry"][0]["resource"]["identifier"][0]["value"] = f"cpu-claim-{tag}-{i}"
        out.append(orjson.dumps(bundle))
    return out


def requests_of(client: object, kind: str) -> Callable[[int, int], float]:
    """``send(round, n)``: n requests of one kind, each answered 200; the CPU seconds spent."""
    post = client.post  # type: ignore[attr-defined]
    get = client.get  # type: ignore[attr-defined]
    mixed = (EXAMPLES / "mixed-outcomes.json").read_bytes()
    first = post("/fhir/Claim/$submit", data=mixed, headers=FHIR_JSON)
    assert first.status_code == 200, first.data[:300]
    response_id = first.get_json()["entry"][0]["resource"]["id"]
    approve = (EXAMPLES / "approve-ct-head.json").read_bytes()
    assert post("/fhir/Claim/$submit", data=approve, headers=FHIR_JSON).status_code == 200
    inquiry = (EXAMPLES / "inquiry" / "inquire-ct-head.json").read_bytes()

    def send(round_: int, n: int) -> float:
        bodies = new_bodies(n, str(round_)) if kind == "new" else []
        start = time.process_time()
        for i in range(n):
            if kind == "metadata":
                resp = get("/fhir/metadata")
            elif kind == "read":
                resp = get(f"/fhir/ClaimResponse/{response_id}")
            elif kind == "duplicate":
                resp = post("/fhir/Claim/$submit", data=mixed, headers=FHIR_JSON)
            elif kind == "inquire":
                resp = post("/fhir/Claim/$inquire", data=inquiry, headers=FHIR_JSON)
            else:
                resp = post("/fhir/Claim/$submit", data=bodies[i], headers=FHIR_JSON)
            assert resp.status_code == 200, (kind, resp.status_code, resp.data[:300])
        return time.process_time() - start

    return send


def measure(kind: str, n: int, profile: bool) -> float:
    """Milliseconds of CPU per request, the best of ROUNDS rounds, on a fresh database."""
    backend = "postgresql" if postgresql_url() else "sqlite"
    with fresh_database(backend, Path(tempfile.mkdtemp(prefix="cpu-"))) as db:
        env = {"FHIRAUTH_AUTH": "off", "FHIRAUTH_DATA_DIR": str(db.data_dir)}
        env |= {"FHIRAUTH_DATABASE_URL": db.url} if db.url else {}
        app = create_app(Settings.from_env({**os.environ, **env}))
        logging.disable(logging.CRITICAL)  # the access line is the same for every kind
        send = requests_of(app.test_client(), kind)
        send(0, n)
        best = min(send(r, n) for r in range(1, ROUNDS + 1)) / n * 1000
        if profile:
            prof = cProfile.Profile()
            prof.enable()
            send(ROUNDS + 1, n)
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(40)
        app.extensions["fhirauth"].engine.dispose()
        return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--only", choices=sorted(KINDS), action="append", help="one request kind")
    p.add_argument("--profile", action="store_true", help="cProfile a round of each kind")
    args = p.parse_args()
    server = postgresql_url()
    print(f"database: {'PostgreSQL' if server else 'SQLite'}; authentication off")
    for kind in args.only or list(KINDS):
        ms = measure(kind, KINDS[kind], args.profile)
        print(f"{kind:10} {ms:6.2f} ms CPU per request (best of {ROUNDS} x {KINDS[kind]})")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
