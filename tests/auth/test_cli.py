"""``fhirauth clients``, ``fhirauth token``, the client commands' --client-id/--key, and
``fhirauth serve --demo``."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from werkzeug.serving import make_server

from fhirauth import create_app
from fhirauth.auth import clients, demo
from fhirauth.auth.keys import pem, public_jwk
from fhirauth.cli import main
from fhirauth.clock import fixed_clock
from fhirauth.config import Settings
from fhirauth.services import Services
from tests.auth.helpers import ORG, SENDER, Keys
from tests.conftest import EXAMPLES, NOW
from tests.test_serve import free_port

pytest_plugins = ("tests.auth.fixtures",)


def where(settings: Settings) -> list[str]:
    return ["--data-dir", str(settings.data_dir), "--database-url", settings.db_url]


def add(runner: CliRunner, settings: Settings, *args: str) -> Any:
    return runner.invoke(main, ["clients", "add", *args, *where(settings)])


def test_clients_add_list_disable_enable(
    runner: CliRunner, secure_services: Services, keys: Keys, tmp_path: Path
) -> None:
    settings = secure_services.settings
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [public_jwk(keys.rsa)]}))
    result = add(
        runner,
        settings,
        "--name", "Riverbend Clinic EHR",
        "--jwks", str(jwks),
        "--org-identifier", ORG,
        "--org-identifier", "urn:oid:2.16.840.1.113883.3.1|RIVERBEND",
        "--sender-id", "RIVERBENDMSC",
        "--sender-id", "RIVERBEND-GW",
        "--scope", "system/Claim.write system/Claim.read",
        "--scope", "system/Subscription.*",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    client_id = result.output.strip()
    with secure_services.sessions() as session:
        client = clients.get(session, client_id)
        assert client is not None and client.enabled
        assert client.organizations == [ORG, "urn:oid:2.16.840.1.113883.3.1|RIVERBEND"]
        assert client.sender_ids == ["RIVERBENDMSC", "RIVERBEND-GW"]
        assert client.scopes == ["system/Claim.write", "system/Claim.read", "system/Subscription.*"]

    public_pem = tmp_path / "public.pem"
    public_pem.write_bytes(
        keys.ec.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    by_pem = add(
        runner, settings, "--name", "B", "--jwks", str(public_pem), "--org-identifier", ORG,
        "--scope", "system/Claim.c",
    )  # fmt: skip
    assert by_pem.exit_code == 0, by_pem.output
    by_url = add(
        runner, settings, "--name", "C", "--jwks-url", "https://ehr.example.org/jwks.json",
        "--org-identifier", ORG, "--scope", "system/fhirauth.admin",
    )  # fmt: skip
    assert by_url.exit_code == 0, by_url.output

    listed = runner.invoke(main, ["clients", "list", *where(settings)])
    assert listed.exit_code == 0
    assert f"{client_id}  enabled  Riverbend Clinic EHR" in listed.output
    assert "https://ehr.example.org/jwks.json" in listed.output
    assert "sender ids: RIVERBENDMSC, RIVERBEND-GW" in listed.output
    assert "sender ids: (none)" in listed.output  # B and C

    off = runner.invoke(main, ["clients", "disable", client_id, *where(settings)])
    assert off.exit_code == 0 and "disabled" in off.output
    as_json = runner.invoke(main, ["clients", "list", "--json", *where(settings)])
    state = {c["id"]: c["enabled"] for c in json.loads(as_json.output)}
    assert state[client_id] is False and len(state) == 3
    assert runner.invoke(main, ["clients", "enable", client_id, *where(settings)]).exit_code == 0
    assert runner.invoke(main, ["clients", "disable", "nobody", *where(settings)]).exit_code == 1


def test_clients_update_adds_and_removes_sender_ids(
    runner: CliRunner, secure_services: Services, register: Any
) -> None:
    settings = secure_services.settings
    client_id = register(sender_ids=())

    def update(*args: str) -> Any:
        return runner.invoke(main, ["clients", "update", client_id, *args, *where(settings)])

    added = update("--add-sender-id", "FOOTHILLS01", "--add-sender-id", "FOOTHILLS02")
    assert added.exit_code == 0, added.output
    assert "sender ids: FOOTHILLS01, FOOTHILLS02" in added.output
    removed = update("--remove-sender-id", "FOOTHILLS02")
    assert removed.exit_code == 0 and removed.output.strip().endswith("sender ids: FOOTHILLS01")
    with secure_services.sessions() as session:
        client = clients.get(session, client_id)
        assert client is not None and client.sender_ids == ["FOOTHILLS01"]
    assert update().exit_code == 2
    assert update("--add-sender-id", "has space").exit_code == 1
    nobody = runner.invoke(
        main, ["clients", "update", "nobody", "--add-sender-id", "X1", *where(settings)]
    )
    assert nobody.exit_code == 1 and "no client nobody" in nobody.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--org-identifier", "no-bar", "--scope", "system/Claim.c"], "SYSTEM|VALUE"),
        (["--org-identifier", ORG, "--scope", "system/Claim.x"], "not one fhirauth grants"),
        (["--org-identifier", ORG, "--scope", "openid"], "not one fhirauth grants"),
        (
            ["--org-identifier", ORG, "--sender-id", "TWO WORDS", "--scope", "system/Claim.c"],
            "sender id",
        ),
    ],
)
def test_clients_add_refuses_what_it_cannot_use(
    runner: CliRunner,
    secure_services: Services,
    keys: Keys,
    tmp_path: Path,
    args: list[str],
    message: str,
) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [public_jwk(keys.rsa)]}))
    result = add(runner, secure_services.settings, "--name", "X", "--jwks", str(jwks), *args)
    assert result.exit_code == 2 and message in result.output


def test_clients_add_refuses_a_private_key_and_keyless_clients(
    runner: CliRunner, secure_services: Services, keys: Keys, tmp_path: Path
) -> None:
    settings = secure_services.settings
    private = tmp_path / "private.pem"
    private.write_bytes(pem(keys.ec))
    common = ["--org-identifier", ORG, "--scope", "system/Claim.c"]
    result = add(runner, settings, "--name", "X", "--jwks", str(private), *common)
    assert result.exit_code == 2 and "private key" in result.output
    private_jwk = tmp_path / "private.json"
    from fhirauth.auth.keys import to_jwk

    private_jwk.write_text(json.dumps({"keys": [to_jwk(keys.ec)]}))
    result = add(runner, settings, "--name", "X", "--jwks", str(private_jwk), *common)
    assert result.exit_code == 2 and "private key" in result.output
    assert add(runner, settings, "--name", "X", *common).exit_code == 2
    http_url = add(runner, settings, "--name", "X", "--jwks-url", "http://ehr.example/j", *common)
    assert http_url.exit_code == 2 and "https" in http_url.output


@pytest.fixture
def live(secure_settings: Settings) -> Iterator[tuple[str, Services]]:
    """The secure app on a loopback port, its base URL naming that port."""
    port = free_port()
    settings = dataclasses.replace(secure_settings, base_url=f"http://127.0.0.1:{port}/fhir")
    services = Services.build(settings, clock=fixed_clock(NOW))
    from fhirauth.clock import system_clock

    services.clock = system_clock  # the CLI signs with the real time
    server = make_server("127.0.0.1", port, create_app(services=services), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield settings.base_url, services
    server.shutdown()
    thread.join()
    services.engine.dispose()


def test_token_and_the_client_commands_authenticate(
    runner: CliRunner, live: tuple[str, Services], keys: Keys, tmp_path: Path
) -> None:
    url, services = live
    with services.sessions.begin() as session:
        client_id = clients.add(
            session,
            clients.NewClient(
                "cli", (ORG,), ("system/*.*", "system/fhirauth.admin"),
                jwks={"keys": [public_jwk(keys.ec)]}, sender_ids=(SENDER,),
            ),
            NOW,
        ).id  # fmt: skip
    key = tmp_path / "key.pem"
    key.write_bytes(pem(keys.ec))
    got = runner.invoke(main, ["token", "--url", url, "--client-id", client_id, "--key", str(key)])
    assert got.exit_code == 0, got.output
    token = got.output.strip()
    assert token.count(".") == 2

    example = str(EXAMPLES / "approve-ct-head.json")
    anonymous = runner.invoke(main, ["submit", "--url", url, example])
    assert anonymous.exit_code == 1 and "HTTP 401" in anonymous.output
    with_token = runner.invoke(main, ["submit", "--url", url, "--token", token, example])
    assert with_token.exit_code == 0, with_token.output
    assert "HTTP 200" in with_token.output
    env = {"FHIRAUTH_CLIENT_ID": client_id, "FHIRAUTH_KEY": str(key), "FHIRAUTH_URL": url}
    queue = runner.invoke(main, ["review", "list"], env=env)
    assert queue.exit_code == 0, queue.output
    ref = with_token.output.split("authorization ")[1].split()[0]
    traced = runner.invoke(main, ["trace", ref], env=env)  # a KEY argument beside --key
    assert traced.exit_code == 0, traced.output
    assert ref in traced.output

    jwk_file = tmp_path / "key.json"
    from fhirauth.auth.keys import to_jwk

    jwk_file.write_text(json.dumps(to_jwk(keys.ec)))
    as_json = runner.invoke(
        main,
        ["token", "--url", url, "--client-id", client_id, "--key", str(jwk_file), "--json",
         "--scope", "system/Claim.read"],
    )  # fmt: skip
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output)["scope"] == "system/Claim.read"
    wrong = runner.invoke(main, ["token", "--url", url, "--client-id", "nobody", "--key", str(key)])
    assert wrong.exit_code == 1 and "invalid_client" in wrong.output


def test_serve_demo_creates_the_demo_client_once_and_prints_how_to_get_a_token(
    runner: CliRunner,
    secure_settings: Settings,
    live: tuple[str, Services],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    import fhirauth.serve

    started: list[Settings] = []
    monkeypatch.setattr(fhirauth.serve, "run", lambda settings, **_: started.append(settings))
    data = tmp_path / "demo-data"
    args = ["serve", "--demo", "--data-dir", str(data), "--database-url", secure_settings.db_url]
    first = runner.invoke(main, args, env={"FHIRAUTH_AUTH": None})
    assert first.exit_code == 0, first.output
    assert started[0].auth_mode == "demo"
    key = data / demo.DEMO_KEY_FILE
    assert key.exists() and key.stat().st_mode & 0o077 == 0
    assert "registered" in first.output
    token_cmd = (
        "fhirauth token --url http://127.0.0.1:8080/fhir --client-id fhirauth-demo "
        f"--key {key.resolve()}"
    )
    assert token_cmd in first.output
    assert 'curl -s -H "Authorization: Bearer $(fhirauth token' in first.output
    pem_before = key.read_bytes()
    _, services = live
    with services.sessions.begin() as session:
        made = clients.get(session, demo.DEMO_CLIENT_ID)
        assert made is not None and "RIVERBENDMSC" in made.sender_ids  # mixed-outcomes' ISA06
        made.sender_ids = []  # as a demo client made before sender ids were registered

    again = runner.invoke(main, args, env={"FHIRAUTH_AUTH": None})
    assert again.exit_code == 0 and "ready" in again.output
    assert key.read_bytes() == pem_before
    with services.sessions() as session:
        made = clients.get(session, demo.DEMO_CLIENT_ID)
        assert made is not None and set(made.sender_ids) == set(demo.example_sender_ids())

    # The server on the same database accepts the demo key, for every example.
    url, _ = live
    env = {"FHIRAUTH_CLIENT_ID": demo.DEMO_CLIENT_ID, "FHIRAUTH_KEY": str(key), "FHIRAUTH_URL": url}
    examples = sorted(str(p) for p in EXAMPLES.glob("*.json"))
    sent = runner.invoke(main, ["submit", *examples], env=env)
    assert sent.exit_code == 0, sent.output
    assert sent.output.count("HTTP 200") == len(examples)
    assert runner.invoke(main, ["review", "list"], env=env).exit_code == 0
