"""What operations need from the outside world, wired once per process."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from fhirauth.clock import Clock, system_clock
from fhirauth.config import Settings
from fhirauth.conformance import PackageError, Registry
from fhirauth.conformance.cache import resolve as resolve_package
from fhirauth.membership import Membership, Roster, SubmittedCoverage
from fhirauth.policy import PolicySet, load_policies
from fhirauth.store.db import make_engine, migrate, session_factory

# No 0/O or 1/I: authorization numbers are read aloud on the phone and typed into claims.
_REF_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def new_id() -> str:
    return uuid.uuid4().hex


def new_pre_auth_ref() -> str:
    # One read of the OS's randomness, not one per character (secrets.choice): the alphabet's
    # 32 symbols divide 256, so each byte's low five bits pick one uniformly.
    return "PA" + "".join(_REF_ALPHABET[b & 31] for b in secrets.token_bytes(10))


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    policies: PolicySet
    membership: Membership
    clock: Clock = system_clock
    registry: Registry = field(default_factory=lambda: Registry().load_ours())
    ids: Callable[[], str] = field(default=new_id)
    pre_auth_refs: Callable[[], str] = field(default=new_pre_auth_ref)

    @staticmethod
    def check(settings: Settings) -> None:
        """Load what start-up loads, raising PolicyError or ValueError with a clear message."""
        load_policies(list(settings.policy_dirs))
        membership_source(settings)
        profile_registry(settings)

    @classmethod
    def build(
        cls, settings: Settings, *, clock: Clock = system_clock, run_migrations: bool = True
    ) -> Services:
        if settings.database_url is None:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.db_url)
        if run_migrations:
            migrate(engine)
        extra = {"registry": profile_registry(settings)} if settings.packages else {}
        return cls(
            settings,
            engine,
            session_factory(engine),
            load_policies(list(settings.policy_dirs)),
            membership_source(settings),
            clock,
            **extra,
        )


def profile_registry(settings: Settings) -> Registry:
    """Our profiles, then every package in FHIRAUTH_PACKAGES (a .tgz or folder path, or
    NAME#VERSION from the FHIR package cache); ValueError naming what is missing."""
    registry = Registry().load_ours()
    for entry in settings.packages:
        try:
            registry.load_package(resolve_package(entry))
        except PackageError as exc:
            raise ValueError(f"FHIRAUTH_PACKAGES: {exc}") from None
    return registry


def membership_source(settings: Settings) -> Membership:
    if settings.member_roster:
        return Roster.from_csv(settings.member_roster)
    return SubmittedCoverage()
