"""Delivered notifications are pruned after FHIRAUTH_NOTIFY_RETENTION_DAYS; pending ones never
are, and nothing else (authorizations, their versions, the audit trail) is touched."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from fhirauth.notifications.settings import NotificationSettings
from fhirauth.notifications.worker import deliver_pending, prune_delivered, start_worker_thread
from fhirauth.operations import subscription as ops
from fhirauth.principal import ANONYMOUS
from fhirauth.services import Services
from fhirauth.store.models import OutboxEvent
from tests.notifications.helpers import WAIT, Receiver, TestClock, change, subscription, wait_until

pytest_plugins = ("tests.notifications.fixtures",)
DAY = 86_400.0


def statuses(services: Services) -> list[str]:
    with services.sessions() as session:
        return list(session.scalars(select(OutboxEvent.status).order_by(OutboxEvent.id)))


def delivered_then_one_pending(
    services: Services, receiver: Receiver, notify: NotificationSettings
) -> None:
    ops.create(subscription(receiver.url), ANONYMOUS, services)
    deliver_pending(services, limit=10, settings=notify)
    change(services, 1)
    change(services, 2)
    deliver_pending(services, limit=10, settings=notify)
    change(services, 3)  # not delivered yet
    assert statuses(services) == ["delivered"] * 3 + ["pending"]


def test_delivered_events_go_after_the_retention_and_pending_ones_stay(
    nservices: Services, receiver: Receiver, notify: NotificationSettings, clock: TestClock
) -> None:
    delivered_then_one_pending(nservices, receiver, notify)
    clock.advance(notify.retention_days * DAY - 60)
    assert prune_delivered(nservices, notify) == 0
    clock.advance(120)
    assert prune_delivered(nservices, notify) == 3
    assert statuses(nservices) == ["pending"]
    clock.advance(365 * DAY)
    assert prune_delivered(nservices, notify) == 0


def test_an_idle_delivery_loop_prunes(
    nservices: Services, receiver: Receiver, notify: NotificationSettings, clock: TestClock
) -> None:
    delivered_then_one_pending(nservices, receiver, notify)
    clock.advance(notify.retention_days * DAY + 60)
    worker = start_worker_thread(nservices, settings=notify)
    try:
        wait_until(lambda: statuses(nservices) == ["delivered"])  # the pending one, delivered
    finally:
        worker.stop(WAIT)


def test_the_retention_is_a_positive_number_of_days() -> None:
    env = {"FHIRAUTH_NOTIFY_RETENTION_DAYS": "7.5"}
    assert NotificationSettings.from_env(env).retention_days == 7.5
    assert NotificationSettings().retention_days == 30.0
    with pytest.raises(ValueError, match="RETENTION_DAYS"):
        NotificationSettings(retention_days=0)
