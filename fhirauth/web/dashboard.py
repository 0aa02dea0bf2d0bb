"""The dashboard (a placeholder until the page lands)."""

from __future__ import annotations

from fhirauth.web.blueprint import bp, page


@bp.get("/")
def dashboard() -> str:
    return page("dashboard.html", nav="dashboard")
