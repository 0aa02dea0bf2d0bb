"""The client assertion of SMART Backend Services (RFC 7523 ``private_key_jwt``), checked fully.

The JWT's header names ``alg`` (RS384 or ES384 only: never ``none`` or an HMAC) and ``kid``;
its claims ``iss`` = ``sub`` = a registered, enabled client id, ``aud`` = our token URL,
``exp`` not past and at most five minutes ahead, and a ``jti`` never used before by that client
within the assertion's lifetime (kept in the database, so it holds across processes and
hosts). The signature is checked with the key named by ``kid`` in the client's JWKS: the one
registered inline, or the one its ``jwks_uri`` serves (fetched through fhirauth.outbound).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import orjson
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from fhirauth.auth import clients
from fhirauth.auth.keys import BadKey, load_jwk, thumbprint
from fhirauth.config import Settings
from fhirauth.store.models import Client, ClientAssertionUse

log = logging.getLogger("fhirauth.auth")

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("RS384", "ES384")
_KTY = {"RS384": "RSA", "ES384": "EC"}
MAX_LIFETIME = 300  # seconds: exp at most five minutes ahead
LEEWAY = 30  # seconds of clock difference tolerated between the client and us
MAX_ASSERTION_BYTES = 16 * 1024
MAX_JWKS_BYTES = 64 * 1024
JWKS_TTL = 300.0  # seconds a fetched JWKS is reused
JWKS_REFRESH = 10.0  # an unknown kid refetches a JWKS older than this
JWKS_TIMEOUT = 5.0


class OAuthError(Exception):
    """An RFC 6749 §5.2 error: ``error`` is the code, ``description`` the sentence."""

    def __init__(self, error: str, description: str, *, client_id: str | None = None) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.client_id = client_id  # the registered client the request claimed, if any


def _invalid(description: str, client_id: str | None = None) -> OAuthError:
    return OAuthError("invalid_client", description, client_id=client_id)


class JwksCache:
    """Clients' ``jwks_uri`` documents, fetched with the SSRF-safe client and kept a while."""

    def __init__(self, fetch: Callable[[str, bool], bytes] | None = None) -> None:
        self._fetch = fetch or _guarded_fetch
        self._docs: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def keys(self, url: str, kid: str, allow_loopback: bool) -> dict[str, Any] | None:
        """The JWK named ``kid`` at ``url``: cached, refetched when old or when ``kid`` is new."""
        with self._lock:
            cached = self._docs.get(url)
        age = time.monotonic() - cached[0] if cached else None
        if cached and age is not None and age < JWKS_TTL:
            found = find_key(cached[1], kid)
            if found is not None or age < JWKS_REFRESH:
                return found
        raw = self._fetch(url, allow_loopback)
        if len(raw) > MAX_JWKS_BYTES:
            raise _invalid("the client's jwks_uri answered a document too large to be a JWKS")
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise _invalid("the client's jwks_uri did not answer JSON") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
            raise _invalid("the client's jwks_uri did not answer a JWKS")
        with self._lock:
            self._docs[url] = (time.monotonic(), doc)
        return find_key(doc, kid)


def _guarded_fetch(url: str, allow_loopback: bool) -> bytes:
    import requests

    from fhirauth.outbound import guarded_get

    try:
        resp = guarded_get(url, allow_loopback=allow_loopback, timeout=JWKS_TIMEOUT)
    except requests.RequestException as exc:
        log.warning("jwks_uri fetch failed: %s", type(exc).__name__)
        raise _invalid("the client's jwks_uri could not be fetched") from None
    if resp.status_code != 200:
        raise _invalid(f"the client's jwks_uri answered HTTP {resp.status_code}")
    declared = resp.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > MAX_JWKS_BYTES:
        raise _invalid("the client's jwks_uri answered a document too large to be a JWKS")
    return resp.content


