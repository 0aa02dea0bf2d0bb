"""``fhirauth sandbox next`` and ``sandbox clear`` act for the caller when authentication is on:
the client whose credentials the command uses, unless ``--principal`` names another."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from werkzeug.serving import make_server

from fhirauth import create_app
from fhirauth.auth.keys import pem
from fhirauth.cli import main
from fhirauth.clock import system_clock
from fhirauth.config import Settings
from fhirauth.services import Services
from tests.auth.helpers import Keys, Register
from tests.conftest import EXAMPLES
from tests.test_serve import free_port

pytest_plugins = ("tests.auth.fixtures",)


@pytest.fixture
def sandbox_url(secure_settings: Settings) -> Iterator[str]:
    """A sandbox server with tokens required, on a loopback port, over the test database."""
    port = free_port()
    settings = dataclasses.replace(
        secure_settings, sandbox=True, base_url=f"http://127.0.0.1:{port}/fhir"
    )
    services = Services.build(settings, clock=system_clock)  # the CLI signs with the real time
    server = make_server("127.0.0.1", port, create_app(services=services), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield settings.base_url
    server.shutdown()
    thread.join()
    services.engine.dispose()


def pending(url: str, token: str, principal: str) -> list[str]:
    resp = requests.get(
        url.removesuffix("/fhir") + "/admin/sandbox/scripts",
        params={"principal": principal},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    return [s["outcome"] for s in resp.json()["pending"]]


def test_sandbox_next_and_clear_script_the_callers_own_submissions(
    runner: CliRunner, sandbox_url: str, register: Register, keys: Keys, tmp_path: Path
) -> None:
    client_id = register(keys.ec)
    key = tmp_path / "key.pem"
    key.write_bytes(pem(keys.ec))
    env = {"FHIRAUTH_CLIENT_ID": client_id, "FHIRAUTH_KEY": str(key), "FHIRAUTH_URL": sandbox_url}

    scripted = runner.invoke(main, ["sandbox", "next", "A3"], env=env)
    assert scripted.exit_code == 0, scripted.output
    assert scripted.output.strip() == "pending: A3"
    sent = runner.invoke(main, ["submit", str(EXAMPLES / "approve-ct-head.json")], env=env)
    assert sent.exit_code == 0, sent.output
    assert "item 1: A3" in sent.output  # the policy would approve it: the script answered

    # With only a token, the caller is the client the token was issued to.
    token = runner.invoke(main, ["token"], env=env).output.strip()
    by_token = runner.invoke(
        main,
        ["sandbox", "next", "A4", "--count", "2", "--token", token, "--url", sandbox_url],
        env={"FHIRAUTH_CLIENT_ID": None, "FHIRAUTH_KEY": None},
    )
    assert by_token.exit_code == 0, by_token.output
    assert pending(sandbox_url, token, client_id) == ["A4", "A4"]
    cleared = runner.invoke(main, ["sandbox", "clear"], env=env)
    assert cleared.exit_code == 0, cleared.output
    assert pending(sandbox_url, token, client_id) == []

    # --principal still names someone else.
    other = runner.invoke(main, ["sandbox", "next", "NA", "--principal", "someone-else"], env=env)
    assert other.exit_code == 0, other.output
    assert pending(sandbox_url, token, "someone-else") == ["NA"]
    assert pending(sandbox_url, token, client_id) == []
