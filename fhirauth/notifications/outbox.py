"""The outbox: notifications are written in the transaction of the change that causes them and
delivered later by a worker (``notifications.worker``). Nothing here does network I/O.

Ordering and exclusivity come from the database alone, so any number of delivery loops (threads,
gunicorn workers, ``fhirauth worker`` processes) can share one SQLite file or PostgreSQL:

* event numbers are given out by incrementing ``subscription.events_since_start`` in the change's
  transaction; the row lock that UPDATE takes makes the transactions that notify one subscription
  commit in event-number order;
* a loop may only claim the *oldest* pending event of a subscription (its head), and claims it
  with a conditional UPDATE that succeeds for one loop only: at most one event per subscription
  is in flight, and they go out in event-number order;
* a claim is a lease (``claimed_until``): a loop that dies mid-delivery leaves the event pending,
  and another loop re-sends it, with the same event number, once the lease has run out;
* a claim counts as an attempt, so an event whose delivery never finishes (the loop is killed,
  hangs, or fails in a way nothing could record) still runs out of attempts.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from fhirauth.fhir.bundle import PasRequest, parse_request
from fhirauth.notifications.settings import NotificationSettings
from fhirauth.notifications.topic import request_keys
from fhirauth.store.models import Authorization, OutboxEvent, Submission, Subscription
from fhirauth.store.models import SubscriptionFilter as Filter

log = logging.getLogger(__name__)

HANDSHAKE = "handshake"
EVENT = "event-notification"
PENDING, DELIVERED, SUPERSEDED = "pending", "delivered", "superseded"
# Subscriptions that collect events: active ones, those waiting for their handshake, and those
# in error, so that a repaired subscription (PUT) receives what happened in between.
COLLECTING = ("requested", "active", "error")
# Control characters (NUL above all: PostgreSQL text cannot hold it) never reach an error column.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def record_change(
    session: Session,
    *,
    authorization_id: str,
    request: PasRequest,
    response_bundle: bytes,
    at: datetime,
) -> int:
    """Write one outbox event per subscription whose filter matches the request's sending system
    (TransmissionIdentifiers interchangeSenderID, ISA06) or the requestor organization's
    identifiers (see ``notifications.topic``); returns how many. Never does network I/O.

    Subscriptions that are active, waiting for their handshake or in error collect events;
    ``off`` ones and those whose ``end`` has passed do not."""
    keys = sorted(request_keys(request).all)
    if not keys:
        return 0
    matched = session.scalars(
        select(Subscription.id)
        .join(Filter, Filter.subscription_id == Subscription.id)
        .where(
            Filter.value.in_(keys),
            Subscription.status.in_(COLLECTING),
            or_(Subscription.ends_at.is_(None), Subscription.ends_at > at),
        )
        .distinct()
        .order_by(Subscription.id)  # one lock order for every writer: no deadlocks
    ).all()
    for sub_id in matched:
        session.add(
            OutboxEvent(
                subscription_id=sub_id,
                kind=EVENT,
                event_number=_next_event_number(session, sub_id),
                authorization_id=authorization_id,
                payload=response_bundle,
                status=PENDING,
                attempts=0,
                next_attempt_at=at,
                created_at=at,
            )
        )
    if matched:
        session.flush()
        log.info("authorization %s: %d notification(s) queued", authorization_id, len(matched))
    return len(matched)


def record_change_for_authorization(
    session: Session, *, authorization_id: str, response_bundle: bytes, at: datetime
) -> int:
    """``record_change`` for callers without the parsed request at hand: matches against the
    authorization's latest submitted request bundle."""
    latest = session.scalar(
        select(Submission)
        .where(Submission.authorization_id == authorization_id)
        .order_by(Submission.received_at.desc(), Submission.id.desc())
        .limit(1)
    )
    if latest is None:
        return 0
    return record_change(
        session,
        authorization_id=authorization_id,
        request=parse_request(latest.raw),
        response_bundle=response_bundle,
        at=at,
    )


def _next_event_number(session: Session, subscription_id: str) -> int:
    session.execute(
        update(Subscription)
        .where(Subscription.id == subscription_id)
        .values(events_since_start=Subscription.events_since_start + 1)
        .execution_options(synchronize_session=False)
    )
    number = session.scalar(
        select(Subscription.events_since_start).where(Subscription.id == subscription_id)
    )
    assert number is not None
    return number


