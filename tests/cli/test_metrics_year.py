"""Issue 14's check of points 3 and 4: a scripted year of requests (submit, pend, decide,
extend, appeal, cancel, expire) through the HTTP API and the review CLI, then ``fhirauth report
metrics --year 2026``: each percentage and time equals what the script's own bookkeeping
expects, worked out here from what the script did, not from the server's rows."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from math import floor
from typing import Any

from click.testing import CliRunner
from flask.testing import FlaskClient

from fhirauth.cli import main
from fhirauth.clock import fixed_clock
from fhirauth.config import Settings
from fhirauth.services import Services
from tests.conftest import EXAMPLES
from tests.pas import review_actions
from tests.updates import appeal_of, update_of

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SPACING = timedelta(days=18)  # between two requests' receipts: each story is over by then


@dataclass
class Expected:
    """What the script knows of one request, from what it did to it."""

    ref: str
    expedited: bool
    received: datetime
    determined: datetime | None = None
    determination: str | None = None  # approved | partial | denied | not-required
    apart: str | None = None  # undecided | withdrawn | refused
    extended: bool = False
    appeal: str | None = None  # the decided appeal's outcome
    appeal_open: bool = False


def half_up(value: Fraction) -> float:
    return floor(value * 10 + Fraction(1, 2)) / 10


class Year:
    """Runs the script: the clock, the HTTP client, the review CLI, and the bookkeeping."""

    def __init__(self, client: FlaskClient, services: Services, runner: CliRunner, url: str):
        self.client, self.services, self.runner, self.url = client, services, runner, url
        self.book: list[Expected] = []
        self.n = 0

    def at(self, when: datetime) -> None:
        self.services.clock = fixed_clock(when)

    def fresh(self, name: str) -> dict[str, Any]:
        """An example request as a new one: its own Bundle and Claim identifiers."""
        self.n += 1
        bundle = copy.deepcopy(json.loads((EXAMPLES / name).read_text()))
        bundle["identifier"]["value"] += f"-Y{self.n}"
        bundle["entry"][0]["resource"]["identifier"][0]["value"] += f"-Y{self.n}"
        return bundle

    def post(self, bundle: dict[str, Any]) -> dict[str, Any]:
        resp = self.client.post(
            "/fhir/Claim/$submit", data=json.dumps(bundle), content_type="application/fhir+json"
        )
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()

    def submit(self, name: str, received: datetime, expedited: bool) -> tuple[dict, Expected]:
        self.at(received)
        request = self.fresh(name)
        answer = self.post(request)
        cr = answer["entry"][0]["resource"]
        entry = Expected(cr.get("preAuthRef", cr["id"]), expedited, received)
        self.book.append(entry)
        actions = set(review_actions(answer).values())
        if cr["outcome"] == "error":
            entry.apart = "refused"
        elif "A4" in actions:
            entry.apart = "undecided"  # until a reviewer decides
        else:
            entry.determined = received
            entry.determination = _determination(actions)
        return request, entry

    def review(self, entry: Expected, when: datetime, *args: str) -> str:
        self.at(when)
        result = self.runner.invoke(main, ["review", *args, entry.ref, "--url", self.url])
        assert result.exit_code == 0, result.output
        return result.output

    def decide(self, entry: Expected, when: datetime, item: int, *choice: str) -> None:
        out = self.review(entry, when, "decide", "--item", str(item), *choice)
        if entry.apart == "undecided" and f"item {item}: A4" not in out:
            actions = set(_actions(out).values())
            if "A4" not in actions:
                entry.apart = None
                entry.determined = when
                entry.determination = _determination(actions)

    def extend(self, entry: Expected, when: datetime, days: int) -> None:
        out = self.review(entry, when, "extend", "--days", str(days), "--reason", "member asked")
        assert f"due {(entry.received + timedelta(days=7 + days)).isoformat()[:16]}" in out
        entry.extended = True

    def appeal(self, request: dict, entry: Expected, when: datetime, **how: Any) -> None:
        self.at(when)
        assert "A4" in review_actions(self.post(appeal_of(request, 1, **how))).values()
        entry.appeal_open = True


def _actions(cli_output: str) -> dict[int, str]:
    found = {}
    for line in cli_output.splitlines():
        words = line.split()
        if len(words) >= 3 and words[0] == "item" and words[1].endswith(":"):
            found[int(words[1][:-1])] = words[2]
    return found


def _determination(actions: set[str]) -> str:
    decided = actions & {"A1", "A2", "A3", "A6"}
    if not decided:
        return "not-required"
    if decided == {"A1"}:
        return "approved"
    if decided == {"A3"}:
        return "denied"
    return "partial"


def script(year: Year) -> None:
    h = timedelta(hours=1)
    d = timedelta(days=1)
    times = (START + SPACING * k for k in range(40))
    # Received in 2025: not in the report of 2026.
    year.submit("approve-ct-head.json", datetime(2025, 12, 30, tzinfo=UTC), False)
    year.book.pop()

    # Standard requests.
    year.submit("approve-ct-head.json", next(times), False)  # approved at once; expires later
    for outcome in ("--approve", "--deny"):  # a rule's denial, appealed: overturned, upheld
        t = next(times)
        request, entry = year.submit("deny-cosmetic-hair-transplant.json", t, False)
        year.appeal(request, entry, t + 10 * d)
        choice = [outcome] if outcome == "--approve" else ["--deny", "NC", "--reason", "Cosmetic."]
        year.review(entry, t + 12 * d, "decide", "--item", "1", *choice)
        entry.appeal, entry.appeal_open = (
            ("overturned" if outcome == "--approve" else "upheld"),
            False,
        )
    year.submit("partial-psychotherapy.json", next(times), False)  # A2: partial
    year.submit("modify-wheelchair.json", next(times), False)  # A6: partial
    t = next(times)
    _, entry = year.submit("pend-knee-needs-note.json", t, False)
    year.decide(entry, t + 30.25 * h, 1, "--approve")
    t = next(times)  # extended by a week, then approved late in the first window
    _, entry = year.submit("pend-knee-needs-note.json", t, False)
    year.extend(entry, t + 100 * h, 7)
    year.decide(entry, t + 240 * h, 1, "--approve")
    t = next(times)  # extended, then denied; its appeal still open at the report
    request, entry = year.submit("pend-knee-needs-note.json", t, False)
    year.extend(entry, t + 150 * h, 3)
    year.decide(entry, t + 200.5 * h, 1, "--deny", "MN", "--reason", "No failed conservative care.")
    year.appeal(request, entry, t + 215 * h)
    t = next(times)  # item 3 pended, item 4 denied by a rule: partial; then an immediate appeal
    request, entry = year.submit("mixed-outcomes.json", t, False)
    year.decide(entry, t + 48 * h, 3, "--approve")
    year.appeal(request, entry, t + 60 * h, kind="1", items=(4,))
    year.review(entry, t + 70 * h, "decide", "--item", "4", "--approve", "--quantity", "0.5")
    entry.appeal, entry.appeal_open = "partially-overturned", False
    t = next(times)  # withdrawn before any decision
    request, entry = year.submit("pend-knee-needs-note.json", t, False)
    year.at(t + 5 * h)
    assert review_actions(year.post(update_of(request, 1, cancel_all=True))) == {}
    entry.apart = "withdrawn"
    year.submit("no-auth-office-visit.json", next(times), False)  # no authorization needed
    year.submit("errors/error-coverage-ended.json", next(times), False)  # refused
    year.submit("pend-knee-needs-note.json", next(times), False)  # still undecided

    # Expedited requests.
    t = next(times)
    _, entry = year.submit("pend-mri-brain.json", t, True)
    year.decide(entry, t + 20 * h, 1, "--approve")
    t = next(times)  # decided after its 72 hours ran out, denied, appealed at once: overturned
    request, entry = year.submit("pend-mri-brain.json", t, True)
    year.decide(entry, t + 80 * h, 1, "--deny", "MN", "--reason", "Migraine without red flags.")
    year.appeal(request, entry, t + 90 * h, kind="1")
    year.review(entry, t + 100 * h, "decide", "--item", "1", "--approve")
    entry.appeal, entry.appeal_open = "overturned", False
    year.submit("expedited-inpatient-psych.json", next(times), True)  # approved at once
    t = next(times)
    _, entry = year.submit("pend-mri-brain.json", t, True)
    year.at(t + 50 * h)
    out = year.runner.invoke(
        main,
        [
            "review",
            "extend",
            entry.ref,
            "--days",
            "2",
            "--reason",
            "Awaiting MRI",
            "--url",
            year.url,
        ],
    )
    assert out.exit_code == 0 and f"due {(t + 5 * d).isoformat()[:16]}" in out.output
    entry.extended = True
    year.decide(entry, t + 100 * h, 1, "--approve")
    year.submit("pend-mri-brain.json", next(times), True)  # still undecided


def expected(book: list[Expected], expedited: bool) -> dict[str, Any]:
    rows = [e for e in book if e.expedited == expedited]
    determined = [e for e in rows if e.determination in ("approved", "partial", "denied")]
    n = len(determined)

    def share(test: Any) -> dict[str, Any]:
        count = sum(1 for e in determined if test(e))
        return {"count": count, "of": n, "percent": half_up(Fraction(100 * count, n))}

    spans = sorted(
        Fraction(int((e.determined - e.received).total_seconds()), 3600)
        for e in determined
        if e.determined
    )
    middle = len(spans) // 2
    median = spans[middle] if len(spans) % 2 else (spans[middle - 1] + spans[middle]) / 2
    appealed = [e for e in determined if e.appeal or e.appeal_open]
    return {
        "received": len(rows),
        "determined": n,
        "approved": share(lambda e: e.determination == "approved"),
        "partiallyApproved": share(lambda e: e.determination == "partial"),
        "denied": share(lambda e: e.determination == "denied"),
        "approvedAfterAppeal": share(lambda e: e.appeal == "overturned"),
        "partiallyApprovedAfterAppeal": share(lambda e: e.appeal == "partially-overturned"),
        "extendedThenApproved": share(lambda e: e.extended and e.determination == "approved"),
        "reviewExtended": share(lambda e: e.extended),
        "timeToDecision": {
            "of": n,
            "averageHours": half_up(sum(spans, Fraction(0)) / len(spans)),
            "medianHours": half_up(median),
        },
        "appeals": {
            "appealed": len(appealed),
            "overturned": sum(1 for e in appealed if e.appeal == "overturned"),
            "partiallyOverturned": sum(1 for e in appealed if e.appeal == "partially-overturned"),
            "upheld": sum(1 for e in appealed if e.appeal == "upheld"),
            "withdrawn": 0,
            "open": sorted(e.ref for e in appealed if e.appeal_open),
        },
        "apart": {
            "undecided": sorted(e.ref for e in rows if e.apart == "undecided"),
            "withdrawn": sum(1 for e in rows if e.apart == "withdrawn"),
            "refused": sum(1 for e in rows if e.apart == "refused"),
            "noAuthorizationNeeded": sum(1 for e in rows if e.determination == "not-required"),
        },
    }


def reported(figures: dict[str, Any]) -> dict[str, Any]:
    """The report's figures, with its lists reduced to the authorizations they name."""
    out = copy.deepcopy(figures)
    out["appeals"]["open"] = sorted(a["preAuthRef"] for a in out["appeals"]["open"])
    out["apart"]["undecided"] = sorted(a["preAuthRef"] for a in out["apart"]["undecided"])
    return out


