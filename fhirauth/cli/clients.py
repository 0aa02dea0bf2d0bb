"""``fhirauth token`` and ``fhirauth clients``: SMART Backend Services clients."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import orjson
from cryptography.hazmat.primitives import serialization

from fhirauth.auth import clients as registry
from fhirauth.auth.keys import public_jwk
from fhirauth.cli.db import db_options, store
from fhirauth.cli.http import token_or_exit, url_option
from fhirauth.clock import system_clock
from fhirauth.config import Settings


@click.command()
@url_option
@click.option("--client-id", required=True, envvar="FHIRAUTH_CLIENT_ID")
@click.option(
    "--key",
    required=True,
    envvar="FHIRAUTH_KEY",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The client's private key: a JWK or PEM file.",
)
@click.option(
    "--scope",
    "scope",
    multiple=True,
    help="Scopes to ask for (repeatable; default every scope the client has).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole token response.")
def token(url: str, client_id: str, key: Path, scope: tuple[str, ...], as_json: bool) -> None:
    """Get an access token with client_credentials and a signed assertion; print it."""
    answer = token_or_exit(url, client_id, key, " ".join(scope) or None)
    if as_json:
        click.echo(orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(answer["access_token"])


@click.group()
def clients() -> None:
    """SMART Backend Services clients (acts on the database directly)."""


def _read_jwks(path: Path) -> dict[str, Any]:
    """A JWKS from a file holding a JWKS, one public JWK, or a PEM public key."""
    raw = path.read_bytes()
    if raw.lstrip().startswith(b"{"):
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise click.UsageError(f"{path} is not valid JSON") from None
        return doc if isinstance(doc, dict) and "keys" in doc else {"keys": [doc]}
    if b"PRIVATE KEY" in raw:
        raise click.UsageError(
            f"{path} is a private key: register the public key only, keep the private one"
        )
    try:
        key = serialization.load_pem_public_key(raw)
        return {"keys": [public_jwk(key)]}  # type: ignore[arg-type]
    except ValueError as exc:
        raise click.UsageError(f"{path} is not a JWKS, a JWK or a PEM public key: {exc}") from None


@clients.command("add")
@click.option("--name", required=True, help="Who the client is, e.g. 'Riverbend Clinic EHR'.")
@click.option(
    "--jwks",
    "jwks_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The client's public keys: a JWKS, one JWK, or a PEM public key.",
)
@click.option("--jwks-url", help="Where the client publishes its JWKS (https).")
@click.option(
    "--org-identifier",
    "organizations",
    multiple=True,
    required=True,
    metavar="SYSTEM|VALUE",
    help="An organization the client acts for (repeatable).",
)
@click.option(
    "--sender-id",
    "sender_ids",
    multiple=True,
    metavar="ID",
    help="An X12 interchange sender id (ISA06, interchangeSenderID) it sends as (repeatable).",
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help="A scope it may be granted (repeatable, or several in one quoted value).",
)
@db_options
def clients_add(
    name: str,
    jwks_file: Path | None,
    jwks_url: str | None,
    organizations: tuple[str, ...],
    sender_ids: tuple[str, ...],
    scopes: tuple[str, ...],
    settings: Settings,
) -> None:
    """Register a client; prints its new client id."""
    jwks = _read_jwks(jwks_file) if jwks_file else None
    new = registry.NewClient(
        name, organizations, scopes, jwks=jwks, jwks_url=jwks_url, sender_ids=sender_ids
    )
    try:
        with store(settings) as sessions, sessions.begin() as session:
            client = registry.add(session, new, system_clock())
            client_id = client.id
    except registry.ClientError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(client_id)


@clients.command("list")
@click.option("--json", "as_json", is_flag=True)
@db_options
def clients_list(as_json: bool, settings: Settings) -> None:
    """Every client: id, state, name, organizations, scopes, where its keys are."""
    with store(settings) as sessions, sessions() as session:
        rows = [
            {
                "id": c.id,
                "name": c.name,
                "enabled": c.enabled,
                "organizations": c.organizations,
                "sender_ids": c.sender_ids or [],
                "scopes": c.scopes,
                "keys": c.jwks_url or f"{len((c.jwks or {}).get('keys', []))} inline",
                "created": c.created_at.isoformat(),
            }
            for c in registry.all_clients(session)
        ]
    if as_json:
        click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    for c in rows:
        state = "enabled" if c["enabled"] else "DISABLED"
        click.echo(f"{c['id']}  {state}  {c['name']}")
        click.echo(f"    organizations: {', '.join(c['organizations'])}")
        click.echo(f"    sender ids: {', '.join(c['sender_ids']) or '(none)'}")
        click.echo(f"    scopes: {' '.join(c['scopes'])}")
        click.echo(f"    keys: {c['keys']}")
    if not rows:
        click.echo("no clients")


def _set_enabled(client_id: str, enabled: bool, settings: Settings) -> None:
    try:
        with store(settings) as sessions, sessions.begin() as session:
            registry.set_enabled(session, client_id, enabled, system_clock())
    except registry.ClientError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(f"{client_id} {'enabled' if enabled else 'disabled'}")


@clients.command("update")
@click.argument("client_id")
@click.option("--add-sender-id", "add", multiple=True, metavar="ID", help="Register a sender id.")
@click.option("--remove-sender-id", "remove", multiple=True, metavar="ID", help="Take one away.")
@db_options
def clients_update(
    client_id: str, add: tuple[str, ...], remove: tuple[str, ...], settings: Settings
) -> None:
    """Change the X12 interchange sender ids registered to a client; prints them."""
    if not add and not remove:
        raise click.UsageError("give --add-sender-id or --remove-sender-id")
    try:
        with store(settings) as sessions, sessions.begin() as session:
            senders = list(registry.change_sender_ids(session, client_id, add, remove).sender_ids)
    except registry.ClientError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(f"{client_id} sender ids: {', '.join(senders) or '(none)'}")


@clients.command("disable")
@click.argument("client_id")
@db_options
def clients_disable(client_id: str, settings: Settings) -> None:
    """Refuse the client's tokens and token requests from now on."""
    _set_enabled(client_id, False, settings)


@clients.command("enable")
@click.argument("client_id")
@db_options
def clients_enable(client_id: str, settings: Settings) -> None:
    """Accept a disabled client again."""
    _set_enabled(client_id, True, settings)