def supersede_handshakes(session: Session, subscription_id: str) -> None:
    """Handshakes still pending will not be sent (the subscription changed or was paused)."""
    session.execute(
        update(OutboxEvent)
        .where(
            OutboxEvent.subscription_id == subscription_id,
            OutboxEvent.kind == HANDSHAKE,
            OutboxEvent.status == PENDING,
        )
        .values(status=SUPERSEDED, claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )


def queue_handshake(session: Session, subscription: Subscription, at: datetime) -> None:
    """A (new) handshake for a subscription that is now ``requested``: earlier handshakes still
    pending are superseded, and events held back by an earlier failure get fresh attempts."""
    supersede_handshakes(session, subscription.id)
    session.execute(
        update(OutboxEvent)
        .where(
            OutboxEvent.subscription_id == subscription.id,
            OutboxEvent.kind == EVENT,
            OutboxEvent.status == PENDING,
        )
        .values(attempts=0, next_attempt_at=at)
        .execution_options(synchronize_session=False)
    )
    session.add(
        OutboxEvent(
            subscription_id=subscription.id,
            kind=HANDSHAKE,
            event_number=subscription.events_since_start,
            status=PENDING,
            attempts=0,
            next_attempt_at=at,
            created_at=at,
        )
    )


def forget(session: Session, subscription_id: str) -> None:
    """Drop a deleted subscription's queue."""
    session.execute(delete(OutboxEvent).where(OutboxEvent.subscription_id == subscription_id))


# --- the worker's side ----------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """A claimed event with what its delivery needs."""

    event_id: int
    kind: str
    event_number: int
    attempts: int  # this one included: claiming counts as an attempt
    created_at: datetime
    authorization_id: str | None
    payload: bytes | None
    subscription_id: str
    subscription_status: str
    events_since_start: int
    endpoint: str
    content_type: str
    headers: tuple[str, ...]
    # What the notification carries and in which PAS version's terms (bundles.event_notification).
    pas_version: str = "2.2.1"
    payload_content: str = "full-resource"


def _deliverable(o: type[OutboxEvent] | OutboxEvent) -> object:
    """``o`` is pending and the head of its subscription's queue: no older event (of its kind)
    of that subscription is still pending."""
    earlier = aliased(OutboxEvent)
    return and_(
        o.status == PENDING,
        ~exists().where(
            earlier.subscription_id == o.subscription_id,
            earlier.kind == o.kind,
            earlier.status == PENDING,
            earlier.id < o.id,
        ),
    )


def _unclaimed(now: datetime) -> object:
    return or_(OutboxEvent.claimed_until.is_(None), OutboxEvent.claimed_until < now)


def due(session: Session, now: datetime, limit: int) -> list[int]:
    """Events some loop may claim now: heads of their queue, due, not leased, and of a
    subscription that takes them (events when active, the handshake when requested)."""
    return list(
        session.scalars(
            select(OutboxEvent.id)
            .join(Subscription, Subscription.id == OutboxEvent.subscription_id)
            .where(
                _deliverable(OutboxEvent),
                OutboxEvent.next_attempt_at <= now,
                _unclaimed(now),
                or_(
                    and_(OutboxEvent.kind == EVENT, Subscription.status == "active"),
                    and_(OutboxEvent.kind == HANDSHAKE, Subscription.status == "requested"),
                ),
            )
            .order_by(OutboxEvent.next_attempt_at, OutboxEvent.id)
            .limit(limit)
        )
    )


def claim(session: Session, event_id: int, worker: str, now: datetime, until: datetime) -> bool:
    """Lease one event to ``worker`` and count the attempt: a conditional UPDATE that succeeds
    for one caller only."""
    result = session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.id == event_id, _deliverable(OutboxEvent), _unclaimed(now))
        .values(claimed_by=worker, claimed_until=until, attempts=OutboxEvent.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def job(session: Session, event_id: int) -> Job | None:
    row = session.execute(
        select(OutboxEvent, Subscription)
        .join(Subscription, Subscription.id == OutboxEvent.subscription_id)
        .where(OutboxEvent.id == event_id)
    ).first()
    if row is None:
        return None
    ev, sub = row
    return Job(
        event_id=ev.id,
        kind=ev.kind,
        event_number=ev.event_number,
        attempts=ev.attempts,
        created_at=ev.created_at,
        authorization_id=ev.authorization_id,
        payload=ev.payload,
        subscription_id=sub.id,
        subscription_status=sub.status,
        events_since_start=sub.events_since_start,
        endpoint=sub.endpoint,
        content_type=sub.payload,
        headers=tuple(sub.headers or ()),
        pas_version=sub.pas_version,
        payload_content=sub.payload_content,
    )


def bare_job(session: Session, event_id: int) -> Job | None:
    """The event alone, for recording a failure when ``job`` cannot load the row: enough for
    ``failed``, nothing to deliver (no endpoint, headers or payload)."""
    row = session.execute(
        select(
            OutboxEvent.kind,
            OutboxEvent.event_number,
            OutboxEvent.attempts,
            OutboxEvent.created_at,
            OutboxEvent.subscription_id,
        ).where(OutboxEvent.id == event_id)
    ).first()
    if row is None:
        return None
    kind, number, attempts, created_at, sub_id = row
    return Job(
        event_id=event_id,
        kind=kind,
        event_number=number,
        attempts=attempts,
        created_at=created_at,
        authorization_id=None,
        payload=None,
        subscription_id=sub_id,
        subscription_status="",
        events_since_start=0,
        endpoint="",
        content_type="",
        headers=(),
    )


def _mine(j: Job, worker: str) -> object:
    return and_(
        OutboxEvent.id == j.event_id,
        OutboxEvent.status == PENDING,
        OutboxEvent.claimed_by == worker,
    )


def lock_subscription(session: Session, subscription_id: str) -> None:
    """Take the subscription's row lock (PostgreSQL) or the write lock (SQLite) first.

    Whoever changes a subscription and its queue together locks the subscription row before
    any outbox row, so those transactions cannot deadlock. A write rather than SELECT ... FOR
    UPDATE, because SQLite cannot turn a read into a write once another writer committed."""
    session.execute(
        update(Subscription)
        .where(Subscription.id == subscription_id)
        .values(version=Subscription.version)
        .execution_options(synchronize_session=False)
    )


def delivered(session: Session, j: Job, worker: str, now: datetime) -> bool:
    """Record a 2xx; a handshake makes its subscription active. The event keeps its row (when,
    how many attempts) but not its copy of the response Bundle."""
    if j.kind == HANDSHAKE:
        lock_subscription(session, j.subscription_id)
    result = session.execute(
        update(OutboxEvent)
        .where(_mine(j, worker))
        .values(
            status=DELIVERED,
            delivered_at=now,
            claimed_by=None,
            claimed_until=None,
            last_error=None,
            payload=None,
        )
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False  # our lease ran out and another loop took the event over
    if j.kind == HANDSHAKE:
        _set_status(session, j.subscription_id, ("requested",), "active", None, now)
    return True


def prune(session: Session, before: datetime, limit: int = 1000) -> int:
    """Delete up to ``limit`` events delivered before ``before``, and superseded handshakes
    created before it; how many went. Pending events are never pruned, whatever their age."""
    old = session.scalars(
        select(OutboxEvent.id)
        .where(
            or_(
                and_(OutboxEvent.status == DELIVERED, OutboxEvent.delivered_at < before),
                and_(OutboxEvent.status == SUPERSEDED, OutboxEvent.next_attempt_at < before),
            )
        )
        .limit(limit)
    ).all()
    if old:
        session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(old)))
    return len(old)


