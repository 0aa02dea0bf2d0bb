"""Notification shapes of the R5 Backport (1.1.0) for R4: the SubscriptionStatus Parameters,
handshake and event-notification Bundles, and the ``$status`` answer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from fhirauth.notifications.topic import BACKPORT, PAS_TOPIC

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


def event_notification(base_url: str, sub: SubscriptionState, event: Event, now: datetime) -> bytes:
    """History Bundle: the SubscriptionStatus, then the PAS response Bundle, byte for byte as
    stored (spliced in, never re-encoded)."""
    response = orjson.loads(event.payload)
    if not isinstance(response, dict) or response.get("resourceType") != "Bundle":
        raise ValueError("an event's payload must be a PAS response Bundle")
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
    return raw.replace(token, event.payload.strip(), 1)


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
