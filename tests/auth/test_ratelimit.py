"""Per-client fixed windows shared through the database by every process."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select

from fhirauth import create_app
from fhirauth.auth.ratelimit import hit
from fhirauth.config import Settings, parse_rate_limit
from fhirauth.services import Services
from fhirauth.store.db import make_engine, session_factory
from fhirauth.store.models import RateWindow
from tests.auth.helpers import Keys, Register, assertion, token_request
from tests.conftest import NOW

pytest_plugins = ("tests.auth.fixtures",)


def test_the_setting() -> None:
    assert parse_rate_limit("120/minute") == (120, 60)
    assert parse_rate_limit("120") == (120, 60)
    assert parse_rate_limit("5/second") == (5, 1)
    assert parse_rate_limit(" 1000/hour ") == (1000, 3600)
    assert parse_rate_limit("0") is None and parse_rate_limit(None) is None
    assert parse_rate_limit("") is None
    for bad in ("many", "10/fortnight", "-1/minute"):
        with pytest.raises(ValueError, match="FHIRAUTH_RATE_LIMIT"):
            parse_rate_limit(bad)
    assert Settings.from_env({"FHIRAUTH_RATE_LIMIT": "60/minute"}).rate_limit == "60/minute"
    with pytest.raises(ValueError):
        Settings.from_env({"FHIRAUTH_RATE_LIMIT": "lots"})


def test_windows_count_and_reset(services: Services) -> None:
    limit = (2, 60)
    assert hit(services.sessions, "a", limit, NOW) is None
    assert hit(services.sessions, "a", limit, NOW + timedelta(seconds=20)) is None
    assert hit(services.sessions, "a", limit, NOW + timedelta(seconds=45)) == 15
    assert hit(services.sessions, "b", limit, NOW) is None
    later = NOW + timedelta(minutes=1)
    assert hit(services.sessions, "a", limit, later) is None
    assert hit(services.sessions, "a", limit, later + timedelta(minutes=5)) is None
    with services.sessions() as session:
        kept = session.scalars(select(RateWindow.slot).where(RateWindow.client_id == "a")).all()
    assert len(kept) == 1  # older windows are dropped as a new one opens


def test_processes_sharing_a_database_never_lose_a_count(services: Services) -> None:
    """Four engines (as four processes would have) and eight threads, 200 requests."""
    engines = [make_engine(services.settings.db_url) for _ in range(4)]
    factories = [session_factory(e) for e in engines]
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(
                pool.map(lambda n: hit(factories[n % 4], "busy", (150, 60), NOW), range(200))
            )
    finally:
        for e in engines:
            e.dispose()
    assert answers.count(None) == 150
    with services.sessions() as session:
        assert session.scalar(select(RateWindow.hits).where(RateWindow.client_id == "busy")) == 200


def test_token_requests_count_against_the_client(
    secure_services: Services, keys: Keys, register: Register
) -> None:
    limited = dataclasses.replace(
        secure_services,
        settings=dataclasses.replace(secure_services.settings, rate_limit="1/minute"),
    )
    app = create_app(services=limited).test_client()
    client_id = register()
    assert token_request(app, assertion(keys.rsa, client_id)).status_code == 200
    resp = token_request(app, assertion(keys.rsa, client_id))
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "60"
    assert resp.get_json()["resourceType"] == "OperationOutcome"
