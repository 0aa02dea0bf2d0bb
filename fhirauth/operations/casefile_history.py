"""What happened to one authorization, for its case page: the request's versions (each
submission and each ClaimResponse version answered), the documents received and the bytes of
each, the notifications sent and whether they were delivered, and the audit trail."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Text, cast, or_, select
from sqlalchemy.orm import Session

from fhirauth.auth import audit
from fhirauth.errors import NotFound
from fhirauth.fhir.display import codes, concept_text
from fhirauth.operations.review import LOINC_NAMES
from fhirauth.store.models import (
    Attachment,
    AuditRecord,
    Authorization,
    ClaimResponseVersion,
    OutboxEvent,
    Submission,
    Subscription,
)

PAS_EXT = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
FHIR_JSON = "application/fhir+json"
# A content type as a document declares it: type/subtype and nothing a header could carry more.
_CONTENT_TYPE = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}$"
)
AUDIT_ROWS = 200  # the newest ones; the full trail is GET /fhir/AuditEvent


@dataclass(frozen=True)
class SubmissionLine:
    kind: str  # initial | update | cancel | appeal | ...
    received_at: datetime
    claim_id: str
    claim_identifier: str | None
    response_version: int


@dataclass(frozen=True)
class VersionLine:
    version: int
    created_at: datetime
    kind: str | None  # the submission that caused it; None: a reviewer, documents, a clock
    actions: dict[int, str]  # itemSequence → review action code


@dataclass(frozen=True)
class Document:
    number: int  # 1-based, oldest first: the case page's link to it
    received_at: datetime
    item_sequence: int | None
    code: str | None
    title: str
    kind: str  # DocumentReference | QuestionnaireResponse | Bundle
    content_type: str


@dataclass(frozen=True)
class DocumentBytes:
    content: bytes
    content_type: str


@dataclass(frozen=True)
class Notification:
    at: datetime
    subscription_id: str
    endpoint: str | None
    subscription_status: str | None
    kind: str
    event_number: int
    status: str  # pending | delivered | superseded
    attempts: int
    delivered_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class AuditLine:
    at: datetime
    agent: str
    method: str
    route: str | None
    status: int
    detail: str | None


def submissions(session: Session, auth: Authorization) -> list[SubmissionLine]:
    return [
        SubmissionLine(s.kind, s.received_at, s.claim_id, s.claim_identifier, s.response_version)
        for s in session.scalars(
            select(Submission)
            .where(Submission.authorization_id == auth.id)
            .order_by(Submission.received_at, Submission.response_version)
        )
    ]


def review_actions(bundle: bytes) -> dict[int, str]:
    """itemSequence → review action code of a stored response Bundle's ClaimResponse."""
    try:
        cr = orjson.loads(bundle)["entry"][0]["resource"]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return {}
    out: dict[int, str] = {}
    for item in cr.get("item") or []:
        for adj in item.get("adjudication") or []:
            for ext in adj.get("extension") or []:
                if ext.get("url") != PAS_EXT + "extension-reviewAction":
                    continue
                for sub in ext.get("extension") or []:
                    if sub.get("url") == PAS_EXT + "extension-reviewActionCode":
                        for c in (sub.get("valueCodeableConcept") or {}).get("coding") or []:
                            out[int(item.get("itemSequence", 0))] = str(c.get("code"))
    return out


def versions(session: Session, auth: Authorization) -> list[VersionLine]:
    kinds = dict(
        session.execute(
            select(Submission.id, Submission.kind).where(Submission.authorization_id == auth.id)
        ).all()
    )
    return [
        VersionLine(v.version, v.created_at, kinds.get(v.submission_id), review_actions(v.bundle))
        for v in session.scalars(
            select(ClaimResponseVersion)
            .where(ClaimResponseVersion.authorization_id == auth.id)
            .order_by(ClaimResponseVersion.version)
        )
    ]


def _attachments(session: Session, auth_id: str) -> list[Attachment]:
    return list(
        session.scalars(
            select(Attachment)
            .where(Attachment.authorization_id == auth_id)
            .order_by(Attachment.received_at, Attachment.id)
        )
    )


