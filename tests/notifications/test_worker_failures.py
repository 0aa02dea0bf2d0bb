"""Whatever goes wrong delivering one event (a header stored before headers were checked, a
payload that cannot be built, an exception from requests, a row that cannot be read or written,
a loop that never finishes) is recorded on that event, backed off, and after
``max_attempts`` gives the subscription up (``error``), while the other subscriptions' events
are still delivered. Nothing loops forever."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from fhirauth.notifications import bundles, delivery, outbox
from fhirauth.notifications import headers as channel_headers
from fhirauth.notifications.settings import NotificationSettings
from fhirauth.notifications.worker import deliver_pending
from fhirauth.operations import subscription as ops
from fhirauth.principal import ANONYMOUS
from fhirauth.services import Services
from fhirauth.store.models import OutboxEvent, Subscription
from tests.notifications.helpers import Receiver, TestClock, change, subscription

pytest_plugins = ("tests.notifications.fixtures",)

BACKOFF = (10, 20)  # the fixture's base_delay, doubled: max_attempts is 3


def subscribe(services: Services, receiver: Receiver, notify: NotificationSettings) -> str:
    sub_id = ops.create(subscription(receiver.url), ANONYMOUS, services).id
    deliver_pending(services, limit=5, settings=notify)
    assert ops.read(sub_id, ANONYMOUS, services).resource["status"] == "active"
    return sub_id


def store_headers(services: Services, sub_id: str, headers: Any) -> None:
    """What a row written before channel.header was checked may hold."""
    with services.sessions.begin() as session:
        session.execute(
            update(Subscription).where(Subscription.id == sub_id).values(headers=headers)
        )


def event(services: Services, sub_id: str) -> OutboxEvent:
    """The subscription's first event."""
    with services.sessions() as session:
        return session.scalars(
            select(OutboxEvent).where(
                OutboxEvent.subscription_id == sub_id,
                OutboxEvent.kind == outbox.EVENT,
                OutboxEvent.event_number == 1,
            )
        ).one()


def events(receiver: Receiver) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for a in receiver.of_kind("event-notification"):
        out.setdefault(a.subscription_id, []).append(a.event_number)
    return out


def status(services: Services, sub_id: str) -> dict[str, Any]:
    return ops.read(sub_id, ANONYMOUS, services).resource


def fails_until_given_up(
    services: Services,
    notify: NotificationSettings,
    clock: TestClock,
    bad: str,
    good: str,
    receiver: Receiver,
    error: str,
) -> None:
    """Three passes, backing off 10 s then 20 s: ``bad``'s event fails each time with ``error``
    and is then given up; ``good`` gets a new event delivered in every pass."""
    for n, wait in enumerate((0, *BACKOFF), start=1):
        clock.advance(wait)
        if n > 1:
            change(services, n)
        start = clock()
        assert deliver_pending(services, limit=10, settings=notify) == 2  # bad's, and good's
        ev = event(services, bad)
        assert ev.status == "pending" and ev.attempts == n
        assert error in (ev.last_error or ""), ev.last_error
        if n < notify.max_attempts:
            assert ev.next_attempt_at == start + timedelta(seconds=BACKOFF[n - 1])
            assert deliver_pending(services, limit=10, settings=notify) == 0  # backing off
            assert status(services, bad)["status"] == "active"
    given_up = status(services, bad)
    assert given_up["status"] == "error"
    assert f"failed {notify.max_attempts} time(s)" in given_up["error"]
    assert error in given_up["error"]
    clock.advance(3600)
    assert deliver_pending(services, limit=10, settings=notify) == 0  # no more attempts
    assert events(receiver) == {good: [1, 2, 3]}  # none of bad's reached the endpoint


@pytest.fixture
def pair(nservices: Services, receiver: Receiver, notify: NotificationSettings) -> tuple[str, str]:
    """Two active subscriptions with one event each: (bad, good)."""
    bad = subscribe(nservices, receiver, notify)
    good = subscribe(nservices, receiver, notify)
    change(nservices, 1)
    return bad, good


