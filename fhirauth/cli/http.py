"""Calling the server: where it is, the credentials the command line gives, and one way of
telling the user what went wrong (no answer, or an error answer and its issues)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import jwt
import orjson
import requests

from fhirauth.auth.credentials import TokenError, fetch_token
from fhirauth.fhir.response_text import describe_outcome

DEFAULT_URL = "http://127.0.0.1:8080/fhir"
_CREDENTIALS = "fhirauth.credentials"
_FHIR_JSON = "application/fhir+json"

url_option = click.option("--url", default=DEFAULT_URL, show_default=True, envvar="FHIRAUTH_URL")


def auth_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--token``, or ``--client-id`` with ``--key`` (a token is then fetched with
    client_credentials), for commands that call the server."""

    @click.option("--token", envvar="FHIRAUTH_TOKEN", help="An access token (FHIRAUTH_TOKEN).")
    @click.option(
        "--client-id",
        envvar="FHIRAUTH_CLIENT_ID",
        help="Fetch a token as this client (FHIRAUTH_CLIENT_ID), signing with --key.",
    )
    @click.option(
        "--key",
        "key_file",  # not ``key``: trace and review take a KEY argument
        envvar="FHIRAUTH_KEY",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="The client's private key: a JWK or PEM file (FHIRAUTH_KEY).",
    )
    @functools.wraps(command)
    def wrapper(
        *args: Any,
        token: str | None,
        client_id: str | None,
        key_file: Path | None,
        **kwargs: Any,
    ) -> Any:
        if bool(client_id) != bool(key_file):
            raise click.UsageError("--client-id and --key go together")
        click.get_current_context().meta[_CREDENTIALS] = (token, client_id, key_file)
        return command(*args, **kwargs)

    return wrapper


def _credentials() -> tuple[str | None, str | None, Path | None]:
    return click.get_current_context().meta.get(_CREDENTIALS, (None, None, None))


def token_or_exit(url: str, client_id: str, key: Path, scope: str | None = None) -> dict[str, Any]:
    """The token response of the server at ``url`` (a FHIR base); else say why and exit 1."""
    try:
        return fetch_token(url, client_id, key, scope)
    except (TokenError, ValueError) as exc:
        click.echo(f"no access token: {exc}", err=True)
        sys.exit(1)


def _authorization(url: str) -> dict[str, str]:
    """The Authorization header for calls to the server at ``url`` (a FHIR base), if any."""
    token, client_id, key = _credentials()
    if not token and client_id and key:
        token = token_or_exit(url, client_id, key)["access_token"]
        click.get_current_context().meta[_CREDENTIALS] = (token, client_id, key)
    return {"Authorization": f"Bearer {token}"} if token else {}


def caller() -> str | None:
    """The client id of the credentials in use: ``--client-id``, or the ``client_id`` (``sub``)
    of the ``--token`` (read, not verified: the server verifies it). None without credentials."""
    token, client_id, _ = _credentials()
    if client_id:
        return str(client_id)
    if token:
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return None
        found = claims.get("client_id") or claims.get("sub")
        return str(found) if found else None
    return None


class Unreachable(Exception):
    """No answer from the server; the message says which server and why."""


@dataclass(frozen=True)
class Answer:
    """What the server answered: its HTTP status and JSON body."""

    status: int
    ok: bool
    body: Any  # None when the answer is no JSON

    def resource(self, kind: str) -> dict[str, Any] | None:
        """The body when the call succeeded and it is a ``kind`` resource."""
        if self.ok and isinstance(self.body, dict) and self.body.get("resourceType") == kind:
            return self.body
        return None


def call(
    method: str,
    url: str,
    path: str,
    *,
    fhir: bytes | None = None,
    payload: dict[str, Any] | None = None,
    params: dict[str, str] | None = None,
    timeout: float = 30,
) -> Answer:
    """``method`` on ``path`` (under the FHIR base ``url``; ``/admin/…`` beside it) with the
    credentials of the command line; ``fhir`` is a FHIR JSON body, ``payload`` a JSON one.
    Raises Unreachable when no answer comes."""
    base = url.rstrip("/")
    if path.startswith("/admin/"):
        base = base.removesuffix("/fhir")
    headers = {"Accept": _FHIR_JSON if fhir is not None else "application/json"}
    if fhir is not None:
        headers["Content-Type"] = _FHIR_JSON
    try:
        resp = requests.request(
            method,
            base + path,
            data=fhir,
            json=payload,
            params=params,
            headers={**headers, **_authorization(url)},
            timeout=timeout,
        )
    except requests.RequestException as exc:
        raise Unreachable(f"cannot reach {url}: {exc}") from None
    try:
        body = orjson.loads(resp.content)
    except orjson.JSONDecodeError:
        body = None
    return Answer(resp.status_code, resp.ok, body)


def echo_issues(answer: Answer) -> None:
    """Print the issues of an OperationOutcome answer (error answers need not be one)."""
    body = answer.body
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        click.echo(describe_outcome(body))


def call_or_exit(method: str, url: str, path: str, *, status: bool = False, **kw: Any) -> Any:
    """The body of a successful ``call``. Otherwise print why (``HTTP <status>`` and the issues
    of an error answer) and exit 1. ``status``: print the HTTP status of a success too."""
    try:
        answer = call(method, url, path, **kw)
    except Unreachable as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    if status or not answer.ok:
        click.echo(f"HTTP {answer.status}")
    if not answer.ok:
        echo_issues(answer)
        sys.exit(1)
    return answer.body