def reached_requestor(session: Session, j: Job, now: datetime) -> None:
    """An event carrying a decision was delivered: the decision reached the requestor
    (``authorization.delivered_at``, for the CMS clocks), unless a later decision is still
    on its way. Its own transaction, after ``delivered``: it locks the authorization, which the
    reviewer's transactions lock before the subscription."""
    if j.kind != EVENT or not j.authorization_id:
        return
    session.execute(
        update(Authorization)
        .where(
            Authorization.id == j.authorization_id,
            Authorization.delivered_at.is_(None),
            Authorization.decided_at.is_not(None),
            Authorization.decided_at <= j.created_at,
        )
        .values(delivered_at=now)
        .execution_options(synchronize_session=False)
    )


def failed(
    session: Session,
    j: Job,
    worker: str,
    now: datetime,
    error: str,
    settings: NotificationSettings,
) -> bool:
    """Record a failed attempt (``j.attempts``, counted when it was claimed): retry after an
    exponential backoff, or, after ``settings.max_attempts`` attempts, put the subscription in
    ``error``. The event stays pending (with its number) for when the subscription is
    repaired."""
    attempts = j.attempts
    error = _CONTROL.sub(" ", error).strip() or "failed"
    giving_up = attempts >= settings.max_attempts
    if giving_up:
        lock_subscription(session, j.subscription_id)
    retry_at = now if giving_up else now + timedelta(seconds=settings.delay(attempts))
    result = session.execute(
        update(OutboxEvent)
        .where(_mine(j, worker))
        .values(
            next_attempt_at=retry_at,
            claimed_by=None,
            claimed_until=None,
            last_error=error[:1000],
        )
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    if giving_up:
        expected = ("requested",) if j.kind == HANDSHAKE else ("active",)
        text = (
            f"{'handshake' if j.kind == HANDSHAKE else 'notification'} failed "
            f"{attempts} time(s); last error: {error}"
        )
        _set_status(session, j.subscription_id, expected, "error", text[:1000], now)
        log.warning(
            "subscription %s in error after %d failed attempt(s) of event %d",
            j.subscription_id,
            attempts,
            j.event_number,
        )
    return True


def _set_status(
    session: Session,
    subscription_id: str,
    expected: tuple[str, ...],
    status: str,
    error: str | None,
    now: datetime,
) -> None:
    session.execute(
        update(Subscription)
        .where(Subscription.id == subscription_id, Subscription.status.in_(expected))
        .values(status=status, error=error, version=Subscription.version + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
