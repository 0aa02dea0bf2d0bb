"""Settings: every FHIRAUTH_* environment variable, read here and nowhere else."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fhirauth.notifications.settings import NotificationSettings


def bundled(name: str) -> Path:
    """policies/ and profiles/: beside the package in a checkout, under share/ once installed."""
    checkout = Path(__file__).resolve().parent.parent / name
    if checkout.is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "fhirauth" / name


BUNDLED_POLICIES = bundled("policies")


@dataclass(frozen=True)
class Settings:
    """What a deployment configures. ``Settings.from_env()`` reads the environment;
    tests and the CLI build one directly or override fields with ``replace``."""

    data_dir: Path = Path("fhirauth-data")
    database_url: str | None = None
    base_url: str = "http://127.0.0.1:8080/fhir"
    policy_dirs: tuple[Path, ...] = field(default_factory=lambda: (BUNDLED_POLICIES,))
    max_body_bytes: int = 20 * 1024 * 1024
    authorization_system: str = "urn:fhirauth:authorization-number"
    attachment_system: str = "urn:fhirauth:attachment-control-number"
    member_roster: Path | None = None
    sandbox: bool = False
    log_level: str = "INFO"
    notifications: NotificationSettings = field(default_factory=NotificationSettings)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'fhirauth.sqlite3').resolve()}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        if "FHIRAUTH_DATA_DIR" in env:
            values["data_dir"] = Path(env["FHIRAUTH_DATA_DIR"])
        if "FHIRAUTH_DATABASE_URL" in env:
            values["database_url"] = env["FHIRAUTH_DATABASE_URL"]
        if "FHIRAUTH_BASE_URL" in env:
            values["base_url"] = env["FHIRAUTH_BASE_URL"].rstrip("/")
        if "FHIRAUTH_POLICY_DIRS" in env:
            values["policy_dirs"] = tuple(
                Path(p) for p in env["FHIRAUTH_POLICY_DIRS"].split(os.pathsep) if p
            )
        if "FHIRAUTH_MAX_BODY_BYTES" in env:
            values["max_body_bytes"] = int(env["FHIRAUTH_MAX_BODY_BYTES"])
        if "FHIRAUTH_AUTHORIZATION_SYSTEM" in env:
            values["authorization_system"] = env["FHIRAUTH_AUTHORIZATION_SYSTEM"]
        if "FHIRAUTH_ATTACHMENT_SYSTEM" in env:
            values["attachment_system"] = env["FHIRAUTH_ATTACHMENT_SYSTEM"]
        if env.get("FHIRAUTH_MEMBER_ROSTER"):
            values["member_roster"] = Path(env["FHIRAUTH_MEMBER_ROSTER"])
        if "FHIRAUTH_SANDBOX" in env:
            values["sandbox"] = env["FHIRAUTH_SANDBOX"].strip().lower() in (
                "1",
                "true",
                "yes",
                "on",
            )
        if "FHIRAUTH_LOG_LEVEL" in env:
            values["log_level"] = env["FHIRAUTH_LOG_LEVEL"].upper()
        values["notifications"] = NotificationSettings.from_env(env)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)
