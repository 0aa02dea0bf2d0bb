"""Delivery loops: a worker thread end to end, loops racing for the same events (threads and
processes), and a worker process killed in the middle of a delivery."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from fhirauth.clock import system_clock
from fhirauth.config import Settings
from fhirauth.notifications import outbox
from fhirauth.notifications.settings import NotificationSettings
from fhirauth.notifications.worker import deliver_pending, start_worker_thread
from fhirauth.operations import subscription as ops
from fhirauth.principal import ANONYMOUS
from fhirauth.services import Services
from fhirauth.store.models import OutboxEvent
from tests.conftest import ROOT
from tests.notifications.helpers import WAIT, Arrival, Receiver, change, subscription, wait_until

pytest_plugins = ("tests.notifications.fixtures",)


def undelivered(services: Services) -> int:
    with services.sessions() as session:
        return (
            session.scalar(
                select(func.count()).select_from(OutboxEvent).where(OutboxEvent.status == "pending")
            )
            or 0
        )


def events_by_subscription(arrivals: list[Arrival]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for a in arrivals:
        if a.kind == "event-notification":
            out.setdefault(a.subscription_id, []).append(a.event_number)
    return out


class WorkerProcess:
    """``fhirauth worker`` in a child process, on the system clock."""

    def __init__(self, settings: Settings, notify: NotificationSettings, log: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "FHIRAUTH_BASE_URL": settings.base_url}
        for name, value in notify.__dict__.items():
            env[f"FHIRAUTH_NOTIFY_{name.upper()}"] = str(value)
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "fhirauth",
                    "worker",
                    "--data-dir",
                    str(settings.data_dir),
                    "--database-url",
                    settings.db_url,
                ],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def started(self) -> bool:
        return b"notification worker" in self.log.read_bytes()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(WAIT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.kill()


def test_worker_thread_handshakes_and_notifies(
    nservices: Services, receiver: Receiver, notify: NotificationSettings
) -> None:
    sub_id = ops.create(subscription(receiver.url), ANONYMOUS, nservices).id
    worker = start_worker_thread(nservices, settings=notify)
    try:
        receiver.wait_for(lambda arr: len(arr) == 1)
        wait_until(lambda: ops.read(sub_id, ANONYMOUS, nservices).resource["status"] == "active")
        change(nservices, 1)
        change(nservices, 2)
        receiver.wait_for(lambda arr: len(arr) == 3)
    finally:
        worker.stop(WAIT)
    assert not worker.thread.is_alive()
    assert [a.kind for a in receiver.arrivals] == ["handshake", *["event-notification"] * 2]
    assert events_by_subscription(receiver.arrivals) == {sub_id: [1, 2]}


def test_claiming_is_exclusive(nservices: Services, receiver: Receiver) -> None:
    """Many loops claim the same event at the same instant: exactly one gets it."""
    ops.create(subscription(receiver.url), ANONYMOUS, nservices)
    now = nservices.clock()
    with nservices.sessions() as session:
        [event_id] = outbox.due(session, now, 10)
    barrier = threading.Barrier(8)
    won: list[str] = []

    def contend(name: str) -> None:
        barrier.wait(WAIT)
        with nservices.sessions.begin() as session:
            if outbox.claim(session, event_id, name, now, now.replace(year=now.year + 1)):
                won.append(name)

    threads = [threading.Thread(target=contend, args=(f"loop-{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert len(won) == 1


def test_concurrent_loops_never_deliver_the_same_event_at_once(
    settings: Settings,
    nservices: Services,
    receiver: Receiver,
    notify: NotificationSettings,
    tmp_path: Path,
) -> None:
    """Two worker processes and three threads share the queue of three subscriptions. The
    receiver notes any request arriving while another for the same subscription is in flight."""

    def slow(_a: Arrival) -> int:
        time.sleep(0.01)
        return 200

    receiver.behaviour = slow
    # The threads take leases on the processes' clock: a lease the test clock froze would
    # expire for the processes once the test ran longer than it (a slow start under load).
    nservices.clock = system_clock
    subs = [ops.create(subscription(receiver.url), ANONYMOUS, nservices).id for _ in range(3)]
    procs = [WorkerProcess(settings, notify, tmp_path / f"worker-{i}.log") for i in range(2)]
    threads = []
    try:
        wait_until(lambda: all(p.started() for p in procs), every=0.05)
        for n in range(1, 13):
            change(nservices, n)
        threads = [start_worker_thread(nservices, settings=notify) for _ in range(3)]
        wait_until(lambda: undelivered(nservices) == 0, every=0.05)
    finally:
        for w in threads:
            w.stop(WAIT)
        for p in procs:
            p.stop()
    assert receiver.overlaps == []
    assert Counter(a.kind for a in receiver.arrivals) == {"handshake": 3, "event-notification": 36}
    assert events_by_subscription(receiver.arrivals) == {s: list(range(1, 13)) for s in subs}


def test_a_worker_killed_mid_delivery_loses_nothing(
    settings: Settings,
    nservices: Services,
    receiver: Receiver,
    notify: NotificationSettings,
    tmp_path: Path,
) -> None:
    """SIGKILL a worker process while the receiver holds event 3; a new worker re-sends it (same
    number) once the dead worker's lease runs out, then the rest, in order."""
    sub_id = ops.create(subscription(receiver.url), ANONYMOUS, nservices).id
    assert deliver_pending(nservices, limit=5, settings=notify) == 1
    for n in range(1, 6):
        change(nservices, n)

    holding = threading.Event()
    release = threading.Event()

    def hold_event_3(a: Arrival) -> int:
        if a.kind == "event-notification" and a.event_number == 3 and not holding.is_set():
            holding.set()
            release.wait(WAIT)
        return 200

    receiver.behaviour = hold_event_3
    quick = NotificationSettings(
        **{
            **notify.__dict__,
            "connect_timeout": 0.5,
            "read_timeout": 1.0,
            "lease": 3.0,
            "base_delay": 0.1,
            "max_attempts": 10,
        }
    )
    first = WorkerProcess(settings, quick, tmp_path / "first.log")
    try:
        assert holding.wait(WAIT), first.log.read_text()
        first.kill()
    finally:
        release.set()
        first.stop()
    with nservices.sessions() as session:
        held = session.scalars(
            select(OutboxEvent).where(OutboxEvent.kind == "event-notification")
        ).all()
        state = {e.event_number: (e.status, e.claimed_by is not None) for e in held}
    assert state == {
        1: ("delivered", False),
        2: ("delivered", False),
        3: ("pending", True),  # claimed by the dead worker
        4: ("pending", False),
        5: ("pending", False),
    }

    second = WorkerProcess(settings, quick, tmp_path / "second.log")
    try:
        wait_until(lambda: undelivered(nservices) == 0, every=0.05)
    finally:
        second.stop()
    numbers = events_by_subscription(receiver.arrivals)[sub_id]
    assert numbers == [1, 2, 3, 3, 4, 5]  # 3 twice, with its number; none lost; in order
