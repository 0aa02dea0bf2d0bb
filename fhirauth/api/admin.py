"""Payer-side admin API at ``/admin`` (JSON, not FHIR): decision traces and the sandbox."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import or_, select

from fhirauth import sandbox
from fhirauth.api.auth import current_principal
from fhirauth.errors import Invalid, Issue, NotFound, Unsupported, invalid
from fhirauth.operations import review
from fhirauth.principal import ANONYMOUS
from fhirauth.services import Services
from fhirauth.store.models import Authorization, DecisionEvent, SandboxScript

bp = Blueprint("admin", __name__, url_prefix="/admin")


def services() -> Services:
    return current_app.extensions["fhirauth"]


class ScriptSchema(Schema):
    outcome = fields.String(required=True, validate=validate.OneOf(sandbox.OUTCOMES))
    count = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100))
    principal = fields.String(load_default=None)


def load(schema: Schema) -> dict[str, Any]:
    payload = request.get_json(silent=True)
    try:
        return schema.load(payload if isinstance(payload, dict) else {})
    except ValidationError as exc:
        raise Invalid(
            [
                Issue("invalid", f"{field}: {'; '.join(map(str, msgs))}", (field,))
                for field, msgs in exc.normalized_messages().items()
            ]
        ) from None


def _authorization(session: Any, key: str) -> Authorization:
    auth = session.scalar(
        select(Authorization).where(or_(Authorization.id == key, Authorization.pre_auth_ref == key))
    )
    if auth is None:
        raise NotFound(f"authorization {key}")
    return auth


def _day(value: Any) -> str | None:
    return value.isoformat() if value else None


@bp.get("/authorizations/<key>")
def authorization(key: str) -> Response:
    """An authorization by its id or its preAuthRef."""
    with services().sessions() as session:
        auth = _authorization(session, key)
        return jsonify(
            {
                "id": auth.id,
                "preAuthRef": auth.pre_auth_ref,
                "claimResponse": f"ClaimResponse/{auth.claim_response_id}",
                "status": auth.status,
                "expedited": auth.expedited,
                "policy": auth.policy_id,
                "version": auth.current_version,
                "receivedAt": _day(auth.received_at),
                "decidedAt": _day(auth.decided_at),
                "deliveredAt": _day(auth.delivered_at),
                "items": [
                    {
                        "sequence": i.sequence,
                        "code": f"{i.code_system}|{i.code}" if i.code else None,
                        "reviewAction": i.review_action,
                        "authorizationNumber": i.authorization_number,
                        "period": [_day(i.period_start), _day(i.period_end)]
                        if i.period_start
                        else None,
                        "reasonCode": i.reason_code,
                        "rule": i.rule_id,
                    }
                    for i in auth.items
                ],
            }
        )


@bp.get("/authorizations/<key>/trace")
def trace(key: str) -> Response:
    """Every decision event of an authorization, oldest first, with the rule trace."""
    with services().sessions() as session:
        auth = _authorization(session, key)
        events = session.scalars(
            select(DecisionEvent)
            .where(DecisionEvent.authorization_id == auth.id)
            .order_by(DecisionEvent.id)
        ).all()
        return jsonify(
            {
                "id": auth.id,
                "preAuthRef": auth.pre_auth_ref,
                "events": [
                    {
                        "at": e.at.isoformat(),
                        "item": e.item_sequence,
                        "actor": e.actor,
                        "action": e.action,
                        "reasonCode": e.reason_code,
                        "note": e.note,
                        "trace": e.trace,
                    }
                    for e in events
                ],
            }
        )


def _sandbox_on() -> None:
    if not services().settings.sandbox:
        raise Unsupported("sandbox mode is off (set FHIRAUTH_SANDBOX=1)", 404)


def _scripts(session: Any, principal: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(SandboxScript)
        .where(SandboxScript.principal == principal, SandboxScript.used_at.is_(None))
        .order_by(SandboxScript.id)
    ).all()
    return [{"id": s.id, "outcome": s.outcome, "principal": s.principal} for s in rows]


@bp.post("/sandbox/scripts")
def add_scripts() -> tuple[Response, int]:
    """Script the outcome of a client's next submission(s)."""
    _sandbox_on()
    body = load(ScriptSchema())
    principal = body["principal"]
    if principal is None:
        if services().settings.auth_mode != "off":
            # With authentication, submissions come from registered clients: name the one.
            raise invalid(
                "principal (the client id whose submissions to script) is required "
                "when authentication is on",
                "principal",
            )
        principal = ANONYMOUS.id
    svc = services()
    with svc.sessions.begin() as session:
        for _ in range(body["count"]):
            session.add(
                SandboxScript(principal=principal, outcome=body["outcome"], created_at=svc.clock())
            )
        session.flush()
        return jsonify({"pending": _scripts(session, principal)}), 201


@bp.get("/sandbox/scripts")
def list_scripts() -> Response:
    _sandbox_on()
    principal = request.args.get("principal") or ANONYMOUS.id
    with services().sessions() as session:
        return jsonify({"pending": _scripts(session, principal)})


@bp.delete("/sandbox/scripts")
def clear_scripts() -> Response:
    _sandbox_on()
    principal = request.args.get("principal") or ANONYMOUS.id
    with services().sessions.begin() as session:
        for script in session.scalars(
            select(SandboxScript).where(
                SandboxScript.principal == principal, SandboxScript.used_at.is_(None)
            )
        ):
            session.delete(script)
    return jsonify({"pending": []})


class ReviewerSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    npi = fields.String(load_default=None, validate=validate.Regexp(r"^\d{10}$"))


class ReviewDecisionSchema(Schema):
    item = fields.Integer(required=True, validate=validate.Range(min=1))
    action = fields.String(required=True, validate=validate.OneOf(review.ACTIONS))
    period_days = fields.Integer(load_default=None, validate=validate.Range(min=1, max=3660))
    quantity = fields.Decimal(load_default=None, validate=validate.Range(min=0))
    reason_code = fields.String(load_default=None)
    reason = fields.String(load_default=None)
    documents = fields.List(
        fields.String(validate=validate.Regexp(r"^\d{1,7}-\d$")), load_default=list
    )
    reviewer = fields.Nested(ReviewerSchema, required=True)


@bp.get("/review/queue")
def review_queue() -> Response:
    """Pended authorizations by CMS due time; ``?overdue=1`` keeps the late and nearly late."""
    overdue = request.args.get("overdue") in ("1", "true", "yes")
    svc = services()
    with svc.sessions() as session:
        return jsonify(review.queue(session, svc.clock(), overdue_only=overdue))


@bp.get("/review/<key>")
def review_case(key: str) -> Response:
    svc = services()
    with svc.sessions() as session:
        return jsonify(review.show(session, key, svc.clock()))


@bp.post("/review/<key>/decisions")
def review_decide(key: str) -> Response:
    """A reviewer's decision on one item: answers the next ClaimResponse version's Bundle."""
    body = load(ReviewDecisionSchema())
    choice = review.ReviewDecision(
        sequence=body["item"],
        action=body["action"],
        period_days=body["period_days"],
        quantity=body["quantity"],
        reason_code=body["reason_code"],
        reason=body["reason"],
        documents=tuple(body["documents"]),
    )
    reviewer = review.Reviewer(body["reviewer"]["name"], body["reviewer"]["npi"])
    svc = services()
    with svc.sessions.begin() as session:
        out = review.decide(session, key, choice, reviewer, current_principal(), svc)
    return Response(out, mimetype="application/fhir+json")
