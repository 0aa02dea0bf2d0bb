"""Settings: every FHIRAUTH_* environment variable, read here and nowhere else."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from fhirauth.fhir.limits import Limits

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
    # Delivered (and superseded) events are deleted this many days after delivery; the
    # authorizations, their versions and the audit trail are kept.
    retention_days: float = 30.0

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
        if self.retention_days <= 0:
            raise ValueError("FHIRAUTH_NOTIFY_RETENTION_DAYS must be positive")

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


def bundled(name: str) -> Path:
    """policies/ and profiles/: beside the package in a checkout, under share/ once installed."""
    checkout = Path(__file__).resolve().parent.parent / name
    if checkout.is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "fhirauth" / name


BUNDLED_POLICIES = bundled("policies")
AUTH_MODES = ("required", "off", "demo")
VALIDATION_MODES = ("lenient", "strict")
_RATE_PERIODS = {
    "second": 1,
    "sec": 1,
    "s": 1,
    "minute": 60,
    "min": 60,
    "m": 60,
    "hour": 3600,
    "h": 3600,
}


def parse_rate_limit(value: str | None) -> tuple[int, int] | None:
    """``"120/minute"`` -> (120, 60); ``"120"`` is per minute; None, "" or "0": no limit."""
    if value is None or not value.strip():
        return None
    count, _, period = value.strip().lower().partition("/")
    try:
        limit = int(count)
    except ValueError:
        limit = -1
    seconds = _RATE_PERIODS.get(period.strip() or "minute")
    if limit < 0 or seconds is None:
        raise ValueError(
            f"FHIRAUTH_RATE_LIMIT={value!r}: write requests per period, e.g. 120/minute"
        )
    return None if limit == 0 else (limit, seconds)


def limits_from_env(env: Mapping[str, str]) -> Limits:
    """FHIRAUTH_MAX_ENTRIES, _ITEMS, _STRING, _DEPTH and _VALUES; unset ones keep the default."""
    values: dict[str, int] = {}
    for name in ("entries", "items", "string", "depth", "values"):
        text = env.get(f"FHIRAUTH_MAX_{name.upper()}", "").strip()
        if text:
            try:
                values[name] = int(text)
            except ValueError:
                raise ValueError(f"FHIRAUTH_MAX_{name.upper()} must be a whole number") from None
    return Limits(**values)


@dataclass(frozen=True)
class Settings:
    """What a deployment configures. ``Settings.from_env()`` reads the environment;
    tests and the CLI build one directly or override fields with ``replace``."""

    data_dir: Path = Path("fhirauth-data")
    database_url: str | None = None
    base_url: str = "http://127.0.0.1:8080/fhir"
    policy_dirs: tuple[Path, ...] = field(default_factory=lambda: (BUNDLED_POLICIES,))
    max_body_bytes: int = 20 * 1024 * 1024
    # FHIRAUTH_MAX_ENTRIES, _ITEMS, _STRING, _DEPTH, _VALUES: what one request may hold (413).
    limits: Limits = field(default_factory=Limits)
    authorization_system: str = "urn:fhirauth:authorization-number"
    attachment_system: str = "urn:fhirauth:attachment-control-number"
    member_roster: Path | None = None
    sandbox: bool = False
    log_level: str = "INFO"
    log_format: str = "text"  # text | json (one JSON object per line)
    notifications: NotificationSettings = field(default_factory=NotificationSettings)
    # Security (fhirauth.auth): required | off | demo (required, plus a demo client).
    auth_mode: str = "required"
    token_url: str | None = None  # default: the FHIR base's sibling /auth/token
    token_lifetime: int = 300  # seconds an access token lives
    signing_key: Path | None = None  # PEM; default <data dir>/signing-key.pem, created once
    rate_limit: str | None = None  # e.g. "120/minute" per client; None or "0": no limit
    jwks_allow_loopback: bool = False  # fetch clients' jwks_uri from 127.0.0.0/8 and ::1
    jwks_max_bytes: int = 64 * 1024  # a jwks_uri answer larger than this is refused
    jwks_timeout: float = 5.0  # seconds for one whole jwks_uri fetch (one deadline)
    # lenient: profile deviations are warnings, only missing decision data is outcome=error;
    # strict: a deviation in an entry the decision reads is outcome=error too.
    validation: str = "lenient"
    # FHIR packages (NAME#VERSION from the package cache, or a .tgz/folder path) whose
    # profiles requests are also checked against.
    packages: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.auth_mode not in AUTH_MODES:
            raise ValueError(
                f"FHIRAUTH_AUTH={self.auth_mode!r}: use one of {', '.join(AUTH_MODES)}"
            )
        if not 10 <= self.token_lifetime <= 3600:
            raise ValueError("FHIRAUTH_TOKEN_LIFETIME must be between 10 and 3600 seconds")
        parse_rate_limit(self.rate_limit)
        if not 1024 <= self.jwks_max_bytes <= 16 * 1024 * 1024:
            raise ValueError("FHIRAUTH_JWKS_MAX_BYTES must be between 1024 and 16777216")
        if not 0 < self.jwks_timeout <= 60:
            raise ValueError("FHIRAUTH_JWKS_TIMEOUT must be more than 0 and at most 60 seconds")
        if self.log_format not in ("text", "json"):
            raise ValueError(f"FHIRAUTH_LOG_FORMAT={self.log_format!r}: use text or json")
        if self.validation not in VALIDATION_MODES:
            raise ValueError(
                f"FHIRAUTH_VALIDATION={self.validation!r}: use one of {', '.join(VALIDATION_MODES)}"
            )

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'fhirauth.sqlite3').resolve()}"

    @property
    def token_endpoint(self) -> str:
        """Where clients get tokens, and the ``aud`` their assertions must name."""
        if self.token_url:
            return self.token_url
        base = self.base_url.rstrip("/")
        return base.removesuffix("/fhir") + "/auth/token"

    @property
    def signing_key_path(self) -> Path:
        return self.signing_key or self.data_dir / "signing-key.pem"

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
        values["limits"] = limits_from_env(env)
        if "FHIRAUTH_AUTHORIZATION_SYSTEM" in env:
            values["authorization_system"] = env["FHIRAUTH_AUTHORIZATION_SYSTEM"]
        if "FHIRAUTH_ATTACHMENT_SYSTEM" in env:
            values["attachment_system"] = env["FHIRAUTH_ATTACHMENT_SYSTEM"]
        if env.get("FHIRAUTH_MEMBER_ROSTER"):
            values["member_roster"] = Path(env["FHIRAUTH_MEMBER_ROSTER"])
        if "FHIRAUTH_SANDBOX" in env:
            values["sandbox"] = env["FHIRAUTH_SANDBOX"].strip().lower() in _TRUE
        if "FHIRAUTH_LOG_LEVEL" in env:
            values["log_level"] = env["FHIRAUTH_LOG_LEVEL"].upper()
        if env.get("FHIRAUTH_LOG_FORMAT"):
            values["log_format"] = env["FHIRAUTH_LOG_FORMAT"].strip().lower()
        values["notifications"] = NotificationSettings.from_env(env)
        if env.get("FHIRAUTH_AUTH"):
            values["auth_mode"] = env["FHIRAUTH_AUTH"].strip().lower()
        if env.get("FHIRAUTH_TOKEN_URL"):
            values["token_url"] = env["FHIRAUTH_TOKEN_URL"].strip()
        if env.get("FHIRAUTH_TOKEN_LIFETIME"):
            try:
                values["token_lifetime"] = int(env["FHIRAUTH_TOKEN_LIFETIME"])
            except ValueError:
                raise ValueError("FHIRAUTH_TOKEN_LIFETIME must be a number of seconds") from None
        if env.get("FHIRAUTH_SIGNING_KEY"):
            values["signing_key"] = Path(env["FHIRAUTH_SIGNING_KEY"])
        if "FHIRAUTH_RATE_LIMIT" in env:
            values["rate_limit"] = env["FHIRAUTH_RATE_LIMIT"].strip() or None
        if "FHIRAUTH_JWKS_ALLOW_LOOPBACK" in env:
            loopback = env["FHIRAUTH_JWKS_ALLOW_LOOPBACK"].strip().lower()
            values["jwks_allow_loopback"] = loopback in _TRUE
        for name, field_name, kind in (
            ("FHIRAUTH_JWKS_MAX_BYTES", "jwks_max_bytes", int),
            ("FHIRAUTH_JWKS_TIMEOUT", "jwks_timeout", float),
        ):
            if env.get(name):
                try:
                    values[field_name] = kind(env[name])
                except ValueError:
                    raise ValueError(f"{name} must be a number") from None
        if env.get("FHIRAUTH_VALIDATION"):
            values["validation"] = env["FHIRAUTH_VALIDATION"].strip().lower()
        if env.get("FHIRAUTH_PACKAGES"):
            values["packages"] = tuple(
                p.strip() for p in env["FHIRAUTH_PACKAGES"].split(",") if p.strip()
            )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)
