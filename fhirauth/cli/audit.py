"""``fhirauth audit``: the audit trail, read from the database."""

from __future__ import annotations

import click
import orjson

from fhirauth.auth import audit
from fhirauth.cli.db import db_options, store
from fhirauth.config import Settings
from fhirauth.errors import FhirError
from fhirauth.operations.audit_search import parse_when


@click.command("audit")
@click.option("--since", help="Only events at or after this ISO date or date-time (UTC).")
@click.option("--client", "client_id", help="Only this client's requests ('anonymous' too).")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100000))
@click.option("--json", "as_json", is_flag=True, help="Print FHIR AuditEvents as JSON.")
@db_options
def audit_cmd(
    since: str | None, client_id: str | None, limit: int, as_json: bool, settings: Settings
) -> None:
    """The audit trail, newest first (acts on the database directly)."""
    try:
        after = [(parse_when(since)[0], True)] if since else []
    except FhirError:
        raise click.UsageError(f"--since {since!r} is not an ISO date or date-time") from None
    stmt = audit.query(after=after, agents=[client_id] if client_id else [])
    with store(settings) as sessions, sessions() as session:
        rows, _total = audit.search(session, stmt, limit)
        names = audit.client_names(session, rows)
        events = [audit.to_fhir(r, names) for r in rows]
    if as_json:
        click.echo(orjson.dumps(events, option=orjson.OPT_INDENT_2).decode())
        return
    for r in rows:
        line = (
            f"{r.recorded_at.isoformat().replace('+00:00', 'Z')}  {r.agent}  {r.method} "
            f"{r.route or '(no such route)'}  {r.status}"
        )
        if r.entities:
            line += "  " + " ".join(r.entities)
        if r.detail:
            line += f"  ({r.detail})"
        click.echo(line)
    if not rows:
        click.echo("no audit events")
