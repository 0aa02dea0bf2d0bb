"""The administrators' list of staff accounts (managed from the command line)."""

from __future__ import annotations

from fhirauth.auth import staff
from fhirauth.web.blueprint import admin_only, bp, page, services


@bp.get("/staff")
@admin_only
def staff_list() -> str:
    svc = services()
    with svc.sessions() as session:
        users = staff.listing(session)
        return page("staff.html", nav="staff", users=users, now=svc.clock())
