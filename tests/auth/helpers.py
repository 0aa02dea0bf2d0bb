"""Helpers for authentication tests: keys, client assertions, token requests."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask.testing import FlaskClient

from fhirauth.auth.assertion import ASSERTION_TYPE
from fhirauth.auth.keys import public_jwk
from fhirauth.auth.scopes import ADMIN_SCOPE
from tests.conftest import NOW

TOKEN_URL = "http://fhirauth.test/auth/token"
ORG = "http://hl7.org/fhir/sid/us-npi|1304827169"  # approve-ct-head.json's provider
SENDER = "FOOTHILLS01"  # approve-ct-head.json's interchangeSenderID (ISA06)
ALL_SCOPES = ("system/*.*", ADMIN_SCOPE)

Register = Callable[..., str]  # the ``register`` fixture
TokenFor = Callable[..., str]  # the ``token_for`` fixture


@dataclasses.dataclass(frozen=True)
class Keys:
    rsa: rsa.RSAPrivateKey
    ec: ec.EllipticCurvePrivateKey
    other_rsa: rsa.RSAPrivateKey

    def kid(self, key: Any) -> str:
        return str(public_jwk(key)["kid"])


def assertion(
    key: Any,
    client_id: str,
    *,
    aud: str = TOKEN_URL,
    exp: datetime | None = None,
    jti: str | None = None,
    alg: str | None = None,
    kid: str | None = None,
    claims: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
) -> str:
    """A client assertion signed with ``key`` (RS384 for RSA, ES384 for EC by default)."""
    alg = alg or ("RS384" if isinstance(key, rsa.RSAPrivateKey) else "ES384")
    body: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "exp": int((exp or NOW + timedelta(minutes=4)).timestamp()),
        "iat": int(NOW.timestamp()),
        "jti": jti or uuid.uuid4().hex,
        **(claims or {}),
    }
    for name in drop:
        body.pop(name, None)
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid or public_jwk(key)["kid"]})


def token_request(
    client: FlaskClient, signed: str, scope: str = " ".join(ALL_SCOPES), **extra: str
) -> Any:
    form = {
        "grant_type": "client_credentials",
        "scope": scope,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": signed,
        **extra,
    }
    return client.post("/auth/token", data=form)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


TRANSMISSION = (
    "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-TransmissionIdentifiers"
)


def with_sender(bundle: dict[str, Any], sender: str) -> dict[str, Any]:
    """The PAS request bundle with its Claim's interchangeSenderID (ISA06) replaced."""
    for ext in bundle["entry"][0]["resource"]["extension"]:
        if ext["url"] == TRANSMISSION:
            for sub in ext["extension"]:
                if sub["url"] == "interchangeSenderID":
                    sub["valueString"] = sender
    return bundle


def requestor(bundle: dict[str, Any]) -> dict[str, Any]:
    """The requesting Organization (Claim.provider) of an example bundle, to edit in place."""
    ref = bundle["entry"][0]["resource"]["provider"]["reference"]
    return next(e["resource"] for e in bundle["entry"] if e["fullUrl"].endswith(ref))