@pytest.mark.parametrize("checked", [True, False], ids=["checked", "unchecked"])
def test_a_header_stored_before_headers_were_checked(
    nservices: Services,
    receiver: Receiver,
    notify: NotificationSettings,
    clock: TestClock,
    pair: tuple[str, str],
    checked: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not Latin-1: http.client raises UnicodeEncodeError, which is no RequestException.
    Delivery checks headers before sending; without that check ("unchecked") the exception
    itself is recorded."""
    bad, good = pair
    store_headers(nservices, bad, ["Authorization: Bearer caf\u2603"])
    if not checked:
        monkeypatch.setattr(channel_headers, "problems", lambda _h: [])
    error = "channel.header[0] cannot be sent" if checked else "UnicodeEncodeError"
    fails_until_given_up(nservices, notify, clock, bad, good, receiver, error)
    assert "\u2603" not in (event(nservices, bad).last_error or "")


def test_a_payload_that_cannot_be_built(
    nservices: Services,
    receiver: Receiver,
    notify: NotificationSettings,
    clock: TestClock,
    pair: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bad, good = pair
    real = bundles.event_notification

    def builder(base: str, state: bundles.SubscriptionState, *args: Any, **kw: Any) -> bytes:
        if state.id == bad:
            raise RuntimeError("text that may quote a patient")
        return real(base, state, *args, **kw)

    monkeypatch.setattr(bundles, "event_notification", builder)
    fails_until_given_up(
        nservices, notify, clock, bad, good, receiver, "cannot build the notification"
    )
    assert event(nservices, bad).last_error == "cannot build the notification: RuntimeError"


def test_an_exception_from_the_http_layer(
    nservices: Services,
    receiver: Receiver,
    notify: NotificationSettings,
    clock: TestClock,
    pair: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bad, good = pair
    real = delivery.post
    bad_endpoint = receiver.url + "?bad"
    with nservices.sessions.begin() as session:
        session.execute(
            update(Subscription).where(Subscription.id == bad).values(endpoint=bad_endpoint)
        )

    def post(http: Any, endpoint: str, *args: Any) -> delivery.Outcome:
        if endpoint == bad_endpoint:
            raise KeyError("nobody expected this")
        return real(http, endpoint, *args)

    monkeypatch.setattr(delivery, "post", post)
    fails_until_given_up(nservices, notify, clock, bad, good, receiver, "delivery failed: KeyError")


def test_a_row_that_cannot_be_read(
    nservices: Services,
    receiver: Receiver,
    notify: NotificationSettings,
    clock: TestClock,
    pair: tuple[str, str],
) -> None:
    bad, good = pair
    store_headers(nservices, bad, 5)  # not a list: reading the job fails
    fails_until_given_up(
        nservices, notify, clock, bad, good, receiver, "cannot read the subscription or event"
    )


def test_an_error_text_the_database_cannot_hold(
    nservices: Services,
    receiver: Receiver,
    notify: NotificationSettings,
    pair: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PostgreSQL text cannot hold NUL: control characters are dropped from error texts."""
    bad, good = pair
    monkeypatch.setattr(
        delivery, "post", lambda *_a: delivery.Outcome(False, 500, "answer:\x00\r\nbad")
    )
    assert deliver_pending(nservices, limit=10, settings=notify) == 2
    assert event(nservices, bad).last_error == "answer: bad"
    assert event(nservices, good).last_error == "answer: bad"


def test_an_outcome_that_cannot_be_recorded_is_recorded_in_our_words(
    nservices: Services,
    receiver: Receiver,
    notify: NotificationSettings,
    clock: TestClock,
    pair: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bad, good = pair
    receiver.behaviour = lambda a: 500 if a.subscription_id == bad else 200
    real: Callable[..., bool] = outbox.failed
    calls: list[str] = []

    def failed(session: Any, j: outbox.Job, worker: str, now: Any, error: str, *a: Any) -> bool:
        calls.append(error)
        if len(calls) == 1:
            raise RuntimeError("the database said no")
        return real(session, j, worker, now, error, *a)

    monkeypatch.setattr(outbox, "failed", failed)
    start = clock()
    assert deliver_pending(nservices, limit=10, settings=notify) == 2
    ev = event(nservices, bad)
    assert ev.last_error == "delivery failed; the reason could not be recorded"
    assert ev.attempts == 1 and ev.next_attempt_at == start + timedelta(seconds=10)
    assert ev.claimed_by is None
    assert event(nservices, good).status == "delivered"


def test_attempts_that_never_finish_are_given_up(
    nservices: Services,
    receiver: Receiver,
    notify: NotificationSettings,
    clock: TestClock,
    pair: tuple[str, str],
) -> None:
    """A loop that claims the event and dies, again and again (the event kills it, say): each
    claim is an attempt, and once they are used up the next loop gives the event up."""
    bad, good = pair
    ev_id = event(nservices, bad).id
    for _ in range(notify.max_attempts):
        now = clock()
        with nservices.sessions.begin() as session:
            assert outbox.claim(session, ev_id, "doomed", now, now + timedelta(seconds=10))
        clock.advance(10.001)
    assert deliver_pending(nservices, limit=10, settings=notify) == 2
    given_up = status(nservices, bad)
    assert given_up["status"] == "error"
    assert "3 attempt(s) never finished" in given_up["error"]
    assert events(receiver) == {good: [1]}
