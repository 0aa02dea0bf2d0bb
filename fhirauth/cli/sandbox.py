"""``fhirauth sandbox``: script the outcomes of a sandbox server, through its admin API."""

from __future__ import annotations

from typing import Any

import click

from fhirauth.cli.http import auth_options, call_or_exit, caller, url_option


@click.group("sandbox")
def sandbox_group() -> None:
    """Sandbox mode (FHIRAUTH_SANDBOX=1): script the outcome of the next submissions."""


@sandbox_group.command("next")
@auth_options
@click.argument("outcome", type=click.Choice(["A1", "A2", "A3", "A4", "A6", "NA", "CT", "error"]))
@click.option("--count", default=1, show_default=True, type=click.IntRange(1, 100))
@click.option(
    "--principal",
    help="Whose submissions: a client id (default: the client whose credentials are in use, "
    "or the anonymous caller without credentials).",
)
@url_option
def sandbox_next(outcome: str, count: int, principal: str | None, url: str) -> None:
    """Answer OUTCOME to the next COUNT submissions, whatever they contain."""
    payload: dict[str, Any] = {"outcome": outcome, "count": count}
    principal = principal or caller()
    if principal:
        payload["principal"] = principal
    body = call_or_exit("POST", url, "/admin/sandbox/scripts", payload=payload)
    click.echo("pending: " + (", ".join(s["outcome"] for s in body["pending"]) or "none"))


@sandbox_group.command("clear")
@auth_options
@click.option("--principal", help="Whose scripts (default: as for `sandbox next`).")
@url_option
def sandbox_clear(principal: str | None, url: str) -> None:
    """Drop scripted outcomes not used yet."""
    principal = principal or caller()
    params = {"principal": principal} if principal else {}
    call_or_exit("DELETE", url, "/admin/sandbox/scripts", params=params)
    click.echo("pending: none")