def find_key(jwks: dict[str, Any], kid: str) -> dict[str, Any] | None:
    """The key whose ``kid`` is ``kid`` (a key without one is named by its thumbprint)."""
    for jwk in jwks.get("keys") or []:
        if not isinstance(jwk, dict):
            continue
        name = jwk.get("kid")
        if name is None:
            try:
                name = thumbprint(jwk)
            except BadKey:
                continue
        if name == kid:
            return jwk
    return None


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
    if len(assertion) > MAX_ASSERTION_BYTES:
        raise OAuthError("invalid_request", "client_assertion is too long")
    try:
        header = jwt.get_unverified_header(assertion)
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise _invalid("client_assertion is not a JWT") from None
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise _invalid(f"client_assertion alg {str(alg)[:16]!r} is not allowed: use RS384 or ES384")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 255:
        raise _invalid("client_assertion's header names no kid")
    iss, sub = unverified.get("iss"), unverified.get("sub")
    if not isinstance(iss, str) or not iss or iss != sub:
        raise _invalid("client_assertion's iss and sub must both be the client id")
    client = clients.get(session, iss)
    if client is None:
        raise _invalid("client_assertion names no registered client")
    if not client.enabled:
        raise _invalid("this client is disabled", client.id)

    if client.jwks is not None:
        jwk = find_key(client.jwks, kid)
    else:
        assert client.jwks_url is not None
        try:
            jwk = jwks_cache.keys(client.jwks_url, kid, settings.jwks_allow_loopback)
        except OAuthError as exc:
            exc.client_id = client.id
            raise
    if jwk is None:
        raise _invalid(f"the client's JWKS has no key with kid {kid[:64]!r}", client.id)
    if jwk.get("kty") != _KTY[alg]:
        raise _invalid(f"key {kid[:64]!r} is not an {_KTY[alg]} key, as {alg} needs", client.id)
    if jwk.get("alg") not in (None, alg):
        raise _invalid(f"key {kid[:64]!r} is registered for {jwk.get('alg')}, not {alg}", client.id)
    try:
        key = load_jwk(jwk)
    except BadKey as exc:
        raise _invalid(f"key {kid[:64]!r} cannot verify {alg}: {exc}", client.id) from None
    try:
        claims = jwt.decode(
            assertion,
            key,
            algorithms=[alg],
            audience=settings.token_endpoint,
            issuer=client.id,
            options={
                "verify_exp": False,  # checked below against the injectable clock
                "verify_iat": False,
                "verify_nbf": False,
                "require": ["iss", "sub", "aud", "exp", "jti"],
            },
        )
    except jwt.InvalidAudienceError:
        raise _invalid(
            f"client_assertion's aud must be {settings.token_endpoint}", client.id
        ) from None
    except jwt.MissingRequiredClaimError as exc:
        raise _invalid(f"client_assertion has no {exc.claim} claim", client.id) from None
    except jwt.InvalidSignatureError:
        raise _invalid("client_assertion's signature does not verify", client.id) from None
    except jwt.InvalidTokenError as exc:
        raise _invalid(
            f"client_assertion does not verify ({type(exc).__name__})", client.id
        ) from None

    t = now.timestamp()
    exp = claims["exp"]
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise _invalid("client_assertion's exp is not a number", client.id)
    if exp <= t - LEEWAY:
        raise _invalid("client_assertion has expired", client.id)
    if exp > t + MAX_LIFETIME + LEEWAY:
        raise _invalid("client_assertion's exp is more than 5 minutes ahead", client.id)
    for name in ("nbf", "iat"):
        value = claims.get(name)
        if value is not None and (not isinstance(value, int | float) or value > t + LEEWAY):
            raise _invalid(f"client_assertion's {name} is in the future", client.id)
    jti = claims["jti"]
    if not isinstance(jti, str) or not jti or len(jti) > 255:
        raise _invalid("client_assertion's jti must be a string of 1 to 255 characters", client.id)
    return client, jti, datetime.fromtimestamp(exp, UTC)


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
