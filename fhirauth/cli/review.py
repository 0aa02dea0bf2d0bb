"""``fhirauth review`` (the reviewer queue) and ``fhirauth trace``: stored authorizations,
through the server's admin API."""

from __future__ import annotations

from typing import Any

import click
import orjson

from fhirauth.cli.http import auth_options, call_or_exit, url_option
from fhirauth.fhir.response_text import describe_response, trace_text

_SHOWN_WARNINGS = 10


@click.command()
@auth_options
@click.argument("key")
@url_option
@click.option("--json", "as_json", is_flag=True)
def trace(key: str, url: str, as_json: bool) -> None:
    """Print the decision trace of a stored authorization (its id or preAuthRef)."""
    body = call_or_exit("GET", url, f"/admin/authorizations/{key}/trace")
    if as_json:
        click.echo(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
        return
    if body.get("preAuthRef"):
        click.echo(f"authorization {body['preAuthRef']} ({body['id']})")
    else:  # a refused request is no authorization: it has no number (issue 11)
        click.echo(f"refused request ({body['id']}), no authorization number")
    for e in body["events"]:
        item = f"item {e['item']}" if e["item"] is not None else "request"
        click.echo(f"  {e['at']} {item}: {e['action']} by {e['actor']}")
        if e.get("trace"):
            click.echo(trace_text(e["trace"], indent="    "))


@click.group()
def review() -> None:
    """The reviewer queue: pended authorizations under CMS clocks (72 h expedited, 7 days)."""


def _queue_lines(body: dict[str, Any]) -> list[str]:
    lines = []
    for case in body["pended"]:
        flags = ["EXPEDITED" if case["expedited"] else "standard", case["urgency"]]
        if case.get("appeal"):
            flags.append(f"APPEAL (certificationType {case['appeal']['certificationType']})")
        if case.get("documentationReceivedAt"):
            flags.append("documentation received")
        lines.append(
            f"{case['preAuthRef']}  {case['id']}  due {case['dueAt'][:16]} "
            f"({case['hoursLeft']:+.1f} h)  items {case['pendingItems']}  "
            f"{', '.join(flags)}"
        )
    for case in body["undelivered"]:
        lines.append(
            f"{case['preAuthRef']}  {case['id']}  decided {case['decidedAt'][:16]}, "
            "not delivered yet"
        )
    return lines or ["nothing pended"]


def _print_queue(url: str, path: str, as_json: bool) -> None:
    body = call_or_exit("GET", url, f"/admin/review/{path}")
    if as_json:
        click.echo(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo("\n".join(_queue_lines(body)))


@review.command("list")
@auth_options
@url_option
@click.option("--json", "as_json", is_flag=True)
def review_list(url: str, as_json: bool) -> None:
    """Pended authorizations, soonest due first, then decisions not yet delivered."""
    _print_queue(url, "queue", as_json)


@review.command("overdue")
@auth_options
@url_option
@click.option("--json", "as_json", is_flag=True)
def review_overdue(url: str, as_json: bool) -> None:
    """What is late, or has less than a quarter of its CMS window left."""
    _print_queue(url, "queue?overdue=1", as_json)


@review.command("show")
@auth_options
@click.argument("key")
@url_option
def review_show(key: str, url: str) -> None:
    """One authorization (id or preAuthRef): its clock, items, recommendations, documents."""
    case = call_or_exit("GET", url, f"/admin/review/{key}")
    click.echo(
        f"{case['preAuthRef']} ({case['id']}): {case['status']}, "
        f"{'expedited' if case['expedited'] else 'standard'}, due {case['dueAt'][:16]} "
        f"({case['urgency']})"
    )
    appeal = case.get("appeal")
    if appeal:
        denied = ", ".join(
            f"item {i['sequence']} (denied by {', '.join(i['deniedBy']) or 'nobody recorded'})"
            for i in appeal["items"]
        )
        click.echo(f"  appeal {appeal['id']} received {appeal['receivedAt'][:16]}: {denied}")
    if case.get("reviewExtendedAt"):
        click.echo(f"  review time extended on {case['reviewExtendedAt'][:16]}")
    for item in case["items"]:
        line = f"  item {item['sequence']}: {item['reviewAction']}  {item['code']}"
        if item.get("recommendation"):
            line += f"  recommended {item['recommendation']}"
        click.echo(line)
        if item.get("why"):
            click.echo(f"      why: {item['why']}")
        for doc in item.get("requestedDocuments") or []:
            click.echo(f"      waiting for: {doc['description']}")
    warnings = case.get("warnings") or []
    if warnings:
        click.echo(f"  request warnings ({len(warnings)}, the request was decided all the same):")
        for w in warnings[:_SHOWN_WARNINGS]:
            where = ", ".join(w.get("expression") or []) or "Bundle"
            click.echo(f"    {where}: {w['diagnostics']}")
        if len(warnings) > _SHOWN_WARNINGS:
            click.echo(f"    … {len(warnings) - _SHOWN_WARNINGS} more: GET /admin/review/{key}")


@review.command("decide")
@auth_options
@click.argument("key")
@click.option("--item", "sequence", required=True, type=int)
@click.option(
    "--approve", "action", flag_value="approve", help="Certify (A1; A2 with a smaller --quantity)."
)
@click.option("--modify", "action", flag_value="modify", help="Certify a modified version (A6).")
@click.option("--deny", "deny_code", metavar="X12_886_CODE", help="Deny with this reason code.")
@click.option(
    "--request-info",
    "documents",
    multiple=True,
    metavar="LOINC",
    help="Ask for documentation (repeat for several LOINC codes).",
)
@click.option("--period-days", type=int)
@click.option("--quantity", type=float)
@click.option("--reason", help="The sentence the clinician reads (required with --deny).")
@click.option("--npi", envvar="FHIRAUTH_REVIEWER_NPI", help="Your NPI (reviewerNPI).")
@url_option
def review_decide(
    key: str,
    sequence: int,
    action: str | None,
    deny_code: str | None,
    documents: tuple[str, ...],
    period_days: int | None,
    quantity: float | None,
    reason: str | None,
    npi: str | None,
    url: str,
) -> None:
    """Decide one pended item (A4); prints the new ClaimResponse version. The reviewer is the
    client the credentials name; a final item must be reopened first (review reopen)."""
    chosen = [
        a
        for a in (action, "deny" if deny_code else None, "request-info" if documents else None)
        if a
    ]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --approve, --modify, --deny, --request-info")
    payload: dict[str, Any] = {"item": sequence, "action": chosen[0]}
    if npi:
        payload["reviewer"] = {"npi": npi}
    for k, v in (
        ("period_days", period_days),
        ("quantity", quantity),
        ("reason", reason),
        ("reason_code", deny_code),
    ):
        if v is not None:
            payload[k] = v
    if documents:
        payload["documents"] = list(documents)
    _review_post(url, f"{key}/decisions", payload)


@review.command("reopen")
@auth_options
@click.argument("key")
@click.option("--item", "sequence", required=True, type=int)
@click.option("--reason", required=True, help="Why the final decision is reopened (audited).")
@click.option("--npi", envvar="FHIRAUTH_REVIEWER_NPI", help="Your NPI (reviewerNPI).")
@url_option
def review_reopen(key: str, sequence: int, reason: str, npi: str | None, url: str) -> None:
    """Put a final item back to pended (A4) so that it can be decided again; prints the new
    ClaimResponse version, which the provider is notified of."""
    payload: dict[str, Any] = {"item": sequence, "reason": reason}
    if npi:
        payload["reviewer"] = {"npi": npi}
    _review_post(url, f"{key}/reopen", payload)


@review.command("extend")
@auth_options
@click.argument("key")
@click.option(
    "--days",
    required=True,
    type=click.IntRange(1, 14),
    help="How many days more (at most 14 in all past the CMS window).",
)
@click.option("--reason", required=True, help="Why the review takes longer (audited).")
@url_option
def review_extend(key: str, days: int, reason: str, url: str) -> None:
    """Extend the time for reviewing a pended request (or its open appeal): its CMS due time,
    not what was authorized (that is certificationType 4). Prints the new due time."""
    case = call_or_exit(
        "POST",
        url,
        f"/admin/review/{key}/extend",
        payload={"days": days, "reason": reason},
        timeout=60,
    )
    what = "appeal" if case.get("appeal") else "request"
    click.echo(f"{case['preAuthRef']}: {what} due {case['dueAt'][:16]} ({case['urgency']})")


def _review_post(url: str, path: str, payload: dict[str, Any]) -> None:
    """POST to /admin/review/<path>; print the status and the new version, or the issues."""
    body = call_or_exit(
        "POST", url, f"/admin/review/{path}", payload=payload, status=True, timeout=60
    )
    click.echo(describe_response(body))
