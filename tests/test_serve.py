"""``fhirauth serve`` for real: gunicorn in a child process, a database that survives restarts."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.conftest import EXAMPLES
from tests.pas import review_actions


def wait_until_serving(url: str, proc: subprocess.Popen[bytes], output: Callable[[], str]) -> None:
    """Poll /metadata until the server answers; fail with its output if it exits first."""
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{url}/metadata", timeout=2).ok:
                return
        except (requests.ConnectionError, requests.Timeout):  # workers still booting
            pass
        assert proc.poll() is None, output()
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.2)


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
        wait_until_serving(url, proc, lambda: proc.stdout.read().decode() if proc.stdout else "")
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


def test_serve_announces_sandbox_warns_of_gaps_logs_json_with_request_ids_and_no_control_socket(
    tmp_path: Path,
) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "acme.yaml").write_text(
        "id: acme\nname: ACME\ninsurers: [{system: 'http://hl7.org/fhir/sid/us-npi', "
        "value: '1111111112'}]\nplans: [{type: plan, value: GOLD}]\n"
        "rules:\n  - {id: r, match: [{system: cpt, codes: ['99213']}], outcome: no-auth}\n"
    )
    roster = tmp_path / "members.csv"
    roster.write_text("member_id,plan,start,end\nM1,SILVER,2026-01-01,\n")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIRAUTH_")}
    env.update(
        HOME=str(tmp_path),  # gunicorn 25.1+ would put its control socket in ~/.gunicorn
        FHIRAUTH_AUTH="off",
        FHIRAUTH_SANDBOX="1",
        FHIRAUTH_LOG_FORMAT="json",
        FHIRAUTH_POLICY_DIRS=str(policies),
        FHIRAUTH_MEMBER_ROSTER=str(roster),
    )
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fhirauth", "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/fhir"
    try:
        wait_until_serving(url, proc, err.read_text)
        resp = requests.get(f"{url}/metadata?q=1", headers={"X-Request-ID": "probe-1"}, timeout=5)
        assert resp.headers["X-Request-ID"] == "probe-1"
        assert not (tmp_path / ".gunicorn").exists()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    assert "sandbox mode is on" in out.read_text()
    lines = err.read_text().splitlines()
    warnings = [ln for ln in lines if ln.startswith("WARNING: ") and "authentication" not in ln]
    assert warnings[0].startswith("WARNING: no default policy is in effect")
    assert "http://hl7.org/fhir/sid/us-npi|1111111112" in warnings[0]
    assert warnings[1].startswith("WARNING: member roster: plan SILVER (1 member)")
    records = [json.loads(ln) for ln in lines if ln.startswith("{")]
    assert any(r["logger"] == "gunicorn.error" for r in records)
    # The worker built the R4 model classes before its first request, not in it.
    (warmed,) = [r for r in records if "R4 model classes built" in r["message"]]
    assert warmed["logger"] == "fhirauth.serve"
    (access,) = [r for r in records if r.get("request_id") == "probe-1"]
    assert access["logger"] == "fhirauth.access" and access["path"] == "/fhir/metadata"
    assert access["status"] == 200 and access["client_id"] == "anonymous"
    assert "q=1" not in err.read_text() and "ontrol socket" not in err.read_text()


def test_serve_refuses_a_port_another_server_listens_on(tmp_path: Path) -> None:
    # Each worker binds with SO_REUSEPORT, which would let a second server share the port.
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("FHIRAUTH_")}
        env["FHIRAUTH_DATA_DIR"] = str(tmp_path / "data")
        done = subprocess.run(
            [sys.executable, "-m", "fhirauth", "serve", "--port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
