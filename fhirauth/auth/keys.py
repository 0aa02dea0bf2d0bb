"""Keys: clients' JWKS, a client's private key (for the CLI), and fhirauth's own signing key.

A key without a ``kid`` is named by its RFC 7638 JWK thumbprint, so a PEM file and the JWKS
registered from it agree on the ``kid`` without anyone choosing one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

# The members that identify a public key (RFC 7638 §3.2); "d" and friends are private.
_REQUIRED = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}
_PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


class BadKey(ValueError):
    """A key or key set that cannot be used, with a sentence saying why."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a (public or private) RSA or EC JWK."""
    names = _REQUIRED.get(jwk.get("kty", ""))
    if names is None or any(not isinstance(jwk.get(n), str) for n in names):
        raise BadKey("a JWK must be an RSA (n, e) or EC (crv, x, y) key")
    canonical = json.dumps({n: jwk[n] for n in names}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


def to_jwk(key: PrivateKey | PublicKey) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return RSAAlgorithm.to_jwk(key, as_dict=True)
    return ECAlgorithm.to_jwk(key, as_dict=True)


def client_algorithm(key: PrivateKey | PublicKey) -> str:
    """The SMART Backend Services algorithm for a client key: RS384 or ES384 (P-384 only)."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise BadKey("RSA keys must be at least 2048 bits")
        return "RS384"
    if isinstance(key.curve, ec.SECP384R1):
        return "ES384"
    raise BadKey(f"EC keys must be on P-384 for ES384, not {key.curve.name}")


def public_jwk(key: PrivateKey | PublicKey, kid: str | None = None) -> dict[str, Any]:
    """The public half of ``key`` as a JWK with ``kid``, ``alg`` and ``use``."""
    public = (
        key.public_key() if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) else key
    )
    jwk = {k: v for k, v in to_jwk(public).items() if k not in _PRIVATE_MEMBERS}
    jwk["kid"] = kid or thumbprint(jwk)
    jwk["alg"] = client_algorithm(public)
    jwk["use"] = "sig"
    return jwk


def check_public_jwks(jwks: Any) -> dict[str, Any]:
    """A client's JWKS as registered: public RSA/EC keys usable with RS384/ES384, each with a
    ``kid`` (its thumbprint when it had none). Raises BadKey on anything else."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise BadKey('a JWKS is a JSON object {"keys": [...]} with at least one key')
    keys = []
    for n, jwk in enumerate(jwks["keys"]):
        if not isinstance(jwk, dict):
            raise BadKey(f"key {n} is not a JSON object")
        if _PRIVATE_MEMBERS & jwk.keys():
            raise BadKey(
                f"key {n} is a private key: register only the public key, and keep the "
                "private one with the client"
            )
        try:
            public = load_jwk(jwk)
        except BadKey as exc:
            raise BadKey(f"key {n}: {exc}") from None
        kid = jwk.get("kid") or thumbprint(jwk)
        if not isinstance(kid, str):
            raise BadKey(f"key {n}: kid must be a string")
        keys.append({**jwk, "kid": kid, "alg": jwk.get("alg") or client_algorithm(public)})
    kids = [k["kid"] for k in keys]
    if len(set(kids)) != len(kids):
        raise BadKey("two keys share a kid")
    return {"keys": keys}


def load_jwk(jwk: dict[str, Any]) -> PrivateKey | PublicKey:
    """A cryptography key from a JWK, checked to be usable for RS384 or ES384."""
    try:
        if jwk.get("kty") == "RSA":
            key = RSAAlgorithm.from_jwk(jwk)
        elif jwk.get("kty") == "EC":
            key = ECAlgorithm.from_jwk(jwk)
        else:
            raise BadKey(f"kty {jwk.get('kty')!r} is not RSA or EC")
    except BadKey:
        raise
    except Exception as exc:  # PyJWT raises InvalidKeyError, ValueError, KeyError...
        raise BadKey(f"not a usable JWK ({type(exc).__name__})") from None
    alg = client_algorithm(key)
    if jwk.get("alg") not in (None, alg):
        raise BadKey(f"alg {jwk.get('alg')!r} does not fit this key (use {alg})")
    return key


@dataclass(frozen=True)
class SigningKey:
    key: PrivateKey
    kid: str
    alg: str


def load_private_key(path: Path) -> SigningKey:
    """A client's private key from a JWK (JSON, with ``d``) or PEM file: for RS384/ES384."""
    raw = path.read_bytes()
    if raw.lstrip().startswith(b"{"):
        try:
            jwk = json.loads(raw)
        except ValueError:
            raise BadKey(f"{path} is not valid JSON") from None
        if isinstance(jwk, dict) and isinstance(jwk.get("keys"), list) and len(jwk["keys"]) == 1:
            jwk = jwk["keys"][0]  # a JWKS of one private key
        if not isinstance(jwk, dict) or "d" not in jwk:
            raise BadKey(f"{path} holds no private JWK (no 'd')")
        key = load_jwk(jwk)
        kid = jwk.get("kid") or thumbprint(jwk)
    else:
        try:
            key = serialization.load_pem_private_key(raw, password=None)
        except (ValueError, TypeError):
            raise BadKey(f"{path} is not an unencrypted PEM private key or a JWK") from None
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise BadKey(f"{path} is not an RSA or EC key")
        kid = thumbprint(to_jwk(key.public_key()))
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    return SigningKey(key, kid, client_algorithm(key))


def pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_private(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` readable by the owner only, unless the file exists.

    Written to a temporary file and linked into place, so that of several processes starting
    at once exactly one wins and the others read its key. Returns whether this call wrote it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".key-")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(tmp)


def server_signing_key(path: Path) -> SigningKey:
    """fhirauth's access-token key: loaded from ``path``, or an ES256 key created there.

    An RSA key in the file signs RS256, a P-256 key ES256.
    """
    if not path.exists():
        write_private(path, pem(ec.generate_private_key(ec.SECP256R1())))
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError):
        raise BadKey(f"{path} is not an unencrypted PEM private key") from None
    if isinstance(key, rsa.RSAPrivateKey):
        alg = "RS256"
    elif isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        alg = "ES256"
    else:
        raise BadKey(f"{path}: the signing key must be RSA or EC P-256")
    return SigningKey(key, thumbprint(to_jwk(key.public_key())), alg)
