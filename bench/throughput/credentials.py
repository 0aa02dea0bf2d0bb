"""A registered client and its SMART token, for the configurations with authentication on."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fhirauth.access import requestor_keys, sender_ids
from fhirauth.auth.credentials import fetch_token
from fhirauth.fhir.bundle import parse_request

from .databases import Database
from .servers import FHIRAUTH, ROOT, Server, server_env

SCOPES = "system/Claim.write system/Claim.read system/ClaimResponse.read"


@dataclass(frozen=True)
class Credentials:
    client_id: str
    key_path: Path


def register_client(db: Database, bodies: list[bytes]) -> Credentials:
    """A client with a fresh P-384 key, registered with the CLI for the organizations and
    sender ids the benchmark's bundles carry (what $submit and $inquire check)."""
    key = ec.generate_private_key(ec.SECP384R1())
    key_path, public_path = db.data_dir / "bench-key.pem", db.data_dir / "bench-public.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    orgs: dict[str, None] = {}
    senders: dict[str, None] = {}
    for body in bodies:
        req = parse_request(body)
        orgs.update(dict.fromkeys(sorted(requestor_keys(req))))
        senders.update(dict.fromkeys(sender_ids(req)))
    cmd = [str(FHIRAUTH), "clients", "add", "--name", "bench/submit.py", "--jwks", str(public_path)]
    cmd += [arg for org in orgs for arg in ("--org-identifier", org)]
    cmd += [arg for sender in senders for arg in ("--sender-id", sender)]
    cmd += ["--scope", SCOPES, "--data-dir", str(db.data_dir)]
    cmd += ["--database-url", db.url] if db.url else []
    done = subprocess.run(cmd, env=server_env(), cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"fhirauth clients add failed: {done.stderr.strip()}")
    return Credentials(done.stdout.strip().splitlines()[-1], key_path)


def bearer(server: Server, creds: Credentials) -> dict[str, str]:
    """One token through the real token endpoint (discovery, signed assertion, POST)."""
    answer = fetch_token(f"{server.base}/fhir", creds.client_id, creds.key_path, scope=SCOPES)
    return {"Authorization": f"Bearer {answer['access_token']}"}
