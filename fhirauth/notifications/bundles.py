"""Notification shapes of the R5 Backport (1.1.0) for R4: the SubscriptionStatus Parameters,
handshake and event-notification Bundles, and the ``$status`` answer.

An event notification follows the subscription's payload content and PAS version:
``full-resource`` carries the PAS response Bundle (for a PAS 2.0.1 subscription, said in 2.0.1
terms by ``decision.v201.as_v201``); ``id-only`` (PAS 2.0.1) carries only the SubscriptionStatus,
whose notification-event ``focus`` is the ClaimResponse's URL under the subscription's base,
where the client reads the result."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from fhirauth.decision.v201 import as_v201
from fhirauth.fhir.systems import PAS_BASES
from fhirauth.notifications.topic import BACKPORT, FULL_RESOURCE, ID_ONLY, PAS_TOPIC

STATUS_PROFILE = BACKPORT + "backport-subscription-status-r4"
NOTIFICATION_PROFILE = BACKPORT + "backport-subscription-notification-r4"


@dataclass(frozen=True)
class SubscriptionState:
    """What a status report says about one subscription."""

    id: str
    status: str
    events_since_start: int
    error: str | None = None


@dataclass(frozen=True)
class Event:
    number: int
    at: datetime
    # The PAS response Bundle's exact bytes.
    payload: bytes


def instant(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def subscription_url(base_url: str, subscription_id: str) -> str:
    return f"{base_url}/Subscription/{subscription_id}"


def status_parameters(
    base_url: str,
    sub: SubscriptionState,
    kind: str,
    *,
    event: Event | None = None,
    focus: str | None = None,
) -> dict[str, Any]:
    """A backport-subscription-status-r4 Parameters of type ``kind`` (handshake,
    event-notification, query-status), with one notification-event when ``event`` is given."""
    params: list[dict[str, Any]] = [
        {
            "name": "subscription",
            "valueReference": {"reference": subscription_url(base_url, sub.id)},
        },
        {"name": "topic", "valueCanonical": PAS_TOPIC},
        {"name": "status", "valueCode": sub.status},
        {"name": "type", "valueCode": kind},
        {"name": "events-since-subscription-start", "valueString": str(sub.events_since_start)},
    ]
    if event is not None:
        parts: list[dict[str, Any]] = [
            {"name": "event-number", "valueString": str(event.number)},
            {"name": "timestamp", "valueInstant": instant(event.at)},
        ]
        if focus:
            parts.append({"name": "focus", "valueReference": {"reference": focus}})
        params.append({"name": "notification-event", "part": parts})
    if sub.error and kind == "query-status":
        params.append({"name": "error", "valueCodeableConcept": {"text": sub.error}})
    return {
        "resourceType": "Parameters",
        "id": uuid.uuid4().hex,
        "meta": {"profile": [STATUS_PROFILE]},
        "parameter": params,
    }


def _status_entry(base_url: str, params: dict[str, Any], sub_id: str) -> dict[str, Any]:
    return {
        "fullUrl": f"urn:uuid:{uuid.UUID(params['id'])}",
        "resource": params,
        "request": {"method": "GET", "url": f"{subscription_url(base_url, sub_id)}/$status"},
        "response": {"status": "200"},
    }


def _history(entries: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "id": uuid.uuid4().hex,
        "meta": {"profile": [NOTIFICATION_PROFILE]},
        "type": "history",
        "timestamp": instant(now),
        "entry": entries,
    }


def handshake(base_url: str, sub: SubscriptionState, now: datetime) -> bytes:
    params = status_parameters(base_url, sub, "handshake")
    return orjson.dumps(_history([_status_entry(base_url, params, sub.id)], now))


def focus_url(payload: dict[str, Any]) -> str:
    """The notification's fullUrl for the PAS response Bundle: its own urn:uuid identifier
    when it has one (ours always do), else a fresh urn:uuid."""
    ident = payload.get("identifier")
    value = ident.get("value") if isinstance(ident, dict) else None
    if isinstance(value, str) and value.startswith("urn:uuid:"):
        return value
    return f"urn:uuid:{uuid.uuid4()}"


def pas_base(base_url: str, pas_version: str) -> str:
    """Where a PAS version is served under the FHIR base (``/fhir``, ``/fhir/pas/v2.0.1``)."""
    if pas_version not in PAS_BASES:
        raise ValueError(f"unknown PAS version {pas_version!r}")
    return base_url + PAS_BASES[pas_version]


def claim_response_url(base: str, response: dict[str, Any]) -> str:
    """``{base}/ClaimResponse/{id}`` for the ClaimResponse a PAS response Bundle answers with
    (its first entry)."""
    entries = response.get("entry")
    first = entries[0].get("resource") if isinstance(entries, list) and entries else None
    if (
        not isinstance(first, dict)
        or first.get("resourceType") != "ClaimResponse"
        or not isinstance(first.get("id"), str)
    ):
        raise ValueError("the PAS response Bundle does not start with a ClaimResponse")
    return f"{base}/ClaimResponse/{first['id']}"


def event_notification(
    base_url: str,
    sub: SubscriptionState,
    event: Event,
    now: datetime,
    *,
    content: str = FULL_RESOURCE,
    pas_version: str = "2.2.1",
) -> bytes:
    """History Bundle: the SubscriptionStatus, then (``full-resource``) the PAS response
    Bundle. For PAS 2.2.1 that Bundle is spliced in byte for byte as stored, never re-encoded;
    for PAS 2.0.1 it is its ``as_v201`` form under the 2.0.1 base. ``id-only`` notifications
    carry the SubscriptionStatus alone, its focus the ClaimResponse under the subscription's
    base."""
    response = orjson.loads(event.payload)
    if not isinstance(response, dict) or response.get("resourceType") != "Bundle":
        raise ValueError("an event's payload must be a PAS response Bundle")
    base = pas_base(base_url, pas_version)
    if content == ID_ONLY:
        focus = claim_response_url(base, response)
        params = status_parameters(base_url, sub, "event-notification", event=event, focus=focus)
        return orjson.dumps(_history([_status_entry(base_url, params, sub.id)], now))
    if content != FULL_RESOURCE:
        raise ValueError(f"unknown payload content {content!r}")
    payload = event.payload.strip()
    if base != base_url:
        payload = orjson.dumps(as_v201(response, base))
    focus = focus_url(response)
    params = status_parameters(base_url, sub, "event-notification", event=event, focus=focus)
    placeholder = uuid.uuid4().hex
    bundle_ref = f"Bundle/{response['id']}" if isinstance(response.get("id"), str) else "Bundle"
    doc = _history(
        [
            _status_entry(base_url, params, sub.id),
            {
                "fullUrl": focus,
                "resource": placeholder,
                "request": {"method": "GET", "url": bundle_ref},
                "response": {"status": "200"},
            },
        ],
        now,
    )
    raw = orjson.dumps(doc)
    token = orjson.dumps(placeholder)
    if raw.count(token) != 1:  # pragma: no cover - a fresh uuid cannot appear elsewhere
        raise RuntimeError("placeholder collision")
    return raw.replace(token, payload, 1)


def status_bundle(base_url: str, subs: list[SubscriptionState], now: datetime) -> dict[str, Any]:
    """``$status``: a searchset Bundle of query-status Parameters, one per subscription."""
    entries = []
    for sub in subs:
        params = status_parameters(base_url, sub, "query-status")
        entries.append(
            {
                "fullUrl": f"urn:uuid:{uuid.UUID(params['id'])}",
                "resource": params,
                "search": {"mode": "match"},
            }
        )
    return {
        "resourceType": "Bundle",
        "id": uuid.uuid4().hex,
        "type": "searchset",
        "timestamp": instant(now),
        "total": len(entries),
        "entry": entries,
    }
