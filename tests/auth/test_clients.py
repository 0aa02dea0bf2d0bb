"""The client registry's sender ids (issue 11 point 3), and migration 0008 that adds them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import text

from fhirauth.auth import clients, tokens
from fhirauth.services import Services
from fhirauth.store.db import _alembic_config, make_engine, migrate, session_factory
from tests.auth.helpers import ALL_SCOPES, ORG
from tests.conftest import NOW

pytest_plugins = ("tests.auth.fixtures",)


def new(*sender_ids: str) -> clients.NewClient:
    jwks_url = "https://ehr.example.org/jwks.json"
    return clients.NewClient("x", (ORG,), ALL_SCOPES, jwks_url=jwks_url, sender_ids=sender_ids)


def test_sender_ids_are_checked_and_kept_once_each() -> None:
    assert clients.check(new("FOOTHILLS01", "FOOTHILLS01", "GW-2")).sender_ids == (
        "FOOTHILLS01",
        "GW-2",
    )
    for bad in ("", "TWO WORDS", "a|b", "x" * 65):
        with pytest.raises(clients.ClientError, match="sender id"):
            clients.check(new(bad))


def test_an_access_token_carries_the_clients_sender_ids(secure_services: Services) -> None:
    settings = secure_services.settings
    token, _ = tokens.issue(settings, "c1", ["system/Claim.c"], [ORG], NOW, ["FOOTHILLS01"])
    principal = tokens.verify(settings, token, NOW + timedelta(seconds=1)).principal
    assert principal.senders == ("FOOTHILLS01",) and principal.organizations == (ORG,)
    older, _ = tokens.issue(settings, "c1", ["system/Claim.c"], [ORG], NOW)
    assert tokens.verify(settings, older, NOW).principal.senders == ()


def test_migration_0008_gives_existing_clients_no_sender_ids(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        cfg = _alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0007")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO client (id, name, jwks, jwks_url, organizations, scopes, "
                    "enabled, created_at) VALUES ('old', 'old', NULL, 'https://e.example/j', "
                    "'[\"a|b\"]', '[\"system/Claim.c\"]', :t, :now)"
                ),
                {"t": True, "now": NOW},
            )
        migrate(engine)
        with session_factory(engine).begin() as session:
            old = clients.get(session, "old")
            assert old is not None and old.sender_ids == [] and old.organizations == ["a|b"]
            clients.change_sender_ids(session, "old", ("OLD01",), ())
        with session_factory(engine)() as session:
            old = clients.get(session, "old")
            assert old is not None and old.sender_ids == ["OLD01"]
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0007")
            assert conn.execute(text("SELECT name FROM client")).scalar_one() == "old"
    finally:
        engine.dispose()
