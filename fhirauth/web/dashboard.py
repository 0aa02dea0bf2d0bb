"""The dashboard: what came in today and this week and how it was answered, what waits for a
reviewer and how soon it is due (overdue in red), and how long decisions take, standard vs
expedited; the figures are ``operations/dashboard.py``'s, the charts ``web/charts.py``'s."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from fhirauth.operations import dashboard as figures
from fhirauth.web.blueprint import CASE_URL, bp, page, services
from fhirauth.web.charts import Bar, Times, bar_chart, times_chart

# The CSS class each category's bar is coloured by (console.css "Charts drawn on the server").
OUTCOME_KINDS = {
    figures.APPROVED: "approved",
    figures.PARTIAL: "partial",
    figures.DENIED: "denied",
    figures.PENDED: "pended",
    figures.NOT_REQUIRED: "muted",
    figures.WITHDRAWN: "muted withdrawn",
    figures.ERROR: "error",
}
DUE_KINDS = {
    figures.OVERDUE: "overdue",
    figures.DUE_24H: "soon",
    figures.DUE_72H: "due-72h",
    figures.LATER: "muted",
}


def outcome_chart(received: figures.Received, title: str) -> Markup:
    return bar_chart(
        title,
        [
            Bar(figures.OUTCOME_LABELS[o], received.counts[o], OUTCOME_KINDS[o])
            for o in figures.OUTCOMES
        ],
        "No request was received in this period.",
    )


def due_chart(pended: figures.Pended) -> Markup:
    return bar_chart(
        "Pended requests by due time",
        [Bar(figures.DUE_LABELS[b], pended.counts[b], DUE_KINDS[b]) for b in figures.DUE_BUCKETS],
        "No request is waiting for a reviewer.",
    )


def decision_chart(board: figures.Dashboard) -> Markup:
    return times_chart(
        "Hours from receipt to decision, last 30 days",
        [
            Times(t.label, t.count, t.median_hours, t.p90_hours)
            for t in (board.standard, board.expedited)
        ],
        "No request was determined in the last 30 days.",
    )


def left(hours: float) -> str:
    """The clock that remains, as a reviewer reads it."""
    if hours <= 0:
        return f"overdue by {-hours:.1f} h"
    if hours >= 48:
        return f"{hours / 24:.1f} days left"
    return f"{hours:.1f} h left"


def rows(board: figures.Dashboard) -> list[dict[str, Any]]:
    return [
        {
            **c,
            "url": CASE_URL.format(id=c["id"]),
            "left": left(c["hoursLeft"]),
            "overdue": c["urgency"] == "overdue",
        }
        for c in board.pended.soonest
    ]


@bp.get("/")
@bp.get("/dashboard")
def dashboard() -> str:
    svc = services()
    now = svc.clock()
    with svc.sessions() as session:
        board = figures.dashboard(session, now)
        soonest = rows(board)
    return page(
        "dashboard.html",
        nav="dashboard",
        board=board,
        soonest=soonest,
        labels=figures.OUTCOME_LABELS,
        outcomes=figures.OUTCOMES,
        today_chart=outcome_chart(board.today, "Requests received today by outcome"),
        week_chart=outcome_chart(board.week, "Requests received in the last 7 days by outcome"),
        due_chart=due_chart(board.pended),
        times_chart=decision_chart(board),
    )
