"""What a deployment configures about notification delivery (FHIRAUTH_NOTIFY_* variables)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


@dataclass(frozen=True)
class NotificationSettings:
    """Retries, timeouts and the delivery lease.

    Attempt ``n`` (1-based) of an event that failed is retried ``base_delay * 2**(n-1)`` seconds
    later, capped at ``max_delay``; after ``max_attempts`` failed attempts of one event its
    subscription goes to ``error`` (every claim is an attempt, so one that never finishes counts
    too). A claimed event is leased for ``lease`` seconds: another delivery loop may take it
    over only after that, so ``lease`` must exceed the HTTP timeouts.
    """

    max_attempts: int = 6
    base_delay: float = 10.0
    max_delay: float = 3600.0
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    lease: float = 120.0
    poll_interval: float = 2.0
    batch: int = 50
    # Plain http:// endpoints (local test harnesses such as a dockerized Inferno); https otherwise.
    allow_http: bool = False
    # Loopback endpoints (localhost, *.localhost, 127.0.0.0/8, ::1; FHIRAUTH_NOTIFY_ALLOW_LOOPBACK):
    # refused unless allowed, like private and link-local addresses, which are always refused
    # (fhirauth.outbound).
    allow_loopback: bool = False

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("FHIRAUTH_NOTIFY_MAX_ATTEMPTS must be at least 1")
        if self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError("notification delays must satisfy 0 <= base_delay <= max_delay")
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ValueError("notification timeouts must be positive")
        if self.lease < 2 * (self.connect_timeout + self.read_timeout):
            raise ValueError(
                "FHIRAUTH_NOTIFY_LEASE must be at least twice the connect plus read timeout, "
                "or a slow endpoint could be sent the same event by two workers at once"
            )
        if self.poll_interval <= 0 or self.batch < 1:
            raise ValueError("FHIRAUTH_NOTIFY_POLL_INTERVAL and _BATCH must be positive")

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt."""
        return min(self.max_delay, self.base_delay * 2 ** max(0, attempts - 1))

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> NotificationSettings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = "FHIRAUTH_NOTIFY_" + f.name.upper()
            if name not in env:
                continue
            raw = env[name].strip()
            try:
                if f.type == "bool":
                    if raw.lower() not in _TRUE + _FALSE:
                        raise ValueError
                    values[f.name] = raw.lower() in _TRUE
                elif f.type == "int":
                    values[f.name] = int(raw)
                else:
                    values[f.name] = float(raw)
            except ValueError:
                raise ValueError(f"{name}={raw!r} is not a valid {f.type}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)


def notification_settings(settings: Any) -> NotificationSettings:
    """The deployment's notification settings: ``Settings.notifications`` once it has them,
    else read from the environment."""
    found = getattr(settings, "notifications", None)
    return found if isinstance(found, NotificationSettings) else NotificationSettings.from_env()
