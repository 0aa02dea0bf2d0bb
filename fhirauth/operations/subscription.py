"""``[base]/Subscription``: create, read, update, delete and ``$status`` of PAS Subscriptions
(R5 Backport 1.1.0 for R4, PAS ``profile-subscription``; REQUIREMENTS.md §3).

What this server honours, and rejects otherwise with one OperationOutcome naming the element:
the PAS topic (``criteria``), the ``rest-hook`` channel to an absolute https endpoint (http only
when the deployment allows it), payload ``application/fhir+json`` with ``full-resource``
content, at most ten headers ``Name: value`` of printable Latin-1 that leave the transport's
own headers alone (``notifications.headers``; a header that breaks these rules is a 400, as it
could inject another header), and a filter
``_criteria.extension[backport-filter-criteria]`` = ``org-identifier=<id>[,<id>...]``
(``orgIdentifier=`` and 2.0.1's ``identifier=`` too; several filter extensions add up).
Through the PAS 2.0.1 base the content may also be ``id-only`` (``subscription_v201``); each
subscription keeps the PAS version and payload content it was last written with.

A created or updated Subscription answers with status ``requested``; the worker then POSTs the
handshake and makes it ``active`` (or ``error``). A client may PUT status ``off`` to pause it.
Only the principal that created a subscription sees or changes it: to anyone else it does not
exist (404).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from fhirauth.access import acts_for
from fhirauth.errors import FhirError, Forbidden, Invalid, Issue, NotFound, invalid
from fhirauth.fhir.bundle import load_json, model_issues
from fhirauth.fhir.extensions import extensions
from fhirauth.notifications import headers as channel_headers
from fhirauth.notifications import outbox
from fhirauth.notifications.bundles import SubscriptionState, instant, status_bundle
from fhirauth.notifications.settings import NotificationSettings, notification_settings
from fhirauth.notifications.topic import (
    FILTER_CRITERIA,
    PAS_TOPIC,
    PAYLOAD_CONTENT,
    FilterError,
    is_pas_topic,
    parse_filter,
)
from fhirauth.operations.subscription_v201 import V221, Rules, rules
from fhirauth.outbound import host_refusal
from fhirauth.principal import Principal
from fhirauth.services import Services
from fhirauth.store.models import Subscription, SubscriptionFilter

PROFILE = V221.profile
FHIR_JSON = "application/fhir+json"
STATUSES = ("requested", "active", "error", "off")
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_FILTER_PATH = f"Subscription.criteria.extension('{FILTER_CRITERIA}')"
_CONTENT_PATH = f"Subscription.channel.payload.extension('{PAYLOAD_CONTENT}')"
MAX_FILTER_VALUES = 100


@dataclass(frozen=True)
class Spec:
    """A Subscription this server will honour, as parsed from the client's resource."""

    resource: dict[str, Any]
    endpoint: str
    payload: str
    headers: tuple[str, ...]
    filters: tuple[str, ...]
    ends_at: datetime | None
    off: bool
    id: Any = None  # as sent: an update must name the subscription it replaces
    content: str = "full-resource"  # backport-payload-content
    pas_version: str = "2.2.1"  # of the base it came through


@dataclass(frozen=True)
class Stored:
    """A Subscription as the API answers it."""

    resource: dict[str, Any]
    id: str
    version: int


def _rejected(issues: list[Issue]) -> FhirError:
    # 422: a well-formed Subscription this server will not honour (Backport: SHALL reject).
    return FhirError(issues, 422)


