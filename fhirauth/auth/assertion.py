"""The client assertion of SMART Backend Services (RFC 7523 ``private_key_jwt``), checked fully.

Cheap checks first, on the unverified JWT, before anything is fetched or verified: the header's
``alg`` (RS384 or ES384 only: never ``none`` or an HMAC) and ``kid``; the claims ``iss`` = ``sub``,
``aud`` = our token URL, ``exp`` not past and at most five minutes ahead, ``iat``/``nbf`` not
in the future, and a ``jti``. Then ``iss`` must be a registered, enabled client and the ``jti``
one it never used (kept in the database, so this holds across processes and hosts); only then
is the client's ``jwks_uri`` fetched (fhirauth.auth.jwks) and the signature checked with the
key ``kid`` names.

An unknown client, a disabled one, a JWKS without the ``kid``, a key of the wrong type, a JWKS
that cannot be fetched and a bad signature all get one answer, and each path verifies a
signature (against a dummy key when there is no real one), so the token endpoint does not tell
who is registered. The precise reason goes to the log and the audit trail.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from fhirauth.auth import clients
from fhirauth.auth.jwks import JwksCache, JwksUnavailable, find_key
from fhirauth.auth.keys import BadKey, load_jwk
from fhirauth.config import Settings
from fhirauth.store.models import Client, ClientAssertionUse

log = logging.getLogger("fhirauth.auth")

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("RS384", "ES384")
_KTY = {"RS384": "RSA", "ES384": "EC"}
MAX_LIFETIME = 300  # seconds: exp at most five minutes ahead
LEEWAY = 30  # seconds of clock difference tolerated between the client and us
MAX_ASSERTION_BYTES = 16 * 1024
NOT_AUTHENTICATED = (
    "client_assertion does not authenticate a client: iss must be a registered, enabled "
    "client and the assertion must be signed with the key its header's kid names in that "
    "client's JWKS"
)


class OAuthError(Exception):
    """An RFC 6749 §5.2 error: ``error`` is the code, ``description`` the sentence the caller
    gets; ``detail`` (default: the description) is what the log and the audit trail say."""

    def __init__(
        self,
        error: str,
        description: str,
        *,
        client_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.client_id = client_id  # the registered client the request claimed, if any
        self.detail = detail or description


def _invalid(description: str, client_id: str | None = None) -> OAuthError:
    return OAuthError("invalid_client", description, client_id=client_id)


def _unauthenticated(detail: str, client_id: str | None = None) -> OAuthError:
    """The one answer to everything that would tell a registered client from an unknown one."""
    return OAuthError("invalid_client", NOT_AUTHENTICATED, client_id=client_id, detail=detail)


@dataclass(frozen=True)
class Claimed:
    """What an assertion claims, once the cheap checks pass (nothing is verified yet)."""

    client_id: str
    alg: str
    kid: str
    jti: str
    expires_at: datetime


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def cheap_checks(assertion: str, token_url: str, now: datetime) -> Claimed:
    """Every check that needs no key, no fetch and no database, or OAuthError."""
    if len(assertion) > MAX_ASSERTION_BYTES:
        raise OAuthError("invalid_request", "client_assertion is too long")
    try:
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise _invalid("client_assertion is not a JWT") from None
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise _invalid(f"client_assertion alg {str(alg)[:16]!r} is not allowed: use RS384 or ES384")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 255:
        raise _invalid("client_assertion's header names no kid")
    iss, sub = claims.get("iss"), claims.get("sub")
    if not isinstance(iss, str) or not iss or iss != sub:
        raise _invalid("client_assertion's iss and sub must both be the client id")
    aud = claims.get("aud")
    if not (aud == token_url or (isinstance(aud, list) and token_url in aud)):
        raise _invalid(f"client_assertion's aud must be {token_url}")
    t = now.timestamp()
    exp = claims.get("exp")
    if exp is None:
        raise _invalid("client_assertion has no exp claim")
    if not _number(exp):
        raise _invalid("client_assertion's exp is not a number")
    if exp <= t - LEEWAY:
        raise _invalid("client_assertion has expired")
    if exp > t + MAX_LIFETIME + LEEWAY:
        raise _invalid("client_assertion's exp is more than 5 minutes ahead")
    for name in ("nbf", "iat"):
        value = claims.get(name)
        if value is not None and (not _number(value) or value > t + LEEWAY):
            raise _invalid(f"client_assertion's {name} is in the future")
    jti = claims.get("jti")
    if jti is None:
        raise _invalid("client_assertion has no jti claim")
    if not isinstance(jti, str) or not jti or len(jti) > 255:
        raise _invalid("client_assertion's jti must be a string of 1 to 255 characters")
    return Claimed(iss, alg, kid, jti, datetime.fromtimestamp(exp, UTC))


@functools.cache
def _dummy_key(alg: str) -> Any:
    """A public key nobody holds the private half of, to verify against when there is no real
    key: the answer then takes as long as a real signature check."""
    if alg == "RS384":
        return rsa.generate_private_key(65537, 2048).public_key()
    return ec.generate_private_key(ec.SECP384R1()).public_key()


def prepare() -> None:
    """Make the dummy keys now (at start-up), not during the first refusal."""
    for alg in ALGORITHMS:
        _dummy_key(alg)


def _signature_verifies(assertion: str, key: Any, alg: str) -> bool:
    try:
        jwt.decode(
            assertion,
            key,
            algorithms=[alg],
            options={
                "verify_aud": False,  # the claims were checked already
                "verify_iss": False,
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.InvalidTokenError:
        return False
    return True


def _jti_used(session: Session, client_id: str, jti: str, now: datetime) -> bool:
    if len(client_id) > 64:
        return False
    used = session.get(ClientAssertionUse, (client_id, jti))
    return used is not None and used.expires_at >= now - timedelta(seconds=2 * LEEWAY)


def _usable_key(jwk: dict[str, Any] | None, kid: str, alg: str) -> tuple[Any, str | None]:
    """The key to verify ``alg`` with, or None and why not."""
    if jwk is None:
        return None, f"the client's JWKS has no key with kid {kid[:64]!r}"
    if jwk.get("kty") != _KTY[alg]:
        return None, f"key {kid[:64]!r} is not an {_KTY[alg]} key, as {alg} needs"
    if jwk.get("alg") not in (None, alg):
        return None, f"key {kid[:64]!r} is registered for {jwk.get('alg')}, not {alg}"
    try:
        return load_jwk(jwk), None
    except BadKey as exc:
        return None, f"key {kid[:64]!r} cannot verify {alg}: {exc}"


def verify(
    session: Session,
    assertion: str,
    settings: Settings,
    now: datetime,
    jwks_cache: JwksCache,
) -> tuple[Client, str, datetime]:
    """The client the assertion authenticates, its ``jti`` and its expiry, or OAuthError.

    The ``jti`` is not recorded here: ``remember_jti`` does that, in its own transaction.
    """
    claimed = cheap_checks(assertion, settings.token_endpoint, now)
    alg, kid = claimed.alg, claimed.kid
    client = clients.get(session, claimed.client_id)
    replayed = _jti_used(session, claimed.client_id, claimed.jti, now)  # asked either way
    if client is None or not client.enabled:
        _signature_verifies(assertion, _dummy_key(alg), alg)
        if client is None:
            raise _unauthenticated("client_assertion names no registered client")
        raise _unauthenticated("this client is disabled", client.id)
    if replayed:
        raise _invalid("client_assertion's jti has been used before", client.id)

    try:
        jwk = (
            find_key(client.jwks, kid)
            if client.jwks is not None
            else jwks_cache.key(str(client.jwks_url), kid, settings.jwks_allow_loopback)
        )
        key, why = _usable_key(jwk, kid, alg)
    except JwksUnavailable as exc:
        key, why = None, f"the client's jwks_uri: {exc}"
    verified = _signature_verifies(assertion, key if key is not None else _dummy_key(alg), alg)
    if why or not verified:
        raise _unauthenticated(why or "client_assertion's signature does not verify", client.id)
    return client, claimed.jti, claimed.expires_at


def remember_jti(
    sessions: sessionmaker[Session], client_id: str, jti: str, expires_at: datetime, now: datetime
) -> None:
    """Record a used ``jti`` until its assertion expires; a second use is invalid_client.

    The primary key (client, jti) makes this hold across processes: of two requests with one
    assertion, exactly one insert commits. Expired entries are dropped on the way.
    """
    try:
        with sessions.begin() as session:
            session.execute(
                delete(ClientAssertionUse).where(
                    ClientAssertionUse.expires_at < now - timedelta(seconds=2 * LEEWAY)
                )
            )
            session.add(ClientAssertionUse(client_id=client_id, jti=jti, expires_at=expires_at))
    except IntegrityError:
        raise _invalid("client_assertion's jti has been used before", client_id) from None
