"""``fhirauth serve`` for real: gunicorn in a child process, a database that survives restarts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.conftest import EXAMPLES
from tests.pas import review_actions


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(args: list[str], cwd: Path) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIRAUTH_")}
    env["FHIRAUTH_AUTH"] = "off"  # tokens are tested in tests/auth/
    proc = subprocess.Popen(
        [sys.executable, "-m", "fhirauth", "serve", "--port", str(port), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/fhir"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/metadata", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_serve_answers_submits_and_keeps_them_across_a_restart(
    tmp_path: Path, database_url: str
) -> None:
    args = ["--workers", "2"]
    if not database_url.startswith("sqlite"):
        args += ["--database-url", database_url]
    body = (EXAMPLES / "mixed-outcomes.json").read_bytes()
    headers = {"Content-Type": "application/fhir+json"}
    with serving(args, tmp_path) as url:
        resp = requests.post(f"{url}/Claim/$submit", data=body, headers=headers, timeout=30)
        assert resp.status_code == 200
        assert review_actions(resp.json()) == {1: "NA", 2: "A1", 3: "A4", 4: "A3"}
        cr = resp.json()["entry"][0]
        assert cr["fullUrl"].startswith(url)
    if database_url.startswith("sqlite"):
        assert (tmp_path / "fhirauth-data" / "fhirauth.sqlite3").exists()
    with serving(args, tmp_path) as url:
        again = requests.get(f"{url}/ClaimResponse/{cr['resource']['id']}", timeout=30)
        assert again.status_code == 200
        assert again.json() == cr["resource"]
        replay = requests.post(f"{url}/Claim/$submit", data=body, headers=headers, timeout=30)
        assert replay.content == resp.content


def test_serve_refuses_to_start_with_a_broken_policy_and_says_where(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "broken.yaml").write_text(
        "id: broken\nname: Broken\nrules:\n  - id: knee\n    match: [{system: cpt, codes: "
        "['27447']}]\n    outcome: maybe\n"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FHIRAUTH_")},
        "FHIRAUTH_POLICY_DIRS": str(policies),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "fhirauth", "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "broken.yaml" in proc.stderr and "rule knee" in proc.stderr
    assert "outcome" in proc.stderr
