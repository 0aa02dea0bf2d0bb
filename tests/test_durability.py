"""Nothing acknowledged is lost: ``fhirauth serve`` killed with SIGKILL (master and workers at
once) in the middle of concurrent submissions and updates comes back with every request that
got a 200 stored, readable and inquirable, and the notification of every acknowledged update
still queued. On SQLite and, with FHIRAUTH_TEST_DATABASE_URL, on PostgreSQL."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import select

from fhirauth.store.db import make_engine
from fhirauth.store.models import Authorization, OutboxEvent
from tests.conftest import EXAMPLES
from tests.inquiries import ANY_SERVICE, inquiry_of
from tests.notifications.helpers import subscription, wait_until
from tests.test_serve import free_port, wait_until_serving
from tests.updates import update_of

FHIR = {"Content-Type": "application/fhir+json"}
CLIENTS = 6
KILL_AFTER = 24  # acknowledged requests before the kill; the clients are still sending


@dataclass
class Acknowledged:
    lock: threading.Lock = field(default_factory=threading.Lock)
    submits: list[dict[str, Any]] = field(default_factory=list)  # the ClaimResponses answered
    updates: list[str] = field(default_factory=list)  # ClaimResponse ids of updated ones

    def count(self) -> int:
        with self.lock:
            return len(self.submits) + len(self.updates)


def request_of(client: int, n: int) -> dict[str, Any]:
    bundle = json.loads((EXAMPLES / "pend-mri-brain.json").read_text())
    bundle["identifier"]["value"] += f"-{client}-{n}"
    claim = bundle["entry"][0]["resource"]
    claim["identifier"][0]["value"] += f"-{client}-{n}"
    return bundle


def start(args: list[str], cwd: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIRAUTH_")}
    env.update(FHIRAUTH_AUTH="off", FHIRAUTH_NOTIFY_ALLOW_HTTP="1")
    env["FHIRAUTH_NOTIFY_ALLOW_LOOPBACK"] = "1"
    return subprocess.Popen(
        [sys.executable, "-m", "fhirauth", "serve", "--port", str(port), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def send(url: str, client: int, acked: Acknowledged, stop: threading.Event) -> None:
    """Submit a pended request, then update it; note each 200. Stops at the first failure (the
    server is gone)."""
    n = 0
    try:
        while not stop.is_set():
            n += 1
            request = request_of(client, n)
            resp = requests.post(f"{url}/Claim/$submit", json=request, headers=FHIR, timeout=30)
            if resp.status_code != 200:
                return
            cr = resp.json()["entry"][0]["resource"]
            with acked.lock:
                acked.submits.append(cr)
            update = update_of(request, 1, change={1: {"quantity": {"value": 2}}})
            resp = requests.post(f"{url}/Claim/$submit", json=update, headers=FHIR, timeout=30)
            if resp.status_code != 200:
                return
            with acked.lock:
                acked.updates.append(resp.json()["entry"][0]["resource"]["id"])
    except requests.RequestException:
        return


def test_a_server_killed_mid_load_keeps_every_acknowledged_request(
    tmp_path: Path, database_url: str
) -> None:
    args = ["--workers", "2", "--no-worker"]
    if not database_url.startswith("sqlite"):
        args += ["--database-url", database_url]
    port = free_port()
    url = f"http://127.0.0.1:{port}/fhir"
    proc = start(args, tmp_path, port)
    acked, stop = Acknowledged(), threading.Event()
    try:
        wait_until_serving(url, proc, lambda: "server exited")
        hook = subscription("http://127.0.0.1:9/never-answers")
        resp = requests.post(f"{url}/Subscription", json=hook, headers=FHIR, timeout=30)
        assert resp.status_code == 201, resp.text
        clients = [
            threading.Thread(target=send, args=(url, i, acked, stop)) for i in range(CLIENTS)
        ]
        for c in clients:
            c.start()
        wait_until(lambda: acked.count() >= KILL_AFTER, timeout=120, every=0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        stop.set()
    for c in clients:
        c.join(60)
    assert acked.submits and acked.updates

    proc = start(args, tmp_path, port)
    try:
        wait_until_serving(url, proc, lambda: "server did not restart")
        for cr in acked.submits:
            again = requests.get(f"{url}/ClaimResponse/{cr['id']}", timeout=30)
            assert again.status_code == 200
            assert again.json()["preAuthRef"] == cr["preAuthRef"]
        query = inquiry_of(request_of(0, 1), items=[copy.deepcopy(ANY_SERVICE)])
        resp = requests.post(f"{url}/Claim/$inquire", json=query, headers=FHIR, timeout=60)
        assert resp.status_code == 200
        found = {
            p["resource"]["entry"][0]["resource"]["preAuthRef"] for p in resp.json()["parameter"]
        }
        assert {cr["preAuthRef"] for cr in acked.submits} <= found
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)

    db = database_url if not database_url.startswith("sqlite") else None
    engine = make_engine(db or f"sqlite:///{tmp_path / 'fhirauth-data' / 'fhirauth.sqlite3'}")
    try:
        with engine.connect() as conn:
            queued = set(
                conn.scalars(
                    select(Authorization.claim_response_id)
                    .join(OutboxEvent, OutboxEvent.authorization_id == Authorization.id)
                    .where(OutboxEvent.kind == "event-notification")
                )
            )
    finally:
        engine.dispose()
    assert set(acked.updates) <= queued
