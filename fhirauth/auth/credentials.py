"""The client side of SMART Backend Services, for the CLI: sign an assertion with a private key
and trade it for an access token."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import requests

from fhirauth.auth.assertion import ASSERTION_TYPE
from fhirauth.auth.keys import SigningKey, load_private_key

DEFAULT_SCOPE = "system/*.* system/fhirauth.admin"


class TokenError(RuntimeError):
    """No token: the server could not be reached or refused, with its reason."""


def client_assertion(
    key: SigningKey, client_id: str, token_url: str, now: float | None = None, lifetime: int = 240
) -> str:
    """A signed client assertion (RS384 or ES384 by the key's type), good for one use."""
    iat = int(time.time() if now is None else now)
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "iat": iat,
        "exp": iat + lifetime,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key.key, algorithm=key.alg, headers={"kid": key.kid, "typ": "JWT"})


def token_endpoint(fhir_base: str, timeout: float = 30) -> str:
    """The token URL from ``[base]/.well-known/smart-configuration``."""
    url = f"{fhir_base.rstrip('/')}/.well-known/smart-configuration"
    try:
        resp = requests.get(url, headers={"Accept": "application/json"}, timeout=timeout)
    except requests.RequestException as exc:
        raise TokenError(f"cannot reach {url}: {exc}") from None
    try:
        found = resp.json().get("token_endpoint") if resp.ok else None
    except ValueError:
        found = None
    if not isinstance(found, str) or not found:
        raise TokenError(f"{url} answered HTTP {resp.status_code} without a token_endpoint")
    return found


def fetch_token(
    fhir_base: str, client_id: str, key_path: Path, scope: str | None = None, timeout: float = 30
) -> dict[str, Any]:
    """The token response (``access_token``, ``expires_in``, ``scope``...) or TokenError."""
    key = load_private_key(key_path)
    url = token_endpoint(fhir_base, timeout)
    form = {
        "grant_type": "client_credentials",
        "scope": scope or DEFAULT_SCOPE,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion(key, client_id, url),
    }
    try:
        resp = requests.post(
            url, data=form, headers={"Accept": "application/json"}, timeout=timeout
        )
    except requests.RequestException as exc:
        raise TokenError(f"cannot reach {url}: {exc}") from None
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not resp.ok or not isinstance(body, dict) or "access_token" not in body:
        if isinstance(body, dict) and "error" in body:
            raise TokenError(f"{body['error']}: {body.get('error_description', '')}".strip())
        raise TokenError(f"the token endpoint answered HTTP {resp.status_code}")
    return body
