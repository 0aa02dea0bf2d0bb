"""The order of the token endpoint's checks (issue 11 points 2 and 9): an assertion that fails a
check needing no key causes no jwks_uri fetch at all, a huge jwks_uri answer costs one bounded
fetch, and the endpoint answers an unknown client exactly as a registered one whose signature
fails, after a signature check either way."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import jwt
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from fhirauth import create_app
from fhirauth.auth import assertion as assertion_module
from fhirauth.auth import clients
from fhirauth.auth.assertion import NOT_AUTHENTICATED
from fhirauth.services import Services
from fhirauth.store.models import AuditRecord, ClientAssertionUse
from tests.auth.helpers import TOKEN_URL, Keys, Register, assertion, token_request
from tests.auth.hostile import GIB, Server
from tests.conftest import NOW

pytest_plugins = ("tests.auth.fixtures",)


@pytest.fixture
def loopback(secure_services: Services) -> Iterator[FlaskClient]:
    """The app, allowed to fetch jwks_uri from loopback, with a short fetch deadline."""
    settings = dataclasses.replace(
        secure_services.settings, jwks_allow_loopback=True, jwks_timeout=1.0
    )
    services = dataclasses.replace(secure_services, settings=settings)
    yield create_app(services=services).test_client()


def answer(resp: Any) -> tuple[int, dict[str, Any], str | None, str | None]:
    """Everything a caller sees of a token refusal."""
    return (
        resp.status_code,
        resp.get_json(),
        resp.headers.get("Cache-Control"),
        resp.headers.get("Content-Type"),
    )


def last_detail(services: Services) -> str:
    with services.sessions() as session:
        return str(
            session.scalars(
                select(AuditRecord.detail).order_by(AuditRecord.id.desc()).limit(1)
            ).one()
        )


def test_an_assertion_failing_a_cheap_check_fetches_nothing(
    loopback: FlaskClient,
    secure_services: Services,
    keys: Keys,
    register: Register,
    hostile: Server,
) -> None:
    url = hostile.base + "/jwks"
    client_id = register(jwks_url=url)
    key = keys.ec
    no_kid = jwt.encode(
        {"iss": client_id, "sub": client_id, "aud": TOKEN_URL, "jti": "k", "exp": 2**31},
        key,
        algorithm="ES384",
    )
    cheap_failures = {
        "alg": assertion(keys.rsa, client_id, alg="RS256", kid=keys.kid(key)),
        "kid": no_kid,
        "iss and sub": assertion(key, client_id, claims={"sub": "someone-else"}),
        "aud": assertion(key, client_id, aud="https://elsewhere.example/auth/token"),
        "expired": assertion(key, client_id, exp=NOW - timedelta(minutes=5)),
        "5 minutes": assertion(key, client_id, exp=NOW + timedelta(hours=1)),
        "no exp": assertion(key, client_id, drop=("exp",)),
        "iat is in the future": assertion(
            key, client_id, claims={"iat": int((NOW + timedelta(hours=1)).timestamp())}
        ),
        "no jti": assertion(key, client_id, drop=("jti",)),
    }
    for why, signed in cheap_failures.items():
        resp = token_request(loopback, signed)
        assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_client"
        assert why in resp.get_json()["error_description"], why
    # A replayed jti, for a client whose JWKS was never fetched.
    replayed_url = url + "?client=replayed"
    replayed = register(jwks_url=replayed_url)
    with secure_services.sessions.begin() as session:
        session.add(
            ClientAssertionUse(
                client_id=replayed, jti="used", expires_at=NOW + timedelta(minutes=4)
            )
        )
    resp = token_request(loopback, assertion(key, replayed, jti="used"))
    assert "used before" in resp.get_json()["error_description"]
    # A disabled client: the answer any unknown client gets, and no fetch.
    disabled_url = url + "?client=disabled"
    disabled = register(jwks_url=disabled_url)
    with secure_services.sessions.begin() as session:
        clients.set_enabled(session, disabled, False, NOW)
    resp = token_request(loopback, assertion(key, disabled))
    assert resp.get_json()["error_description"] == NOT_AUTHENTICATED
    assert hostile.hits("/jwks") == 0 and not hostile.seen

    # Everything cheap passes: now, and only now, the JWKS is fetched.
    assert token_request(loopback, assertion(key, client_id)).status_code == 200
    assert hostile.hits("/jwks") == 1


def test_a_jwks_uri_serving_gigabytes_costs_one_bounded_fetch(
    loopback: FlaskClient,
    secure_services: Services,
    keys: Keys,
    register: Register,
    hostile: Server,
) -> None:
    client_id = register(jwks_url=hostile.base + "/huge")
    first = token_request(loopback, assertion(keys.ec, client_id))
    assert first.get_json()["error_description"] == NOT_AUTHENTICATED
    assert "cap" in last_detail(secure_services)
    seen = hostile.last("/huge")
    assert seen.closed_early and seen.sent < 2 * GIB
    # The failure is remembered: the next assertions do not fetch again.
    second = token_request(loopback, assertion(keys.ec, client_id))
    assert answer(second) == answer(first)
    assert hostile.hits("/huge") == 1


def test_a_dripping_jwks_uri_ends_at_the_deadline(
    loopback: FlaskClient,
    secure_services: Services,
    keys: Keys,
    register: Register,
    hostile: Server,
) -> None:
    client_id = register(jwks_url=hostile.base + "/drip")
    resp = token_request(loopback, assertion(keys.ec, client_id))
    assert resp.get_json()["error_description"] == NOT_AUTHENTICATED
    assert "within 1 s" in last_detail(secure_services)
    assert hostile.last("/drip").closed_early
    assert hostile.last("/drip").sent < 600  # the body is longer than 600 bytes


def test_an_unknown_client_is_answered_as_a_registered_one_with_a_bad_signature(
    secure: FlaskClient,
    loopback: FlaskClient,
    secure_services: Services,
    keys: Keys,
    register: Register,
    hostile: Server,
) -> None:
    known = register()
    disabled = register()
    with secure_services.sessions.begin() as session:
        clients.set_enabled(session, disabled, False, NOW)
    broken_jwks = register(jwks_url=hostile.base + "/broken")
    kid = keys.kid(keys.rsa)
    unknown = answer(token_request(secure, assertion(keys.rsa, "no-such-client")))
    assert unknown[0] == 400
    assert unknown[1] == {"error": "invalid_client", "error_description": NOT_AUTHENTICATED}
    refusals = {
        "bad signature": token_request(secure, assertion(keys.other_rsa, known, kid=kid)),
        "unknown kid": token_request(secure, assertion(keys.rsa, known, kid="not-mine")),
        "wrong key type": token_request(secure, assertion(keys.ec, known, kid=kid)),
        "disabled": token_request(secure, assertion(keys.rsa, disabled)),
        "jwks_uri fails": token_request(loopback, assertion(keys.rsa, broken_jwks, kid=kid)),
    }
    for why, resp in refusals.items():
        assert answer(resp) == unknown, why


def test_every_such_refusal_checks_one_signature(
    secure: FlaskClient,
    keys: Keys,
    register: Register,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    known = register()
    unreachable = register(jwks_url="http://127.0.0.1:9/jwks")  # loopback is not allowed here
    checked: list[Any] = []
    real = assertion_module._signature_verifies

    def counting(signed: str, key: Any, alg: str) -> bool:
        checked.append(key)
        return real(signed, key, alg)

    monkeypatch.setattr(assertion_module, "_signature_verifies", counting)
    kid = keys.kid(keys.rsa)
    for signed in (
        assertion(keys.rsa, "no-such-client"),
        assertion(keys.other_rsa, known, kid=kid),
        assertion(keys.rsa, known, kid="not-mine"),
        assertion(keys.ec, known, kid=kid),
        assertion(keys.rsa, unreachable),
    ):
        checked.clear()
        resp = token_request(secure, signed)
        assert resp.get_json()["error_description"] == NOT_AUTHENTICATED
        assert len(checked) == 1
