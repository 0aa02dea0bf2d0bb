"""The review queue page: pended requests soonest due first, with the clock that remains
(overdue in red), filtered by a plain GET form (expedited, service, provider, reviewer) whose
choices are what the queue holds. Rows open the case page by the authorization's opaque id;
no filter value is PHI."""

from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from fhirauth.operations.worklist import UNASSIGNED, Filters, worklist
from fhirauth.web.blueprint import CASE_URL, bp, page, services


class QueueFilterSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    expedited = fields.Boolean(load_default=False, truthy={"1", "on", "true", "yes"})
    service = fields.String(load_default=None, validate=validate.Length(max=300))
    provider = fields.String(load_default=None, validate=validate.Length(max=512))
    reviewer = fields.String(load_default=None, validate=validate.Length(max=64))


def filters_of(args: Any) -> tuple[Filters, str | None]:
    """The filters a query string asks for (empty values ignored), and what was wrong with it."""
    given = {k: v for k, v in args.items() if v != ""}
    try:
        data = QueueFilterSchema().load(given)
    except ValidationError as exc:
        wrong = ", ".join(sorted(exc.messages))
        return Filters(), f"The filter ({wrong}) was not understood; showing the whole queue."
    return Filters(data["expedited"], data["service"], data["provider"], data["reviewer"]), None


@bp.get("/queue")
def queue() -> str:
    svc = services()
    chosen, problem = filters_of(request.args)
    with svc.sessions() as session:
        found = worklist(session, svc.clock(), chosen)
    return page(
        "queue.html",
        nav="queue",
        queue=found,
        rows=[(r, CASE_URL.format(id=r.id)) for r in found.rows],
        filters=chosen,
        problem=problem,
        unassigned=UNASSIGNED,
    )
