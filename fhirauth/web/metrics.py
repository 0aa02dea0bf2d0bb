"""Metrics and lists: CMS-0057-F's yearly prior-authorization metrics and the public list of
services that need authorization, as ``fhirauth report metrics`` and ``report pa-list`` compute
and write them (``operations/reports.py``, ``decision/metrics.py``, ``policy/pa_list.py``,
``decision/report_formats.py``); each downloadable as the same CSV the command prints. Reviewers
and administrators alike may read them: the figures hold no PHI."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask import Response, request

from fhirauth.decision import report_formats as formats
from fhirauth.decision.metrics import metrics
from fhirauth.operations.reports import metric_rows
from fhirauth.policy.pa_list import pa_list
from fhirauth.web.blueprint import CASE_URL, bp, page, services

FIRST_YEAR, LAST_YEAR = 2000, 2999  # as ``report metrics --year`` accepts
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")  # a policy id is the payer's: kept out of the header


class Refused(ValueError):
    """A query parameter the page cannot use; its message is shown."""


def _year(today: date) -> int:
    raw = request.args.get("year", "").strip()
    if not raw:
        return today.year
    if not raw.isdigit() or not FIRST_YEAR <= int(raw) <= LAST_YEAR:
        raise Refused(f"The year must be a calendar year from {FIRST_YEAR} to {LAST_YEAR}.")
    return int(raw)


def _policy() -> str | None:
    wanted = request.args.get("policy", "").strip()
    if not wanted:
        return None
    if wanted not in {p.id for p in services().policies.policies}:
        raise Refused("There is no policy of that id: choose one from the list.")
    return wanted


def _day(today: date) -> date:
    raw = request.args.get("on", "").strip()
    if not raw:
        return today
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise Refused("The day must be written YYYY-MM-DD.") from None


def _report(year: int, policy: str | None) -> dict[str, Any]:
    svc = services()
    with svc.sessions() as session:
        rows = metric_rows(session, year, policy)
    return metrics(rows, year, svc.clock(), policy)


def share(figure: dict[str, Any]) -> str:
    """A percentage as the Markdown report writes it: with the counts it is of."""
    if figure["percent"] is None:
        return "- (none determined)"
    return f"{figure['percent']:.1f}% ({figure['count']} of {figure['of']})"


def hours(value: float | None, of: int) -> str:
    return "-" if value is None else f"{value:.1f} h ({of} requests)"


def _pair(report: dict[str, Any], cell: Any) -> tuple[str, str]:
    standard, expedited = (str(cell(report[c])) for c in formats.CLASSES)
    return standard, expedited


def tables(report: dict[str, Any]) -> dict[str, list[tuple[str, str, str]]]:
    """The report's tables as ``metrics_md`` lays them out: a label, standard, expedited."""
    times = [
        (
            f"{label} time from receipt to decision",
            *_pair(
                report, lambda c, k=key: hours(c["timeToDecision"][k], c["timeToDecision"]["of"])
            ),
        )
        for key, label in (("averageHours", "average"), ("medianHours", "median"))
    ]
    return {
        "requests": [
            ("requests received", *_pair(report, lambda c: c["received"])),
            ("requests determined", *_pair(report, lambda c: c["determined"])),
            *(
                (label, *_pair(report, lambda c, k=key: share(c[k])))
                for key, label in formats.SHARES
            ),
            *times,
        ],
        "appeals": [
            *(
                (label, *_pair(report, lambda c, k=key: c["appeals"][k]))
                for key, label in formats.APPEALS
            ),
            ("appeal still open", *_pair(report, lambda c: len(c["appeals"]["open"]))),
        ],
        "apart": [
            ("undecided", *_pair(report, lambda c: len(c["apart"]["undecided"]))),
            *(
                (label, *_pair(report, lambda c, k=key: c["apart"][k]))
                for key, label in formats.APART
            ),
        ],
    }


def listed(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The undecided requests and the open appeals, each with its class and case page."""

    def linked(c: str, r: dict[str, Any]) -> dict[str, Any]:
        return {**r, "class": c, "url": CASE_URL.format(id=r["id"])}

    return {
        "undecided": [
            linked(c, r) for c in formats.CLASSES for r in report[c]["apart"]["undecided"]
        ],
        "open": [linked(c, r) for c in formats.CLASSES for r in report[c]["appeals"]["open"]],
    }


def _csv(text: str, filename: str) -> Response:
    # As the command prints it (click.echo ends it with a newline).
    filename = _UNSAFE.sub("-", filename)
    return Response(
        text + "\n",
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.get("/metrics")
def metrics_page() -> tuple[str, int]:
    svc = services()
    today = svc.clock().date()
    policies = [(p.id, p.name) for p in svc.policies.policies]
    try:
        year, policy, on = _year(today), _policy(), _day(today)
    except Refused as exc:
        return page(
            "metrics.html", nav="metrics", error=str(exc), year=today.year, policies=policies
        ), 400
    report = _report(year, policy)
    return page(
        "metrics.html",
        nav="metrics",
        error=None,
        year=year,
        policy=policy,
        policies=policies,
        report=report,
        tables=tables(report),
        lists=listed(report),
        on=on,
        pa_rows=pa_list(svc.policies, on),
    ), 200


@bp.get("/metrics.csv")
def metrics_csv() -> Response | tuple[str, int]:
    """The metrics of a year as ``fhirauth report metrics --format csv`` prints them."""
    today = services().clock().date()
    try:
        year, policy = _year(today), _policy()
    except Refused as exc:
        return page("error.html", title="Not done", sentence=str(exc)), 400
    name = f"pa-metrics-{year}" + (f"-{policy}" if policy else "") + ".csv"
    return _csv(formats.metrics_csv(_report(year, policy)), name)


@bp.get("/pa-list.csv")
def pa_list_csv() -> Response | tuple[str, int]:
    """The list as ``fhirauth report pa-list --format csv`` prints it."""
    svc = services()
    try:
        on = _day(svc.clock().date())
    except Refused as exc:
        return page("error.html", title="Not done", sentence=str(exc)), 400
    return _csv(formats.pa_list_csv(pa_list(svc.policies, on)), f"pa-list-{on.isoformat()}.csv")
