"""Delivery loops: claim the head of a subscription's queue, POST it, record the outcome.

``deliver_pending`` is one pass; ``run_worker`` loops until told to stop; ``start_worker_thread``
runs one beside the web server; ``run_worker_process`` is ``fhirauth worker``.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import FrameType

import requests

from fhirauth.notifications import bundles, delivery, outbox
from fhirauth.notifications.settings import NotificationSettings, notification_settings
from fhirauth.services import Services

log = logging.getLogger(__name__)
PRUNE_EVERY = timedelta(hours=1)


def worker_id() -> str:
    """Names one delivery loop in ``outbox_event.claimed_by``."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _claim_next(services: Services, me: str, settings: NotificationSettings) -> int | None:
    """Lease the next due event to this loop; its id, or None when nothing is due."""
    now = services.clock()
    until = now + timedelta(seconds=settings.lease)
    with services.sessions() as session:
        candidates = outbox.due(session, now, limit=16)
    for event_id in candidates:
        try:
            with services.sessions.begin() as session:
                if outbox.claim(session, event_id, me, now, until):
                    return event_id
        except Exception as exc:
            # This row cannot be claimed right now (a lock timeout, a deadlock victim): the
            # others still can.
            log.error("%s: cannot claim event %d: %s", me, event_id, type(exc).__name__)
    return None


def _load(
    services: Services, event_id: int, me: str, settings: NotificationSettings
) -> outbox.Job | None:
    """The claimed event with what its delivery needs. A row that cannot be loaded is recorded
    as a failed attempt (so it backs off and, in the end, is given up); None then, and when the
    event is gone (its subscription was deleted meanwhile)."""
    try:
        with services.sessions() as session:
            return outbox.job(session, event_id)
    except Exception as exc:
        error = f"cannot read the subscription or event ({type(exc).__name__})"
    try:
        with services.sessions() as session:
            bare = outbox.bare_job(session, event_id)
    except Exception as exc:
        log.error("%s: cannot read event %d: %s", me, event_id, type(exc).__name__)
        return None
    if bare is not None:
        result = delivery.Outcome(False, None, error)
        _log(me, bare, result, _record(services, bare, me, result, settings))
    return None


def _body(services: Services, j: outbox.Job) -> bytes:
    state = bundles.SubscriptionState(
        j.subscription_id, j.subscription_status, j.events_since_start
    )
    base = services.settings.base_url
    now = services.clock()
    if j.kind == outbox.HANDSHAKE:
        return bundles.handshake(base, state, now)
    if j.payload is None:
        raise ValueError("event without a payload")
    event = bundles.Event(j.event_number, j.created_at, j.payload)
    return bundles.event_notification(
        base, state, event, now, content=j.payload_content, pas_version=j.pas_version
    )


def _describe(exc: Exception) -> str:
    """An exception for the error columns and the log: our own ValueErrors and TypeErrors say
    what is wrong; any other exception's text may quote data (SQL parameters, payloads,
    header values), so only its class is named."""
    if type(exc) in (ValueError, TypeError):
        return f"{type(exc).__name__}: {str(exc)[:300]}"
    return type(exc).__name__


def _attempt(
    services: Services,
    j: outbox.Job,
    settings: NotificationSettings,
    http: requests.Session,
) -> delivery.Outcome:
    """Build and POST one notification; whatever goes wrong is a failed Outcome, never an
    exception, so that it is recorded and backed off like an endpoint's HTTP 500."""
    if j.attempts > settings.max_attempts:
        # Claimed again after its lease ran out, every time: the earlier attempts never
        # finished (the loop was killed, hung, or could not record what happened).
        return delivery.Outcome(
            False, None, f"{j.attempts - 1} attempt(s) never finished within the lease"
        )
    try:
        body = _body(services, j)
    except Exception as exc:
        return delivery.Outcome(False, None, f"cannot build the notification: {_describe(exc)}")
    try:
        return delivery.post(http, j.endpoint, body, j.content_type, j.headers, settings)
    except Exception as exc:
        return delivery.Outcome(False, None, f"delivery failed: {_describe(exc)}")


def _record(
    services: Services,
    j: outbox.Job,
    me: str,
    result: delivery.Outcome,
    settings: NotificationSettings,
) -> bool:
    """Write the outcome; False when our lease was lost or nothing could be written (then the
    lease runs out and the event is tried again, the attempt counted)."""
    now = services.clock()
    try:
        with services.sessions.begin() as session:
            if result.ok:
                return outbox.delivered(session, j, me, now)
            return outbox.failed(session, j, me, now, result.error or "failed", settings)
    except Exception as exc:
        log.error(
            "%s: cannot record the outcome of event %d: %s", me, j.event_id, type(exc).__name__
        )
        if result.ok:
            return False  # it was delivered: at least once, it will be sent again
    try:  # once more, in our own words only: the error's text may have been the trouble
        with services.sessions.begin() as session:
            return outbox.failed(
                session, j, me, now, "delivery failed; the reason could not be recorded", settings
            )
    except Exception as exc:
        log.error("%s: cannot record event %d at all: %s", me, j.event_id, type(exc).__name__)
        return False


