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
from datetime import timedelta
from types import FrameType

import requests

from fhirauth.notifications import bundles, delivery, outbox
from fhirauth.notifications.settings import NotificationSettings, notification_settings
from fhirauth.services import Services

log = logging.getLogger(__name__)


def worker_id() -> str:
    """Names one delivery loop in ``outbox_event.claimed_by``."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _claim_next(services: Services, me: str, settings: NotificationSettings) -> outbox.Job | None:
    now = services.clock()
    until = now + timedelta(seconds=settings.lease)
    with services.sessions() as session:
        candidates = outbox.due(session, now, limit=16)
    for event_id in candidates:
        with services.sessions.begin() as session:
            if outbox.claim(session, event_id, me, now, until):
                return outbox.job(session, event_id)
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


def deliver_one(
    services: Services,
    j: outbox.Job,
    me: str,
    settings: NotificationSettings,
    http: requests.Session,
) -> bool:
    """Send one claimed event and record the outcome; True when the endpoint took it."""
    try:
        body = _body(services, j)
    except (ValueError, TypeError) as exc:
        result = delivery.Outcome(False, None, f"cannot build the notification: {exc}")
    else:
        result = delivery.post(http, j.endpoint, body, j.content_type, j.headers, settings)
    now = services.clock()
    with services.sessions.begin() as session:
        if result.ok:
            recorded = outbox.delivered(session, j, me, now)
        else:
            recorded = outbox.failed(session, j, me, now, result.error or "failed", settings)
    if result.ok and recorded:
        with services.sessions.begin() as session:
            outbox.reached_requestor(session, j, now)
    log.info(
        "%s: subscription %s %s %d: %s%s",
        me,
        j.subscription_id,
        j.kind,
        j.event_number,
        "delivered" if result.ok else f"failed ({result.error})",
        "" if recorded else " (lease lost; another loop owns it now)",
    )
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
    attempted (successfully or not)."""
    settings = settings or notification_settings(services.settings)
    me = worker or worker_id()
    session = http or delivery.new_http(settings)
    attempted = 0
    try:
        while attempted < limit and not (stop and stop.is_set()):
            j = _claim_next(services, me, settings)
            if j is None:
                break
            deliver_one(services, j, me, settings, session)
            attempted += 1
    finally:
        if http is None:
            session.close()
    return attempted


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
                stop_event.wait(settings.poll_interval)
    finally:
        http.close()
        log.info("notification worker %s stopped", me)


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
