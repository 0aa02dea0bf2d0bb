"""fhirauth's access tokens: short-lived JWTs signed with the server's own key.

Claims: ``iss`` the token endpoint, ``aud`` the FHIR base, ``sub`` and ``client_id`` the client,
``scope`` (space-separated), ``orgs`` (the organizations it acts for, ``system|value``),
``senders`` (the X12 interchange sender ids, ISA06, registered to it),
``iat``, ``exp`` and ``jti``. Header ``typ`` is ``at+jwt`` (RFC 9068), so no other JWT of ours
passes for an access token.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt

from fhirauth.auth.keys import SigningKey, server_signing_key
from fhirauth.config import Settings
from fhirauth.principal import Principal

TOKEN_TYPE = "at+jwt"
MAX_TOKEN_BYTES = 8192
LEEWAY = 30  # seconds of clock difference tolerated between hosts


class TokenRejected(Exception):
    """The bearer token is not one of ours, is damaged, or has expired."""

    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.expired = expired


@dataclass(frozen=True)
class AccessToken:
    client_id: str
    scopes: tuple[str, ...]
    organizations: tuple[str, ...]
    expires_at: int
    senders: tuple[str, ...] = ()

    @property
    def principal(self) -> Principal:
        return principal_for(self.client_id, self.organizations, self.senders)


def principal_for(
    client_id: str,
    organizations: tuple[str, ...] | list[str],
    senders: tuple[str, ...] | list[str] = (),
) -> Principal:
    """The principal operations receive for a client."""
    return Principal(client_id, tuple(organizations), anonymous=False, senders=tuple(senders))


_keys: dict[Path, SigningKey] = {}
_keys_lock = threading.Lock()


def signing_key(settings: Settings) -> SigningKey:
    """The server key, loaded (or created on first use) once per process."""
    path = settings.signing_key_path.resolve()
    with _keys_lock:
        if path not in _keys:
            _keys[path] = server_signing_key(path)
        return _keys[path]


def issue(
    settings: Settings,
    client_id: str,
    scopes: list[str],
    organizations: list[str],
    now: datetime,
    senders: list[str] | None = None,
) -> tuple[str, int]:
    """A signed access token and its lifetime in seconds."""
    key = signing_key(settings)
    iat = int(now.timestamp())
    claims = {
        "iss": settings.token_endpoint,
        "aud": settings.base_url,
        "sub": client_id,
        "client_id": client_id,
        "scope": " ".join(scopes),
        "orgs": list(organizations),
        "senders": list(senders or []),
        "iat": iat,
        "exp": iat + settings.token_lifetime,
        "jti": uuid.uuid4().hex,
    }
    token = jwt.encode(
        claims, key.key, algorithm=key.alg, headers={"kid": key.kid, "typ": TOKEN_TYPE}
    )
    return token, settings.token_lifetime


@lru_cache(maxsize=512)
def _signed_claims(settings: Settings, token: str) -> dict[str, Any]:
    """The claims of a token whose signature, ``typ``, ``iss`` and ``aud`` verify, remembered
    per token: a client sends one token with request after request, and checking its
    signature again cost as much as the rest of a read. Times are checked on every use, by
    the caller; a rejection raises, so it is never remembered. Read-only."""
    key = signing_key(settings)
    try:
        header = jwt.get_unverified_header(token)
        if header.get("typ") != TOKEN_TYPE or header.get("alg") != key.alg:
            raise TokenRejected("not an access token issued by this server")
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key.public_key(),
            algorithms=[key.alg],
            audience=settings.base_url,
            issuer=settings.token_endpoint,
            options={
                "verify_exp": False,  # checked below against the injectable clock
                "verify_iat": False,
                "verify_nbf": False,
                "require": ["iss", "aud", "sub", "exp", "iat", "jti", "scope"],
            },
        )
    except jwt.InvalidTokenError as exc:
        raise TokenRejected(f"the token does not verify ({type(exc).__name__})") from None
    return claims


def verify(settings: Settings, token: str, now: datetime) -> AccessToken:
    """The access token's content, or TokenRejected: signature, ``typ``, ``iss``, ``aud``,
    ``exp`` (against ``now``, the injectable clock) and the claims' shapes are all checked."""
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenRejected("the token is too long")
    claims = _signed_claims(settings, token)
    exp, iat, scope = claims["exp"], claims["iat"], claims["scope"]
    orgs, senders = claims.get("orgs", []), claims.get("senders", [])
    if not isinstance(exp, int) or not isinstance(iat, int) or not isinstance(scope, str):
        raise TokenRejected("the token's claims are malformed")
    for names in (orgs, senders):
        if not isinstance(names, list) or not all(isinstance(o, str) for o in names):
            raise TokenRejected("the token's claims are malformed")
    t = now.timestamp()
    if exp <= t - LEEWAY:
        raise TokenRejected("the token has expired", expired=True)
    if iat > t + LEEWAY:
        raise TokenRejected("the token was issued in the future")
    return AccessToken(str(claims["sub"]), tuple(scope.split()), tuple(orgs), exp, tuple(senders))
