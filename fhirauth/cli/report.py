"""``fhirauth report``: reports for the payer's staff, read from the database directly (as
``fhirauth audit`` is). ``report expiring`` lists active authorizations that end soon."""

from __future__ import annotations

import click
import orjson

from fhirauth.cli.db import db_options, store
from fhirauth.clock import system_clock
from fhirauth.config import Settings
from fhirauth.operations.reports import expiring, horizon_of
from fhirauth.policy.duration import parse_duration


@click.group()
def report() -> None:
    """Reports on the stored authorizations (acts on the database directly)."""


@report.command("expiring")
@click.option(
    "--within",
    default="14d",
    show_default=True,
    help="How far ahead to look: 14d, 2w, 1mo, 1y.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@db_options
def report_expiring(within: str, as_json: bool, settings: Settings) -> None:
    """Active authorizations whose certified period ends within WITHIN, soonest first, with
    the units authorized, used and left."""
    try:
        duration = parse_duration(within)
    except ValueError as exc:
        raise click.UsageError(f"--within: {exc}") from None
    today = system_clock().date()
    horizon = horizon_of(today, (duration.last_day(today) - today).days + 1)
    with store(settings) as sessions, sessions() as session:
        rows = expiring(session, today, horizon)
    if as_json:
        click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    if not rows:
        click.echo(f"no active authorization ends by {horizon}")
        return
    head = ("authorization", "code", "ends", "days left", "used", "authorized", "left", "provider")
    table = [
        (
            str(r["authorizationNumber"]),
            str(r["code"] or "-").rsplit("|", 1)[-1],
            str(r["end"]),
            str(r["daysLeft"]),
            r["used"] or "0",
            r["authorized"] or "-",
            r["remaining"] or "-",
            str(r["provider"] or "-").rsplit("|", 1)[-1],
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in [head, *table]) for i in range(len(head))]
    for row in [head, *table]:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