def test_a_scripted_year_reports_what_its_own_bookkeeping_expects(
    client: FlaskClient,
    services: Services,
    runner: CliRunner,
    server_url: str,
    settings: Settings,
) -> None:
    year = Year(client, services, runner, server_url)
    script(year)
    db = ["--database-url", str(settings.database_url)]
    result = runner.invoke(main, ["report", "metrics", "--year", "2026", "--format", "json", *db])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["year"] == 2026
    for name, expedited in (("standard", False), ("expedited", True)):
        assert reported(report[name]) == expected(year.book, expedited), name
    # The script's own numbers, spelled out once, so that a slip in the bookkeeping shows too.
    standard, fast = report["standard"], report["expedited"]
    assert (standard["received"], standard["determined"]) == (13, 9)
    assert standard["approved"] == {"count": 3, "of": 9, "percent": 33.3}
    assert standard["approvedAfterAppeal"]["count"] == 1
    assert standard["extendedThenApproved"]["count"] == 1
    assert standard["timeToDecision"] == {"of": 9, "averageHours": 57.6, "medianHours": 0.0}
    assert fast["timeToDecision"] == {"of": 4, "averageHours": 50.0, "medianHours": 50.0}
    assert fast["approvedAfterAppeal"] == {"count": 1, "of": 4, "percent": 25.0}

    text = runner.invoke(main, ["report", "metrics", "--year", "2026", *db]).output
    assert "| approved | 33.3% (3 of 9) | 75.0% (3 of 4) |" in text
    assert (
        "| median time from receipt to decision | 0.0 h (9 requests) | 50.0 h (4 requests) |"
        in text
    )
    assert "### Undecided requests" in text and "### Open appeals" in text
    rows = runner.invoke(main, ["report", "metrics", "--year", "2026", "--format", "csv", *db])
    assert "2026,expedited,approvedAfterAppeal,1,4,25.0,%," in rows.output.splitlines()
    empty = runner.invoke(main, ["report", "metrics", "--year", "2025", "--format", "json", *db])
    assert json.loads(empty.output)["standard"]["received"] == 1  # the one of 2025-12-30
