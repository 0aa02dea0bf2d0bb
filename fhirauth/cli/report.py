"""``fhirauth report``: reports for the payer's staff, read from the database directly (as
``fhirauth audit`` is). ``report expiring`` lists active authorizations that end soon;
``report metrics`` computes CMS-0057-F's yearly prior-authorization metrics, and
``report pa-list`` writes the public list of services that need authorization (from the
policies, no database)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TextIO

import click
import orjson

from fhirauth.cli.db import db_options, store
from fhirauth.clock import system_clock
from fhirauth.config import Settings
from fhirauth.decision import report_formats as formats
from fhirauth.decision.metrics import metrics
from fhirauth.operations.reports import expiring, horizon_of, metric_rows
from fhirauth.policy import PolicyError, load_policies
from fhirauth.policy.duration import parse_duration
from fhirauth.policy.pa_list import pa_list


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


_format = click.option(
    "--format",
    "fmt",
    type=click.Choice(formats.FORMATS),
    default="md",
    show_default=True,
    help="Markdown (for a web page), CSV (one row per figure) or JSON.",
)
_output = click.option(
    "--output",
    type=click.File("w", encoding="utf-8"),
    default="-",
    help="Write to this file instead of standard output.",
)


@report.command("metrics")
@click.option(
    "--year",
    type=click.IntRange(2000, 2999),
    required=True,
    help="The calendar year of receipt (UTC), e.g. 2026.",
)
@click.option("--policy", help="Only the requests this policy (plan) decided, by its id.")
@_format
@_output
@db_options
def report_metrics(
    year: int, policy: str | None, fmt: str, output: TextIO, settings: Settings
) -> None:
    """CMS-0057-F's yearly prior-authorization metrics, standard and expedited requests apart:
    the share approved, partially approved, denied, approved after appeal, and extended then
    approved, each with its counts, and the average and median time from receipt to decision;
    requests still undecided listed apart (README "CMS-0057-F metrics")."""
    with store(settings) as sessions, sessions() as session:
        rows = metric_rows(session, year, policy)
    found = metrics(rows, year, system_clock(), policy)
    if fmt == "json":
        text = formats.as_json(found)
    elif fmt == "csv":
        text = formats.metrics_csv(found)
    else:
        text = formats.metrics_md(found)
    click.echo(text, file=output)


@report.command("pa-list")
@click.option(
    "--policies",
    "folders",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Policy folders (default: the configured ones, FHIRAUTH_POLICY_DIRS).",
)
@click.option(
    "--on",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="List the policies in effect on this day (default today).",
)
@_format
@_output
def report_pa_list(
    folders: tuple[Path, ...], day: datetime | None, fmt: str, output: TextIO
) -> None:
    """The public list of items and services that need prior authorization: one row per code,
    range or prefix, with its description, when it applies and the documentation required."""
    on = day.date() if day else system_clock().date()
    try:
        policies = load_policies(list(folders) or list(Settings.from_env().policy_dirs))
    except PolicyError as exc:
        raise click.ClickException(str(exc)) from None
    rows = pa_list(policies, on)
    if fmt == "json":
        text = formats.as_json(rows)
    elif fmt == "csv":
        text = formats.pa_list_csv(rows)
    else:
        text = formats.pa_list_md(rows, on.isoformat())
    click.echo(text, file=output)
