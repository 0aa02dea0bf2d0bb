"""How ``fhirauth report metrics`` and ``report pa-list`` print: Markdown (for the payer's web
page), CSV (one row per figure) or JSON (as computed). Pure text, so that the console
(``web/metrics.py``) serves the very CSV the command prints."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import orjson

FORMATS = ("md", "csv", "json")
CLASSES = ("standard", "expedited")

# (key in a class's figures, what the row says)
SHARES = (
    ("approved", "approved"),
    ("partiallyApproved", "partially approved"),
    ("denied", "denied"),
    ("approvedAfterAppeal", "approved after appeal"),
    ("partiallyApprovedAfterAppeal", "partially approved after appeal"),
    ("extendedThenApproved", "review time extended, then approved"),
    ("reviewExtended", "review time extended"),
)
APPEALS = (
    ("appealed", "appealed"),
    ("overturned", "appeal overturned the denial"),
    ("partiallyOverturned", "appeal overturned it in part"),
    ("upheld", "appeal upheld the denial"),
    ("withdrawn", "appeal withdrawn"),
)
APART = (
    ("withdrawn", "withdrawn before a determination"),
    ("refused", "refused, not processed (outcome error)"),
    ("noAuthorizationNeeded", "no authorization needed"),
)


def as_json(data: Any) -> str:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()


def _share(figure: dict[str, Any]) -> str:
    if figure["percent"] is None:
        return "- (none determined)"
    return f"{figure['percent']:.1f}% ({figure['count']} of {figure['of']})"


def _when(at: str | None) -> str:
    """An ISO time as a table shows it: to the minute, UTC."""
    return at[:16].replace("T", " ") if at else "-"


def _hours(value: float | None, of: int) -> str:
    return "-" if value is None else f"{value:.1f} h ({of} requests)"


def _table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    return [
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def _by_class(report: dict[str, Any], cell: Callable[[dict[str, Any]], str]) -> tuple[str, str]:
    standard, expedited = (cell(report[c]) for c in CLASSES)
    return standard, expedited


def metrics_md(report: dict[str, Any]) -> str:
    year = report["year"]
    plan = f", policy {report['policy']}" if report.get("policy") else ""
    head = ("", "standard", "expedited")
    rows = [
        ("requests received", *_by_class(report, lambda c: str(c["received"]))),
        ("requests determined", *_by_class(report, lambda c: str(c["determined"]))),
    ]
    for key, label in SHARES:
        rows.append((label, *_by_class(report, lambda c, k=key: _share(c[k]))))
    for key, label in (("averageHours", "average"), ("medianHours", "median")):
        rows.append(
            (
                f"{label} time from receipt to decision",
                *_by_class(
                    report,
                    lambda c, k=key: _hours(c["timeToDecision"][k], c["timeToDecision"]["of"]),
                ),
            )
        )
    out = [
        f"# Prior authorization metrics, {year}{plan}",
        "",
        f"Requests received in {year} (UTC), as the data stood at {_when(report['asOf'])} UTC. "
        "Percentages are of the requests determined; what no percentage counts is listed apart.",
        "",
        *_table(head, rows),
        "",
        "## Appeals",
        "",
        *_table(
            head,
            [
                (label, *_by_class(report, lambda c, k=key: str(c["appeals"][k])))
                for key, label in APPEALS
            ]
            + [("appeal still open", *_by_class(report, lambda c: str(len(c["appeals"]["open"]))))],
        ),
        "",
        "## Listed apart",
        "",
        *_table(
            head,
            [("undecided", *_by_class(report, lambda c: str(len(c["apart"]["undecided"]))))]
            + [
                (label, *_by_class(report, lambda c, k=key: str(c["apart"][k])))
                for key, label in APART
            ],
        ),
    ]
    pending = [(c, r) for c in CLASSES for r in report[c]["apart"]["undecided"]]
    if pending:
        out += ["", "### Undecided requests", ""]
        out += _table(
            ("class", "authorization", "received", "due"),
            [
                (c, str(r["preAuthRef"]), _when(r["receivedAt"]), _when(r["dueAt"]))
                for c, r in pending
            ],
        )
    opened = [(c, r) for c in CLASSES for r in report[c]["appeals"]["open"]]
    if opened:
        out += ["", "### Open appeals", ""]
        out += _table(
            ("class", "authorization", "appeal received", "appeal due"),
            [
                (c, str(r["preAuthRef"]), _when(r["appealReceivedAt"]), _when(r["appealDueAt"]))
                for c, r in opened
            ],
        )
    return "\n".join(out)


def metrics_csv(report: dict[str, Any]) -> str:
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    out.writerow(("year", "class", "metric", "count", "of", "value", "unit", "detail"))
    year = report["year"]
    for c in CLASSES:
        figures = report[c]
        out.writerow((year, c, "received", figures["received"], "", "", "", ""))
        out.writerow((year, c, "determined", figures["determined"], "", "", "", ""))
        for key, _ in SHARES:
            f = figures[key]
            out.writerow((year, c, key, f["count"], f["of"], _blank(f["percent"]), "%", ""))
        times = figures["timeToDecision"]
        for key in ("averageHours", "medianHours"):
            out.writerow((year, c, key, times["of"], times["of"], _blank(times[key]), "h", ""))
        for key, _ in APPEALS:
            out.writerow((year, c, f"appeals.{key}", figures["appeals"][key], "", "", "", ""))
        for key, _ in APART:
            out.writerow((year, c, f"apart.{key}", figures["apart"][key], "", "", "", ""))
        for r in figures["apart"]["undecided"]:
            detail = f"{r['preAuthRef']} received {r['receivedAt']} due {r['dueAt']}"
            out.writerow((year, c, "apart.undecided", 1, "", "", "", detail))
        for r in figures["appeals"]["open"]:
            detail = f"{r['preAuthRef']} appeal received {r['appealReceivedAt']}"
            out.writerow((year, c, "appeals.open", 1, "", "", "", detail))
    return buffer.getvalue().rstrip("\n")


def _blank(value: Any) -> Any:
    return "" if value is None else value


def _documents(row: dict[str, Any]) -> str:
    return "; ".join(
        f"{d['description']} ({d['code'] or d['questionnaire']})" for d in row["documentation"]
    )


def pa_list_md(rows: list[dict[str, Any]], on: str) -> str:
    out = [
        "# Items and services that need prior authorization",
        "",
        f"In effect on {on}. A code with a hyphen is a range of codes; one ending in * every "
        "code that starts so.",
        "",
    ]
    out += _table(
        ("code", "system", "service", "applies", "documentation required", "plan"),
        [
            (
                r["code"],
                str(r["systemName"] or "any"),
                _md(r["description"] or "-"),
                _md(r["appliesWhen"] or "always"),
                _md(_documents(r) or "none"),
                _md(r["plan"]),
            )
            for r in rows
        ],
    )
    return "\n".join(out)


def _md(text: str) -> str:
    """A table cell: one line, no column break."""
    return " ".join(text.split()).replace("|", "\\|")


def pa_list_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    out.writerow(("code", "system", "description", "applies_when", "documentation", "policy"))
    for r in rows:
        out.writerow(
            (
                r["code"],
                r["system"] or "",
                r["description"] or "",
                r["appliesWhen"] or "",
                _documents(r),
                r["policy"],
            )
        )
    return buffer.getvalue().rstrip("\n")
