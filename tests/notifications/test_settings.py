"""FHIRAUTH_NOTIFY_* settings."""

from __future__ import annotations

import pytest

from fhirauth.notifications.settings import NotificationSettings


def test_from_env_reads_every_field() -> None:
    s = NotificationSettings.from_env(
        {
            "FHIRAUTH_NOTIFY_MAX_ATTEMPTS": "4",
            "FHIRAUTH_NOTIFY_BASE_DELAY": "2.5",
            "FHIRAUTH_NOTIFY_MAX_DELAY": "30",
            "FHIRAUTH_NOTIFY_CONNECT_TIMEOUT": "1",
            "FHIRAUTH_NOTIFY_READ_TIMEOUT": "2",
            "FHIRAUTH_NOTIFY_LEASE": "6",
            "FHIRAUTH_NOTIFY_POLL_INTERVAL": "0.5",
            "FHIRAUTH_NOTIFY_BATCH": "7",
            "FHIRAUTH_NOTIFY_ALLOW_HTTP": "yes",
        }
    )
    assert s == NotificationSettings(4, 2.5, 30.0, 1.0, 2.0, 6.0, 0.5, 7, True)
    assert NotificationSettings.from_env({}) == NotificationSettings()
    assert not NotificationSettings().allow_http


def test_backoff_doubles_up_to_the_cap() -> None:
    s = NotificationSettings(base_delay=10, max_delay=60)
    assert [s.delay(n) for n in range(1, 6)] == [10, 20, 40, 60, 60]


@pytest.mark.parametrize(
    "env",
    [
        {"FHIRAUTH_NOTIFY_MAX_ATTEMPTS": "0"},
        {"FHIRAUTH_NOTIFY_MAX_ATTEMPTS": "many"},
        {"FHIRAUTH_NOTIFY_ALLOW_HTTP": "perhaps"},
        {"FHIRAUTH_NOTIFY_BASE_DELAY": "100", "FHIRAUTH_NOTIFY_MAX_DELAY": "10"},
        # A lease shorter than a slow delivery would let two loops send one event at once.
        {"FHIRAUTH_NOTIFY_LEASE": "5"},
    ],
)
def test_bad_values_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        NotificationSettings.from_env(env)
