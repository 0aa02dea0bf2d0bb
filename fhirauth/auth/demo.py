"""Demo mode (``fhirauth serve --demo``): a client with every scope and a key pair in the data
folder, created once, so the quickstart is one command and still uses real tokens."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.orm import Session, sessionmaker

from fhirauth.auth import clients, staff
from fhirauth.auth.keys import load_private_key, pem, public_jwk, write_private
from fhirauth.auth.scopes import ADMIN_SCOPE
from fhirauth.config import bundled
from fhirauth.fhir.extensions import interchange_sender_ids

log = logging.getLogger("fhirauth.auth")

DEMO_CLIENT_ID = "fhirauth-demo"
DEMO_KEY_FILE = "demo-client-key.pem"
DEMO_REVIEWER = "demo-reviewer"
DEMO_REVIEWER_FILE = "demo-reviewer-password"
DEMO_SCOPES = ("system/*.*", ADMIN_SCOPE)
# A demo organization of its own, plus every provider organization and every sending system
# (ISA06) named in examples/.
DEMO_ORGANIZATION = "http://hl7.org/fhir/sid/us-npi|1234567893"
_NPI = "http://hl7.org/fhir/sid/us-npi"


@dataclass(frozen=True)
class Demo:
    client_id: str
    key_path: Path
    created: bool
    enabled: bool


def _examples(folder: Path | None) -> list[Any]:
    folder = folder or bundled("examples")
    found: list[Any] = []
    if not folder.is_dir():
        return found
    for path in sorted(folder.rglob("*.json")):
        try:
            found.append(orjson.loads(path.read_bytes()))
        except (OSError, orjson.JSONDecodeError):
            continue
    return found


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def example_organizations(folder: Path | None = None) -> list[str]:
    """Every Organization NPI in the example Bundles, so the demo client may send them all."""
    found: list[str] = []
    for node in (n for doc in _examples(folder) for n in _walk(doc)):
        if node.get("resourceType") != "Organization":
            continue
        for ident in node.get("identifier") or []:
            if isinstance(ident, dict) and ident.get("system") == _NPI and ident.get("value"):
                found.append(f"{_NPI}|{ident['value']}")
    return list(dict.fromkeys(found))


def example_sender_ids(folder: Path | None = None) -> list[str]:
    """Every interchangeSenderID (ISA06) in the example Bundles, so the demo client may send
    them all."""
    found = [v for doc in _examples(folder) for n in _walk(doc) for v in interchange_sender_ids(n)]
    return list(dict.fromkeys(found))


def bootstrap(sessions: sessionmaker[Session], data_dir: Path, now: datetime) -> Demo:
    """Create the demo client and its key (once); later starts reuse them, adding any new
    example organizations and sender ids. A missing key file gets a new key pair."""
    key_path = (data_dir / DEMO_KEY_FILE).resolve()
    if not key_path.exists():
        write_private(key_path, pem(ec.generate_private_key(ec.SECP384R1())))
    key = load_private_key(key_path)
    jwks = {"keys": [public_jwk(key.key, key.kid)]}
    organizations = [DEMO_ORGANIZATION, *example_organizations()]
    senders = example_sender_ids()
    with sessions.begin() as session:
        client = clients.get(session, DEMO_CLIENT_ID)
        created = client is None
        if client is None:
            client = clients.add(
                session,
                clients.NewClient(
                    "fhirauth demo client",
                    tuple(organizations),
                    DEMO_SCOPES,
                    jwks=jwks,
                    sender_ids=tuple(senders),
                ),
                now,
                client_id=DEMO_CLIENT_ID,
            )
        else:
            client.jwks, client.jwks_url = jwks, None
            client.organizations = list(dict.fromkeys([*client.organizations, *organizations]))
            client.sender_ids = list(dict.fromkeys([*(client.sender_ids or []), *senders]))
        enabled = client.enabled
    if created:
        log.info("demo client %s created; its key is %s", DEMO_CLIENT_ID, key_path)
    return Demo(DEMO_CLIENT_ID, key_path, created, enabled)


def demo_reviewer(
    sessions: sessionmaker[Session], data_dir: Path, now: datetime
) -> tuple[str, str]:
    """The console's demo reviewer and its password, kept in the data folder (mode 0600) so
    every start prints the same login; created once, and reset when the file is new."""
    path = data_dir / DEMO_REVIEWER_FILE
    fresh = not path.exists()
    if fresh:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(12) + "\n")
    password = path.read_text().strip()
    with sessions.begin() as session:
        if not staff.exists(session, DEMO_REVIEWER):
            staff.add(session, DEMO_REVIEWER, "reviewer", password, now)
            log.info("demo reviewer %s created", DEMO_REVIEWER)
        elif fresh:
            staff.reset(session, DEMO_REVIEWER, password)
    return DEMO_REVIEWER, password