def parse(
    body: bytes | str | dict[str, Any],
    settings: NotificationSettings,
    pas_version: str = "2.2.1",
) -> Spec:
    """Check a Subscription a client sent through the base of ``pas_version``; raise
    ``Invalid`` (400) when it is not a valid R4 Subscription or a ``channel.header`` cannot
    be sent as written, and a 422 ``FhirError`` when it asks for what this server does not
    do."""
    version = rules(pas_version)
    data = load_json(body) if isinstance(body, bytes | str) else body
    if not isinstance(data, dict):
        raise invalid("The body must be a FHIR resource (a JSON object)", code="structure")
    kind = data.get("resourceType")
    if kind != "Subscription":
        raise invalid(
            f"Expected a Subscription, got {kind!r}", "Subscription" if kind is None else str(kind)
        )
    status = data.get("status")
    if status is not None and status not in STATUSES:
        raise invalid(
            f"Subscription.status {status!r} is not a Subscription status", "Subscription.status"
        )
    # The server sets the status: a client that leaves it out still sends a valid request.
    structure = model_issues(
        "Subscription", {**data, "status": status or "requested"}, "Subscription"
    )
    if structure:
        raise Invalid(structure)

    issues: list[Issue] = []
    if not is_pas_topic(data.get("criteria")):
        issues.append(
            Issue(
                "not-supported",
                f"This server offers one topic: Subscription.criteria must be {PAS_TOPIC}",
                ("Subscription.criteria",),
            )
        )
    filters = _filters(data, issues, version.filter_name)
    channel = data["channel"]
    if channel.get("type") != "rest-hook":
        issues.append(
            Issue(
                "not-supported",
                "Only the rest-hook channel is supported (PAS spec-56)",
                ("Subscription.channel.type",),
            )
        )
    endpoint = _endpoint(channel.get("endpoint"), settings, issues)
    payload = channel.get("payload")
    if not isinstance(payload, str) or payload.split(";")[0].strip().lower() != FHIR_JSON:
        issues.append(
            Issue(
                "not-supported",
                f"Subscription.channel.payload must be {FHIR_JSON}",
                ("Subscription.channel.payload",),
            )
        )
    contents = [e.get("valueCode") for e in extensions(channel.get("_payload"), PAYLOAD_CONTENT)]
    if len(contents) != 1 or contents[0] not in version.contents:
        issues.append(
            Issue(
                "not-supported" if contents else "required",
                version.content_message,
                (_CONTENT_PATH,),
            )
        )
    headers, malformed = _headers(channel.get("header") or [])
    if malformed:
        # A header that could inject another one makes the resource unusable as sent: 400.
        raise Invalid(issues + malformed)
    if issues:
        raise _rejected(issues)
    ends_at = None
    if isinstance(data.get("end"), str):
        ends_at = datetime.fromisoformat(data["end"])
        ends_at = ends_at if ends_at.tzinfo else ends_at.replace(tzinfo=UTC)
    resource = {k: v for k, v in data.items() if k not in ("id", "meta", "status", "error")}
    return Spec(
        resource=resource,
        endpoint=endpoint,
        payload=payload,  # type: ignore[arg-type]
        headers=headers,
        filters=filters,
        ends_at=ends_at,
        off=status == "off",
        id=data.get("id"),
        content=contents[0],
        pas_version=version.version,
    )


def _filters(data: dict[str, Any], issues: list[Issue], name: str) -> tuple[str, ...]:
    texts = [e.get("valueString") for e in extensions(data.get("_criteria"), FILTER_CRITERIA)]
    if not texts:
        issues.append(
            Issue(
                "required",
                "A PAS subscription is made per sending system: add a backport-filter-criteria "
                f"extension to criteria, e.g. '{name}=N123456'",
                (_FILTER_PATH,),
            )
        )
        return ()
    values: list[str] = []
    for i, text in enumerate(texts):
        try:
            if not isinstance(text, str):
                raise FilterError("the filter criteria is a valueString")
            values += [v for v in parse_filter(text, name) if v not in values]
        except FilterError as exc:
            issues.append(
                Issue("not-supported", f"Filter criteria: {exc}", (f"{_FILTER_PATH}[{i}]",))
            )
    if len(values) > MAX_FILTER_VALUES:
        issues.append(
            Issue(
                "too-costly",
                f"At most {MAX_FILTER_VALUES} {name} values per subscription",
                (_FILTER_PATH,),
            )
        )
    if any(len(v) > 512 for v in values):
        issues.append(Issue("invalid", f"An {name} value is too long", (_FILTER_PATH,)))
    return tuple(values)


def _endpoint(value: Any, settings: NotificationSettings, issues: list[Issue]) -> str:
    path = ("Subscription.channel.endpoint",)
    if not isinstance(value, str) or not value:
        issues.append(Issue("required", "A rest-hook subscription needs an endpoint", path))
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        issues.append(Issue("invalid", "The endpoint must be an absolute https URL", path))
    elif parts.scheme == "http" and not settings.allow_http:
        issues.append(
            Issue(
                "security",
                "Notifications carry patient data: the endpoint must use https",
                path,
            )
        )
    elif len(value) > 2048:
        issues.append(Issue("too-long", "The endpoint URL is too long", path))
    else:
        # Refused at once when written as a loopback name or an address fhirauth never calls;
        # names are checked again on the addresses they resolve to, at every delivery.
        why = host_refusal(parts.hostname or "", allow_loopback=settings.allow_loopback)
        if why:
            issues.append(Issue("security", f"Notifications are not sent to {why}", path))
    return value


def _headers(headers: Any) -> tuple[tuple[str, ...], list[Issue]]:
    """The headers to store, and an issue for each that may not be sent."""
    if not isinstance(headers, list):  # the R4 model has already refused this
        headers = [headers]
    issues = [
        Issue(p.code, p.message, (f"Subscription.channel.header[{p.index}]",))
        for p in channel_headers.problems(headers)
    ]
    return tuple(channel_headers.normalized(h) for h in headers if isinstance(h, str)), issues


def render(sub: Subscription) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Subscription",
        "id": sub.id,
        "meta": {
            "versionId": str(sub.version),
            "lastUpdated": instant(sub.updated_at),
            "profile": [_rules(sub).profile],
        },
        **sub.resource,
        "status": sub.status,
    }
    if sub.status == "error" and sub.error:
        out["error"] = sub.error
    return out


def _rules(sub: Subscription) -> Rules:
    return rules(sub.pas_version or V221.version)


def _stored(sub: Subscription) -> Stored:
    return Stored(render(sub), sub.id, sub.version)


