"""Payer-side admin API at ``/admin`` (JSON, not FHIR): decision traces, the reviewer queue
(decide a pended item, reopen a final one, extend the review time) and the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from marshmallow import Schema, ValidationError, fields, validate

from fhirauth import sandbox
from fhirauth.api.auth import current_principal
from fhirauth.api.fhir import json_body
from fhirauth.decision.clocks import MAX_REVIEW_EXTENSION
from fhirauth.errors import Invalid, Issue, Unsupported, invalid
from fhirauth.fhir.strict_json import load_json
from fhirauth.operations import authorizations, review, review_time
from fhirauth.operations import review_input as checks
from fhirauth.principal import ANONYMOUS
from fhirauth.services import Services
from fhirauth.store import repository

bp = Blueprint("admin", __name__, url_prefix="/admin")


def services() -> Services:
    return current_app.extensions["fhirauth"]


class ScriptSchema(Schema):
    outcome = fields.String(required=True, validate=validate.OneOf(sandbox.OUTCOMES))
    count = fields.Integer(load_default=1, strict=True, validate=validate.Range(min=1, max=100))
    principal = fields.String(load_default=None, validate=validate.Length(min=1, max=128))


def load(schema: Schema) -> dict[str, Any]:
    """A JSON body read like every other (``strict_json``: bounded, no duplicate keys, no
    numbers out of range) and checked against ``schema``."""
    payload = load_json(json_body())
    if not isinstance(payload, dict):
        raise invalid("The body must be a JSON object", code="structure")
    try:
        return schema.load(payload)
    except ValidationError as exc:
        raise Invalid(
            [
                Issue("invalid", f"{field}: {'; '.join(map(str, msgs))}", (field,))
                for field, msgs in _messages(exc.normalized_messages())
            ]
        ) from None


def _messages(found: dict[Any, Any], prefix: str = "") -> Iterator[tuple[str, list[Any]]]:
    """Validation messages by dotted field name (``reviewer.npi``, ``documents.0``)."""
    for field, msgs in found.items():
        if isinstance(msgs, dict):
            yield from _messages(msgs, f"{prefix}{field}.")
        else:
            yield f"{prefix}{field}", msgs if isinstance(msgs, list) else [msgs]


@bp.get("/authorizations/<key>")
def authorization(key: str) -> Response:
    """An authorization by its id, its preAuthRef or its ClaimResponse id."""
    with services().sessions() as session:
        return jsonify(authorizations.summary(session, key))


@bp.get("/authorizations/<key>/trace")
def trace(key: str) -> Response:
    """Every decision event of an authorization, oldest first, with the rule trace."""
    with services().sessions() as session:
        return jsonify(authorizations.trace(session, key))


def _sandbox_on() -> None:
    if not services().settings.sandbox:
        raise Unsupported("sandbox mode is off (set FHIRAUTH_SANDBOX=1)", 404)


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
        pending = repository.add_scripts(
            session, principal, body["outcome"], body["count"], svc.clock()
        )
    return jsonify({"pending": pending}), 201


@bp.get("/sandbox/scripts")
def list_scripts() -> Response:
    _sandbox_on()
    principal = request.args.get("principal") or ANONYMOUS.id
    with services().sessions() as session:
        return jsonify({"pending": repository.pending_scripts(session, principal)})


@bp.delete("/sandbox/scripts")
def clear_scripts() -> Response:
    _sandbox_on()
    principal = request.args.get("principal") or ANONYMOUS.id
    with services().sessions.begin() as session:
        repository.clear_scripts(session, principal)
    return jsonify({"pending": []})


def _from_token(_: Any) -> None:
    raise ValidationError(
        "the reviewer is the caller its access token names, never a name in the request: "
        "leave reviewer.name out"
    )


class ReviewerSchema(Schema):
    """Only the reviewer's NPI (claimResponseReviewer.reviewerNPI): who decides is the
    principal."""

    npi = fields.String(load_default=None, validate=validate.Regexp(r"\d{10}\Z"))
    name = fields.Raw(load_default=None, validate=_from_token)


class ReviewDecisionSchema(Schema):
    item = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=9999))
    action = fields.String(required=True, validate=validate.OneOf(review.ACTIONS))
    period_days = fields.Integer(
        load_default=None, strict=True, validate=validate.Range(min=1, max=3660)
    )
    quantity = fields.Decimal(load_default=None, validate=checks.quantity)
    reason_code = fields.String(load_default=None, validate=checks.REASON_CODE)
    reason = fields.String(load_default=None, validate=[validate.Length(max=2000), checks.plain])
    documents = fields.List(
        fields.String(validate=validate.Regexp(r"\d{1,7}-\d\Z")), load_default=list
    )
    reviewer = fields.Nested(ReviewerSchema, load_default=dict)


class ReopenSchema(Schema):
    item = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=9999))
    reason = fields.String(
        required=True, validate=[validate.Length(min=1, max=2000), checks.said, checks.plain]
    )
    reviewer = fields.Nested(ReviewerSchema, load_default=dict)


class ExtendSchema(Schema):
    """How many days more the review may take, and why (kept in the decision trace)."""

    days = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1, max=MAX_REVIEW_EXTENSION.days),
    )
    reason = fields.String(
        required=True, validate=[validate.Length(min=1, max=2000), checks.said, checks.plain]
    )


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
    svc = services()
    with svc.sessions.begin() as session:
        out = review.decide(
            session, key, choice, current_principal(), svc, body["reviewer"].get("npi")
        )
    g.audit_detail = f"item {choice.sequence}: reviewer decision {choice.action}"
    return Response(out, mimetype="application/fhir+json")


@bp.post("/review/<key>/reopen")
def review_reopen(key: str) -> Response:
    """Reopen a final item: back to pended (A4) for the reason given, audited and notified;
    answers the next ClaimResponse version's Bundle."""
    body = load(ReopenSchema())
    svc = services()
    with svc.sessions.begin() as session:
        out = review.reopen(
            session,
            key,
            body["item"],
            body["reason"].strip(),
            current_principal(),
            svc,
            body["reviewer"].get("npi"),
        )
    g.audit_detail = f"item {body['item']} reopened (the reason is in the decision trace)"
    return Response(out, mimetype="application/fhir+json")


@bp.post("/review/<key>/extend")
def review_extend(key: str) -> Response:
    """Extend the review time of a pended request (or of its open appeal) by ``days``, at
    most 14 in all past the CMS window; answers the case with its new due time."""
    body = load(ExtendSchema())
    svc = services()
    with svc.sessions.begin() as session:
        out = review_time.extend(
            session, key, body["days"], body["reason"].strip(), current_principal(), svc
        )
    g.audit_detail = f"review time extended by {body['days']} days, due {out['dueAt'][:16]}"
    return jsonify(out)