def _inline(resource: dict[str, Any]) -> dict[str, Any] | None:
    """A DocumentReference's first attachment that carries its data."""
    if resource.get("resourceType") != "DocumentReference":
        return None
    for content in resource.get("content") or []:
        att = (content or {}).get("attachment") if isinstance(content, dict) else None
        if isinstance(att, dict) and att.get("data"):
            return att
    return None


def _content_type(declared: Any) -> str:
    text = str(declared or "").split(";", 1)[0].strip()
    return text.lower() if _CONTENT_TYPE.match(text) else "application/octet-stream"


def _title(att: Attachment) -> str:
    content = att.content if isinstance(att.content, dict) else {}
    kind = content.get("type")
    # Its type as words (text or display), else the LOINC name of its code.
    named = concept_text(kind) if isinstance(kind, dict) else None
    named = None if named in {c.key.rsplit("|", 1)[-1] for c in codes(kind)} else named
    if content.get("resourceType") == "QuestionnaireResponse":
        named = named or f"Questionnaire answers ({content.get('questionnaire') or 'unnamed'})"
    return named or LOINC_NAMES.get(att.code or "") or att.code or "Document"


def documents(session: Session, auth: Authorization) -> list[Document]:
    out = []
    for n, att in enumerate(_attachments(session, auth.id), start=1):
        content = att.content if isinstance(att.content, dict) else {}
        inline = _inline(content)
        out.append(
            Document(
                n,
                att.received_at,
                att.item_sequence,
                att.code,
                _title(att),
                str(content.get("resourceType") or "?"),
                _content_type(inline.get("contentType")) if inline else FHIR_JSON,
            )
        )
    return out


def document(session: Session, auth_id: str, number: int) -> DocumentBytes:
    """The ``number``-th document received (1-based, oldest first): a DocumentReference's
    inline data as it declares its type, else the resource itself as FHIR JSON."""
    found = _attachments(session, auth_id)
    if not 1 <= number <= len(found):
        raise NotFound(f"document {number} of authorization {auth_id}")
    content = found[number - 1].content
    inline = _inline(content) if isinstance(content, dict) else None
    if inline is not None:
        try:
            data = base64.b64decode(str(inline["data"]), validate=True)
        except (binascii.Error, ValueError):
            raise NotFound(f"document {number} of authorization {auth_id}") from None
        return DocumentBytes(data, _content_type(inline.get("contentType")))
    return DocumentBytes(orjson.dumps(content, option=orjson.OPT_INDENT_2), FHIR_JSON)


def notifications(session: Session, auth: Authorization) -> list[Notification]:
    rows = session.execute(
        select(OutboxEvent, Subscription.endpoint, Subscription.status)
        .outerjoin(Subscription, Subscription.id == OutboxEvent.subscription_id)
        .where(OutboxEvent.authorization_id == auth.id)
        .order_by(OutboxEvent.id)
    ).all()
    return [
        Notification(
            e.created_at,
            e.subscription_id,
            endpoint,
            status,
            e.kind,
            e.event_number,
            e.status,
            e.attempts,
            e.delivered_at,
            e.last_error,
        )
        for e, endpoint, status in rows
    ]


def handles(session: Session, auth: Authorization) -> list[str]:
    """Every audit entity that names this authorization: by any of its keys (the admin routes
    record the key they were called with), its ClaimResponse and each of its Claims."""
    keys = {auth.id, auth.claim_response_id, *([auth.pre_auth_ref] if auth.pre_auth_ref else [])}
    claims = session.scalars(
        select(Submission.claim_id).where(Submission.authorization_id == auth.id)
    ).all()
    return [
        *(f"authorization/{k}" for k in sorted(keys)),
        f"ClaimResponse/{auth.claim_response_id}",
        *(f"Claim/{c}" for c in claims),
    ]


def audit_trail(session: Session, auth: Authorization, limit: int = AUDIT_ROWS) -> list[AuditLine]:
    """The audit rows naming this authorization, newest first (``audit.query``'s order)."""
    entities = cast(AuditRecord.entities, Text)
    stmt = audit.query().where(
        or_(*(entities.contains(f'"{h}"', autoescape=True) for h in handles(session, auth)))
    )
    return [
        AuditLine(r.recorded_at, r.agent, r.method, r.route, r.status, r.detail)
        for r in session.scalars(stmt.limit(limit))
    ]
