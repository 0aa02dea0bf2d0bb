"""Keys and the security settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from fhirauth.auth.keys import (
    BadKey,
    check_public_jwks,
    load_private_key,
    pem,
    public_jwk,
    server_signing_key,
    to_jwk,
    write_private,
)
from fhirauth.config import Settings
from tests.auth.helpers import Keys

pytest_plugins = ("tests.auth.fixtures",)


def test_the_server_key_is_made_once_readable_by_the_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing-key.pem"
    first = server_signing_key(path)
    assert first.alg == "ES256" and path.stat().st_mode & 0o077 == 0
    assert server_signing_key(path).kid == first.kid
    assert not write_private(path, b"other")  # an existing key is never replaced


def test_an_rsa_server_key_signs_rs256(tmp_path: Path, keys: Keys) -> None:
    path = tmp_path / "rsa.pem"
    path.write_bytes(pem(keys.rsa))
    assert server_signing_key(path).alg == "RS256"
    p384 = tmp_path / "p384.pem"
    p384.write_bytes(pem(keys.ec))
    with pytest.raises(BadKey, match="P-256"):
        server_signing_key(p384)


def test_a_client_key_from_pem_or_jwk_has_the_kid_of_its_registered_jwk(
    tmp_path: Path, keys: Keys
) -> None:
    as_pem = tmp_path / "k.pem"
    as_pem.write_bytes(pem(keys.rsa))
    loaded = load_private_key(as_pem)
    assert loaded.alg == "RS384" and loaded.kid == public_jwk(keys.rsa)["kid"]
    as_jwk = tmp_path / "k.json"
    as_jwk.write_text(json.dumps({**to_jwk(keys.ec), "kid": "mine"}))
    loaded = load_private_key(as_jwk)
    assert loaded.alg == "ES384" and loaded.kid == "mine"
    public_only = tmp_path / "pub.json"
    public_only.write_text(json.dumps(public_jwk(keys.ec)))
    with pytest.raises(BadKey, match="no private JWK"):
        load_private_key(public_only)


def test_registered_jwks_are_checked(keys: Keys) -> None:
    jwk = {k: v for k, v in public_jwk(keys.rsa).items() if k != "kid"}
    checked = check_public_jwks({"keys": [jwk]})
    assert checked["keys"][0]["kid"] == public_jwk(keys.rsa)["kid"]
    for bad, why in (
        ({"keys": []}, "at least one key"),
        ({"keys": [public_jwk(keys.rsa), public_jwk(keys.rsa)]}, "share a kid"),
        ({"keys": [to_jwk(keys.ec)]}, "private key"),
        (
            {"keys": [to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key())]},
            "P-384",
        ),
        ({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}, "private key"),
        ({"keys": [{**public_jwk(keys.rsa), "alg": "RS256"}]}, "does not fit"),
    ):
        with pytest.raises(BadKey, match=why):
            check_public_jwks(bad)


def test_security_settings_from_the_environment() -> None:
    s = Settings.from_env(
        {
            "FHIRAUTH_AUTH": "OFF",
            "FHIRAUTH_BASE_URL": "https://payer.example/pas/fhir/",
            "FHIRAUTH_TOKEN_LIFETIME": "120",
            "FHIRAUTH_SIGNING_KEY": "/etc/fhirauth/key.pem",
            "FHIRAUTH_JWKS_ALLOW_LOOPBACK": "yes",
            "FHIRAUTH_JWKS_MAX_BYTES": "32768",
            "FHIRAUTH_JWKS_TIMEOUT": "2.5",
        }
    )
    assert s.auth_mode == "off" and s.token_lifetime == 120 and s.jwks_allow_loopback
    assert s.jwks_max_bytes == 32768 and s.jwks_timeout == 2.5
    defaults = Settings.from_env({})
    assert defaults.jwks_max_bytes == 65536 and defaults.jwks_timeout == 5.0
    assert s.token_endpoint == "https://payer.example/pas/auth/token"
    assert s.signing_key_path == Path("/etc/fhirauth/key.pem")
    assert Settings.from_env({}).auth_mode == "required"
    custom = Settings.from_env({"FHIRAUTH_TOKEN_URL": "https://auth.example/token"})
    assert custom.token_endpoint == "https://auth.example/token"
    for env in (
        {"FHIRAUTH_AUTH": "maybe"},
        {"FHIRAUTH_TOKEN_LIFETIME": "1 hour"},
        {"FHIRAUTH_JWKS_MAX_BYTES": "64k"},
        {"FHIRAUTH_JWKS_MAX_BYTES": "100"},
        {"FHIRAUTH_JWKS_TIMEOUT": "0"},
        {"FHIRAUTH_JWKS_TIMEOUT": "600"},
    ):
        with pytest.raises(ValueError):
            Settings.from_env(env)
