"""What a deployment configures about notification delivery (FHIRAUTH_NOTIFY_* variables, read
with every other setting in fhirauth.config)."""

from __future__ import annotations

from typing import Any

from fhirauth.config import NotificationSettings

__all__ = ["NotificationSettings", "notification_settings"]


def notification_settings(settings: Any) -> NotificationSettings:
    """The deployment's notification settings: ``Settings.notifications`` once it has them,
    else read from the environment."""
    found = getattr(settings, "notifications", None)
    return found if isinstance(found, NotificationSettings) else NotificationSettings.from_env()
