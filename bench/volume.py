"""`$inquire` and `GET ClaimResponse/{id}` at 1,000 and at 250,000 stored authorizations (issue 13,
point 4): the same requests, timed in-process through the Flask app over one database that
``bench/fill.py`` grows between the two measurements. The target is a ratio: at 250,000 each
stays within 2x of its time at 1,000. Exits 1 when one does not.

    .venv/bin/python bench/volume.py                 # SQLite in a temporary folder
    .venv/bin/python bench/volume.py --large 20000   # a quicker look
    FHIRAUTH_DATABASE_URL=postgresql://127.0.0.1:5432/test .venv/bin/python bench/volume.py

With a PostgreSQL URL the tables of that database are dropped first.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fill import fill  # bench/ is the script's folder, so on sys.path
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from fhirauth import create_app
from fhirauth.config import Settings

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FHIR = "application/fhir+json"
TARGET = 2.0


def timed(call: Callable[[], None], rounds: int) -> float:
    """Median milliseconds of ``rounds`` calls, after two untimed ones."""
    for _ in range(2):
        call()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure(client: FlaskClient, read_ids: list[str], rounds: int) -> dict[str, float]:
    inquiry = (EXAMPLES / "inquiry" / "inquire-ct-head.json").read_bytes()

    def inquire() -> None:
        resp = client.post("/fhir/Claim/$inquire", data=inquiry, content_type=FHIR)
        assert resp.status_code == 200 and resp.get_json()["parameter"], resp.data[:200]

    def read() -> None:
        for cr_id in read_ids:
            assert client.get(f"/fhir/ClaimResponse/{cr_id}").status_code == 200

    return {
        "$inquire": timed(inquire, rounds),
        "GET ClaimResponse/{id}": timed(read, rounds) / len(read_ids),
    }


def reset_postgresql(url: str) -> None:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--small", type=int, default=1_000)
    p.add_argument("--large", type=int, default=250_000)
    p.add_argument("--rounds", type=int, default=50)
    args = p.parse_args(argv)
    url = os.environ.get("FHIRAUTH_DATABASE_URL")
    if url:
        reset_postgresql(url)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp), database_url=url, base_url="http://bench/fhir", auth_mode="off"
        )
        app = create_app(settings)
        client = app.test_client()
        services = app.extensions["fhirauth"]
        # The inquiry's own authorization, submitted for real; the fill adds others' beside it.
        body = json.loads((EXAMPLES / "approve-ct-head.json").read_text())
        assert client.post("/fhir/Claim/$submit", json=body, content_type=FHIR).status_code == 200
        print(f"database: {services.settings.db_url.split('?')[0]}")
        made = fill(services.sessions, args.small - 1, seed=1)
        ids = [s.claim_response_id for s in made.samples]
        before = measure(client, ids, args.rounds)
        print(f"at {args.small:,}: " + ", ".join(f"{k} {v:.2f} ms" for k, v in before.items()))
        grown = fill(services.sessions, args.large - args.small, seed=2)
        print(f"filled {grown.authorizations:,} more in {grown.seconds:.0f} s")
        after = measure(client, ids, args.rounds)
        print(f"at {args.large:,}: " + ", ".join(f"{k} {v:.2f} ms" for k, v in after.items()))
        failed = False
        for name in before:
            ratio = after[name] / before[name]
            ok = ratio <= TARGET
            failed |= not ok
            print(f"{name}: {ratio:.2f}x ({'PASS' if ok else 'FAIL'}, target <= {TARGET}x)")
        services.engine.dispose()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
