"""Fixtures for subscription and notification tests (``pytest_plugins`` in each test module).

``nservices`` is the project's ``services`` with a clock the test moves and notification
settings for fast tests; the settings reach ``Settings.notifications`` once config.py has that
field, and the FHIRAUTH_NOTIFY_* environment until then."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from fhirauth import create_app
from fhirauth.api import subscriptions
from fhirauth.config import Settings
from fhirauth.notifications.settings import NotificationSettings
from fhirauth.services import Services
from tests.notifications.helpers import Receiver, TestClock


def with_notify(
    settings: Settings, notify: NotificationSettings, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    if any(f.name == "notifications" for f in dataclasses.fields(settings)):
        return dataclasses.replace(settings, notifications=notify)  # type: ignore[call-arg]
    for f in dataclasses.fields(notify):
        monkeypatch.setenv(f"FHIRAUTH_NOTIFY_{f.name.upper()}", str(getattr(notify, f.name)))
    return settings


@pytest.fixture
def clock() -> TestClock:
    return TestClock()


@pytest.fixture
def notify() -> NotificationSettings:
    return NotificationSettings(
        max_attempts=3,
        base_delay=10.0,
        max_delay=60.0,
        connect_timeout=1.0,
        read_timeout=2.0,
        lease=10.0,
        poll_interval=0.05,
        batch=20,
        allow_http=True,
        allow_loopback=True,
    )


@pytest.fixture
def nservices(
    settings: Settings,
    notify: NotificationSettings,
    clock: TestClock,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Services]:
    svc = Services.build(with_notify(settings, notify, monkeypatch), clock=clock)
    yield svc
    svc.engine.dispose()


@pytest.fixture
def napp(nservices: Services) -> Flask:
    app = create_app(services=nservices)
    if "subscriptions" not in app.blueprints:  # until fhirauth/__init__.py registers it
        app.register_blueprint(subscriptions.bp)
    app.config["TESTING"] = False
    return app


@pytest.fixture
def nclient(napp: Flask) -> FlaskClient:
    return napp.test_client()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx
