"""Fixtures for authentication tests (``pytest_plugins = ("tests.auth.fixtures",)``).

``secure`` is an app with FHIRAUTH_AUTH=required over the test database and fixed clock;
``keys`` holds real RSA and EC key pairs made once per session; ``register`` puts a client in
the database and ``token_for`` gets it an access token through ``POST /auth/token``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask
from flask.testing import FlaskClient

from fhirauth import create_app
from fhirauth.auth import clients
from fhirauth.auth.keys import public_jwk
from fhirauth.clock import fixed_clock
from fhirauth.config import Settings
from fhirauth.services import Services
from tests.auth.helpers import (
    ALL_SCOPES,
    ORG,
    SENDER,
    Keys,
    Register,
    TokenFor,
    assertion,
    token_request,
)
from tests.auth.hostile import Server, serve
from tests.conftest import NOW


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys(
        rsa.generate_private_key(65537, 2048),
        ec.generate_private_key(ec.SECP384R1()),
        rsa.generate_private_key(65537, 2048),
    )


@pytest.fixture
def secure_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, auth_mode="required")


@pytest.fixture
def secure_services(secure_settings: Settings) -> Iterator[Services]:
    svc = Services.build(secure_settings, clock=fixed_clock(NOW))
    yield svc
    svc.engine.dispose()


@pytest.fixture
def secure_app(secure_services: Services) -> Flask:
    app = create_app(services=secure_services)
    app.config["TESTING"] = False
    return app


@pytest.fixture
def secure(secure_app: Flask) -> FlaskClient:
    return secure_app.test_client()


@pytest.fixture
def register(secure_services: Services, keys: Keys) -> Register:
    """Register a client with the public half of ``key`` (default: the RSA key), acting for
    ``ORG`` and sending as ``SENDER`` (approve-ct-head.json's) unless told otherwise."""

    def make(
        key: Any = None,
        scopes: tuple[str, ...] = ALL_SCOPES,
        organizations: tuple[str, ...] = (ORG,),
        jwks_url: str | None = None,
        client_id: str | None = None,
        sender_ids: tuple[str, ...] = (SENDER,),
    ) -> str:
        key = key or keys.rsa
        new = clients.NewClient(
            "test client",
            organizations,
            scopes,
            jwks=None if jwks_url else {"keys": [public_jwk(key)]},
            jwks_url=jwks_url,
            sender_ids=sender_ids,
        )
        with secure_services.sessions.begin() as session:
            return clients.add(session, new, NOW, client_id=client_id).id

    return make


@pytest.fixture
def token_for(secure: FlaskClient, keys: Keys) -> TokenFor:
    """An access token for a registered client (signing with ``key``, default RSA)."""

    def get(client_id: str, scope: str = " ".join(ALL_SCOPES), key: Any = None) -> str:
        resp = token_request(secure, assertion(key or keys.rsa, client_id), scope)
        assert resp.status_code == 200, resp.get_json()
        return str(resp.get_json()["access_token"])

    return get


@pytest.fixture
def hostile(keys: Keys) -> Iterator[Server]:
    """A loopback JWKS server serving the EC key at ``/jwks``, and misbehaving elsewhere
    (see tests.auth.hostile)."""
    with serve({"keys": [public_jwk(keys.ec)]}) as server:
        yield server