def _owned(
    session: Session, sub_id: str, principal: Principal, *, lock: bool = False
) -> Subscription:
    if not _ID.match(sub_id):
        raise NotFound(f"Subscription/{sub_id[:64]}")
    if lock:
        outbox.lock_subscription(session, sub_id)
    sub = session.scalar(select(Subscription).where(Subscription.id == sub_id))
    if sub is None or sub.owner != principal.id:
        raise NotFound(f"Subscription/{sub_id}")
    return sub


def _set_filters(session: Session, sub_id: str, values: tuple[str, ...]) -> None:
    session.execute(delete(SubscriptionFilter).where(SubscriptionFilter.subscription_id == sub_id))
    session.add_all(SubscriptionFilter(subscription_id=sub_id, value=v) for v in values)


def _apply(sub: Subscription, spec: Spec) -> None:
    sub.resource = spec.resource
    sub.endpoint = spec.endpoint
    sub.payload = spec.payload
    sub.headers = list(spec.headers)
    sub.ends_at = spec.ends_at
    sub.pas_version = spec.pas_version
    sub.payload_content = spec.content


def _own_filters(spec: Spec, principal: Principal) -> None:
    """spec-59: a client subscribes only to its own organizations' results; otherwise anyone
    could receive another provider's full response bundles."""
    foreign = [v for v in spec.filters if not acts_for(principal, [v])]
    if foreign:
        raise Forbidden(
            f"This client may not subscribe for {', '.join(foreign)}: a filter "
            "may name only the organizations the client is registered for"
        )


def create(
    body: bytes | dict[str, Any],
    principal: Principal,
    services: Services,
    pas_version: str = "2.2.1",
) -> Stored:
    """Store a new subscription as ``requested`` and queue its handshake; ``pas_version`` is
    that of the base it came through, whose rules it follows."""
    spec = parse(body, notification_settings(services.settings), pas_version)
    _own_filters(spec, principal)
    now = services.clock()
    sub = Subscription(
        id=services.ids(),
        owner=principal.id,
        status="off" if spec.off else "requested",
        events_since_start=0,
        version=1,
        created_at=now,
        updated_at=now,
    )
    _apply(sub, spec)
    with services.sessions.begin() as session:
        session.add(sub)
        session.flush()
        _set_filters(session, sub.id, spec.filters)
        if not spec.off:
            outbox.queue_handshake(session, sub, now)
    return _stored(sub)


def read(sub_id: str, principal: Principal, services: Services) -> Stored:
    with services.sessions() as session:
        return _stored(_owned(session, sub_id, principal))


def update(
    sub_id: str,
    body: bytes | dict[str, Any],
    principal: Principal,
    services: Services,
    pas_version: str = "2.2.1",
) -> Stored:
    """Replace a subscription. Status ``off`` pauses it; anything else asks for a new handshake
    (``requested``), after which events held back meanwhile are delivered. It follows the rules
    of the base it is replaced through from then on."""
    spec = parse(body, notification_settings(services.settings), pas_version)
    _own_filters(spec, principal)
    body_id = spec.id
    if body_id is not None and body_id != sub_id:
        raise invalid(
            f"Subscription.id {body_id!r} does not match the id in the URL ({sub_id!r})",
            "Subscription.id",
        )
    now = services.clock()
    with services.sessions.begin() as session:
        sub = _owned(session, sub_id, principal, lock=True)
        _apply(sub, spec)
        sub.status = "off" if spec.off else "requested"
        sub.error = None
        sub.version += 1
        sub.updated_at = now
        _set_filters(session, sub.id, spec.filters)
        session.flush()
        if spec.off:
            outbox.supersede_handshakes(session, sub.id)
        else:
            outbox.queue_handshake(session, sub, now)
        return _stored(sub)


def remove(sub_id: str, principal: Principal, services: Services) -> None:
    """Delete a subscription and everything still queued for it."""
    with services.sessions.begin() as session:
        sub = _owned(session, sub_id, principal, lock=True)
        outbox.forget(session, sub.id)
        _set_filters(session, sub.id, ())
        session.delete(sub)


def _state(sub: Subscription) -> SubscriptionState:
    return SubscriptionState(sub.id, sub.status, sub.events_since_start, sub.error)


def status(sub_id: str, principal: Principal, services: Services) -> dict[str, Any]:
    """Instance ``$status``: a searchset Bundle with the subscription's SubscriptionStatus."""
    with services.sessions() as session:
        sub = _owned(session, sub_id, principal)
        return status_bundle(services.settings.base_url, [_state(sub)], services.clock())


def status_all(
    principal: Principal,
    services: Services,
    *,
    ids: list[str] | None = None,
    statuses: list[str] | None = None,
) -> dict[str, Any]:
    """Type-level ``$status``: the caller's subscriptions, optionally only those ids (unknown
    ones are left out) or statuses."""
    query = select(Subscription).where(Subscription.owner == principal.id)
    if ids:
        query = query.where(Subscription.id.in_(ids))
    if statuses:
        query = query.where(Subscription.status.in_(statuses))
    with services.sessions() as session:
        subs = session.scalars(query.order_by(Subscription.created_at, Subscription.id)).all()
        return status_bundle(
            services.settings.base_url, [_state(s) for s in subs], services.clock()
        )
