"""POST /auth/token: every check on the client assertion fails its own way (RFC 6749 §5.2)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from flask.testing import FlaskClient
from sqlalchemy import select

from fhirauth.auth import clients, tokens
from fhirauth.auth.assertion import NOT_AUTHENTICATED
from fhirauth.auth.keys import public_jwk
from fhirauth.services import Services
from fhirauth.store.models import AuditRecord
from tests.auth.helpers import (
    ORG,
    TOKEN_URL,
    Keys,
    Register,
    assertion,
    token_request,
)
from tests.conftest import BASE_URL, NOW

pytest_plugins = ("tests.auth.fixtures",)


def refused(resp: Any, error: str = "invalid_client") -> str:
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.get_json()
    assert body["error"] == error, body
    return str(body["error_description"])


def unauthenticated(resp: Any, services: Services) -> str:
    """The one answer that does not tell who is registered; returns why, as audited."""
    assert refused(resp) == NOT_AUTHENTICATED
    with services.sessions() as session:
        detail = session.scalars(
            select(AuditRecord.detail).order_by(AuditRecord.id.desc()).limit(1)
        ).one()
    return str(detail)


def test_a_good_assertion_gets_a_short_lived_token_with_the_granted_scopes(
    secure: FlaskClient, secure_services: Services, keys: Keys, register: Register
) -> None:
    client_id = register(scopes=("system/Claim.cruds", "system/ClaimResponse.read"))
    resp = token_request(
        secure, assertion(keys.rsa, client_id), "system/Claim.write system/*.read openid"
    )
    assert resp.status_code == 200, resp.get_json()
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.get_json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 300
    assert body["scope"].split() == [
        "system/Claim.write",
        "system/Claim.rs",
        "system/ClaimResponse.rs",
    ]
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == claims["client_id"] == client_id
    assert claims["orgs"] == [ORG] and claims["aud"] == BASE_URL and claims["iss"] == TOKEN_URL
    assert claims["exp"] - claims["iat"] == 300
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "ES256" and header["typ"] == "at+jwt"
    verified = tokens.verify(secure_services.settings, body["access_token"], NOW)
    assert verified.principal.id == client_id and verified.principal.organizations == (ORG,)
    assert not verified.principal.anonymous


def test_an_es384_assertion_works_too(secure: FlaskClient, keys: Keys, register: Register) -> None:
    client_id = register(keys.ec)
    assert token_request(secure, assertion(keys.ec, client_id)).status_code == 200


def test_iss_and_sub_must_be_one_registered_client(
    secure: FlaskClient, secure_services: Services, keys: Keys, register: Register
) -> None:
    client_id = register()
    other = register(keys.other_rsa)
    signed = assertion(keys.rsa, client_id, claims={"sub": other})
    assert "iss and sub" in refused(token_request(secure, signed))
    nobody = token_request(secure, assertion(keys.rsa, "nobody"))
    assert "no registered client" in unauthenticated(nobody, secure_services)
    # Claiming another client's id with our key: its JWKS has no such kid.
    claimed = token_request(secure, assertion(keys.rsa, other))
    assert "no key with kid" in unauthenticated(claimed, secure_services)


def test_aud_must_be_the_token_url(secure: FlaskClient, keys: Keys, register: Register) -> None:
    client_id = register()
    for aud in (BASE_URL, "https://elsewhere.example/auth/token"):
        assert TOKEN_URL in refused(token_request(secure, assertion(keys.rsa, client_id, aud=aud)))


def test_exp_must_be_present_not_past_and_at_most_five_minutes_ahead(
    secure: FlaskClient, keys: Keys, register: Register
) -> None:
    client_id = register()
    past = assertion(keys.rsa, client_id, exp=NOW - timedelta(minutes=2))
    assert "expired" in refused(token_request(secure, past))
    far = assertion(keys.rsa, client_id, exp=NOW + timedelta(minutes=10))
    assert "5 minutes" in refused(token_request(secure, far))
    assert "exp" in refused(token_request(secure, assertion(keys.rsa, client_id, drop=("exp",))))
    ok = assertion(keys.rsa, client_id, exp=NOW + timedelta(minutes=5))
    assert token_request(secure, ok).status_code == 200


def test_a_jti_is_used_once(secure: FlaskClient, keys: Keys, register: Register) -> None:
    client_id = register()
    signed = assertion(keys.rsa, client_id, jti="once")
    assert token_request(secure, signed).status_code == 200
    assert "used before" in refused(token_request(secure, signed))
    again = assertion(keys.rsa, client_id, jti="once", exp=NOW + timedelta(minutes=3))
    assert "used before" in refused(token_request(secure, again))
    assert "jti" in refused(token_request(secure, assertion(keys.rsa, client_id, drop=("jti",))))


def test_a_jti_replayed_through_another_process_is_refused(
    secure: FlaskClient, secure_services: Services, keys: Keys, register: Register
) -> None:
    from fhirauth import create_app

    client_id = register()
    signed = assertion(keys.rsa, client_id)
    other = Services.build(secure_services.settings, clock=secure_services.clock)
    try:
        second = create_app(services=other).test_client()
        assert token_request(second, signed).status_code == 200
        assert "used before" in refused(token_request(secure, signed))
    finally:
        other.engine.dispose()


def test_alg_none_is_refused(secure: FlaskClient, register: Register, keys: Keys) -> None:
    client_id = register()
    unsigned = jwt.encode(
        {"iss": client_id, "sub": client_id, "aud": TOKEN_URL, "jti": "n", "exp": 2**31},
        None,
        algorithm="none",
        headers={"kid": Keys.kid(keys, keys.rsa)},
    )
    assert "not allowed" in refused(token_request(secure, unsigned))


def test_hs256_with_the_public_key_as_secret_is_refused(
    secure: FlaskClient, secure_services: Services, keys: Keys, register: Register
) -> None:
    client_id = register()
    public_pem = keys.rsa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    body = {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_URL,
        "jti": "hs",
        "exp": int((NOW + timedelta(minutes=4)).timestamp()),
    }
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    # PyJWT refuses to sign HMAC with a PEM key, which is the point; forge it by hand.
    header = {"alg": "HS256", "typ": "JWT", "kid": keys.kid(keys.rsa)}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(body).encode())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{b64(mac)}"
    assert "not allowed" in refused(token_request(secure, forged))
    # Declaring RS384 over the same HMAC signature fails the signature check instead.
    header["alg"] = "RS384"
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(body).encode())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    resp = token_request(secure, f"{signing_input}.{b64(mac)}")
    assert "signature" in unauthenticated(resp, secure_services)


def test_rs256_and_es256_are_not_on_the_allow_list(
    secure: FlaskClient, keys: Keys, register: Register
) -> None:
    client_id = register()
    assert "not allowed" in refused(
        token_request(secure, assertion(keys.rsa, client_id, alg="RS256"))
    )


def test_the_key_is_found_by_kid_and_must_match(
    secure: FlaskClient, secure_services: Services, keys: Keys, register: Register
) -> None:
    client_id = register()
    unknown = token_request(secure, assertion(keys.rsa, client_id, kid="unknown"))
    assert "no key with kid" in unauthenticated(unknown, secure_services)
    # Signed by another key under the registered kid: the signature does not verify.
    forged = assertion(keys.other_rsa, client_id, kid=keys.kid(keys.rsa))
    assert "signature" in unauthenticated(token_request(secure, forged), secure_services)
    # ES384 header naming the RSA key.
    wrong = assertion(keys.ec, client_id, kid=keys.kid(keys.rsa))
    assert "not an EC key" in unauthenticated(token_request(secure, wrong), secure_services)


def test_a_disabled_client_gets_no_token(
    secure: FlaskClient, secure_services: Services, keys: Keys, register: Register
) -> None:
    client_id = register()
    with secure_services.sessions.begin() as session:
        clients.set_enabled(session, client_id, False, NOW)
    resp = token_request(secure, assertion(keys.rsa, client_id))
    assert "disabled" in unauthenticated(resp, secure_services)


def test_the_request_itself_is_checked(secure: FlaskClient, keys: Keys, register: Register) -> None:
    client_id = register()
    signed = assertion(keys.rsa, client_id)
    assert "scope" in refused(token_request(secure, signed, scope=""), "invalid_request")
    refused(token_request(secure, signed, grant_type="password"), "unsupported_grant_type")
    refused(token_request(secure, signed, client_assertion_type="urn:other"), "invalid_request")
    refused(token_request(secure, "not-a-jwt"), "invalid_client")
    as_json = secure.post("/auth/token", json={"grant_type": "client_credentials"})
    refused(as_json, "invalid_request")
    twice = secure.post(
        "/auth/token",
        data="grant_type=client_credentials&grant_type=client_credentials",
        content_type="application/x-www-form-urlencoded",
    )
    assert "more than once" in refused(twice, "invalid_request")
    refused(token_request(secure, signed, client_id="someone-else"), "invalid_client")


def test_scopes_outside_the_registration_are_invalid_scope(
    secure: FlaskClient, keys: Keys, register: Register
) -> None:
    client_id = register(scopes=("system/Claim.read",))
    resp = token_request(secure, assertion(keys.rsa, client_id), "system/fhirauth.admin")
    refused(resp, "invalid_scope")


class _JwksHandler(http.server.BaseHTTPRequestHandler):
    document: bytes = b""
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.document)))
        self.end_headers()
        self.wfile.write(self.document)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def jwks_server(keys: Keys) -> Iterator[str]:
    handler = type("Handler", (_JwksHandler,), {"document": b"", "hits": 0})
    handler.document = json.dumps({"keys": [public_jwk(keys.ec)]}).encode()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()
    thread.join()


def test_keys_are_fetched_from_jwks_uri_over_loopback_when_allowed(
    secure_services: Services, keys: Keys, register: Register, jwks_server: str
) -> None:
    import dataclasses

    from fhirauth import create_app

    client_id = register(jwks_url=jwks_server)
    allowed = dataclasses.replace(
        secure_services,
        settings=dataclasses.replace(secure_services.settings, jwks_allow_loopback=True),
    )
    app = create_app(services=allowed).test_client()
    assert token_request(app, assertion(keys.ec, client_id)).status_code == 200
    assert token_request(app, assertion(keys.ec, client_id)).status_code == 200  # cached
    rotated = token_request(app, assertion(keys.ec, client_id, kid="rotated-away"))
    assert "no key with kid" in unauthenticated(rotated, secure_services)


def test_a_loopback_jwks_uri_is_refused_unless_allowed(
    secure: FlaskClient, secure_services: Services, keys: Keys, register: Register, jwks_server: str
) -> None:
    client_id = register(jwks_url=jwks_server)
    resp = token_request(secure, assertion(keys.ec, client_id))
    assert "loopback" in unauthenticated(resp, secure_services)


def test_a_token_verified_before_still_expires_and_a_forged_one_never_verifies(
    secure_services: Services,
) -> None:
    """Signatures are remembered per token; times are checked on every use."""
    settings = secure_services.settings
    token, lifetime = tokens.issue(settings, "c1", ["system/Claim.c"], [ORG], NOW)
    assert tokens.verify(settings, token, NOW).client_id == "c1"
    assert tokens.verify(settings, token, NOW + timedelta(seconds=1)).client_id == "c1"
    with pytest.raises(tokens.TokenRejected, match="expired"):
        tokens.verify(settings, token, NOW + timedelta(seconds=lifetime + 3600))
    head, payload, signature = token.split(".")
    forged = ".".join(
        [head, payload, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")]
    )
    for _ in range(2):
        with pytest.raises(tokens.TokenRejected, match="does not verify"):
            tokens.verify(settings, forged, NOW)