def _log(me: str, j: outbox.Job, result: delivery.Outcome, recorded: bool) -> None:
    log.info(
        "%s: subscription %s %s %d: %s%s",
        me,
        j.subscription_id,
        j.kind,
        j.event_number,
        "delivered" if result.ok else f"failed ({result.error})",
        "" if recorded else " (not recorded: lease lost or database trouble)",
    )


def deliver_one(
    services: Services,
    j: outbox.Job,
    me: str,
    settings: NotificationSettings,
    http: requests.Session,
) -> bool:
    """Send one claimed event and record the outcome; True when the endpoint took it. Never
    raises: any failure is recorded on the event, which backs off and, after
    ``settings.max_attempts``, puts its subscription in ``error``."""
    result = _attempt(services, j, settings, http)
    recorded = _record(services, j, me, result, settings)
    if result.ok and recorded:
        try:
            with services.sessions.begin() as session:
                outbox.reached_requestor(session, j, services.clock())
        except Exception as exc:
            log.error(
                "%s: cannot note that authorization of event %d was delivered: %s",
                me,
                j.event_id,
                type(exc).__name__,
            )
    _log(me, j, result, recorded)
    return result.ok


def deliver_pending(
    services: Services,
    *,
    limit: int,
    settings: NotificationSettings | None = None,
    worker: str | None = None,
    http: requests.Session | None = None,
    stop: threading.Event | None = None,
) -> int:
    """One pass: deliver up to ``limit`` due events, one at a time; returns how many were
    attempted (successfully or not). One event's trouble, whatever it is, is recorded on that
    event and does not stop the others."""
    settings = settings or notification_settings(services.settings)
    me = worker or worker_id()
    session = http or delivery.new_http(settings)
    attempted = 0
    try:
        while attempted < limit and not (stop and stop.is_set()):
            event_id = _claim_next(services, me, settings)
            if event_id is None:
                break
            j = _load(services, event_id, me, settings)
            if j is not None:
                deliver_one(services, j, me, settings, session)
            attempted += 1
    finally:
        if http is None:
            session.close()
    return attempted


def prune_delivered(services: Services, settings: NotificationSettings) -> int:
    """Delete the events delivered more than ``retention_days`` ago, a thousand per
    transaction so that no lock is held long; how many went."""
    before = services.clock() - timedelta(days=settings.retention_days)
    pruned = 0
    while True:
        with services.sessions.begin() as session:
            n = outbox.prune(session, before)
        pruned += n
        if n < 1000:
            return pruned


def run_worker(
    services: Services,
    stop_event: threading.Event,
    *,
    settings: NotificationSettings | None = None,
    worker: str | None = None,
) -> None:
    """Deliver until ``stop_event`` is set, resting ``poll_interval`` when idle. Database or
    network trouble is logged and retried, never fatal."""
    settings = settings or notification_settings(services.settings)
    me = worker or worker_id()
    http = delivery.new_http(settings)
    log.info("notification worker %s started", me)
    pruned_at: datetime | None = None
    try:
        while not stop_event.is_set():
            try:
                n = deliver_pending(
                    services,
                    limit=settings.batch,
                    settings=settings,
                    worker=me,
                    http=http,
                    stop=stop_event,
                )
            except Exception as exc:
                # The exception's text may quote SQL parameters (payloads): log its class only.
                log.error("notification worker %s: %s; retrying", me, type(exc).__name__)
                n = 0
            if n < settings.batch:
                pruned_at = _prune_when_due(services, settings, me, pruned_at)
                stop_event.wait(settings.poll_interval)
    finally:
        http.close()
        log.info("notification worker %s stopped", me)


def _prune_when_due(
    services: Services, settings: NotificationSettings, me: str, last: datetime | None
) -> datetime | None:
    """Prune at most once an hour per loop, when it is idle; trouble waits for the next hour."""
    now = services.clock()
    if last is not None and now - last < PRUNE_EVERY:
        return last
    try:
        n = prune_delivered(services, settings)
    except Exception as exc:
        log.error("notification worker %s: pruning failed: %s", me, type(exc).__name__)
        return now
    if n:
        log.info("notification worker %s pruned %d delivered events", me, n)
    return now


@dataclass
class WorkerThread:
    thread: threading.Thread
    stop_event: threading.Event

    def stop(self, timeout: float | None = None) -> None:
        self.stop_event.set()
        self.thread.join(timeout)


def start_worker_thread(
    services: Services, *, settings: NotificationSettings | None = None, name: str = "notify"
) -> WorkerThread:
    """A delivery loop on a daemon thread beside the web server (``fhirauth serve``)."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run_worker,
        args=(services, stop),
        kwargs={"settings": settings},
        name=f"fhirauth-{name}",
        daemon=True,
    )
    thread.start()
    return WorkerThread(thread, stop)


def run_worker_process(services: Services, *, loops: int = 1) -> None:
    """``fhirauth worker``: ``loops`` delivery loops until SIGTERM or SIGINT."""
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping after the deliveries in flight", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    threads = [start_worker_thread(services, name=f"notify-{i}") for i in range(loops)]
    while not stop.wait(1.0):
        pass
    for t in threads:
        t.stop()
