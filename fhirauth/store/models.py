"""Tables. The aggregate is the authorization: one per prior-authorization request and all
its later updates, decisions and responses."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on SQLite (which stores no zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use clock.now()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON}


class Authorization(Base):
    __tablename__ = "authorization"
    # The review queue: pended requests by due time, decisions not delivered yet.
    __table_args__ = (
        Index("ix_authorization_status_due", "status", "due_at"),
        Index("ix_authorization_undelivered", "delivered_at", "decided_at"),
        # The yearly CMS metrics read a year of requests by receipt.
        Index("ix_authorization_received", "received_at"),
        # The console's dashboard: decision times over the last 30 days.
        Index("ix_authorization_determined", "determined_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # None for a refused submission (outcome=error): it is stored and answered, never authorized.
    pre_auth_ref: Mapped[str | None] = mapped_column(String(64), unique=True)
    claim_response_id: Mapped[str] = mapped_column(String(32), unique=True)
    principal: Mapped[str] = mapped_column(String(128), index=True)
    policy_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    expedited: Mapped[bool] = mapped_column(Boolean, default=False)
    current_version: Mapped[int] = mapped_column(Integer)
    # CMS-0057-F clocks and yearly metrics are computed from these.
    received_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    # CMS-0057-F: a decision is due 72 hours (expedited) or 7 days (standard) after receipt.
    due_at: Mapped[datetime | None]
    documentation_received_at: Mapped[datetime | None]
    # A renewal (X12 1322 R) is an authorization of its own that follows this one.
    renews: Mapped[str | None] = mapped_column(ForeignKey("authorization.id"), index=True)
    # CMS-0057-F metrics (README "CMS-0057-F metrics"): when the request was first determined
    # (nothing pended any more), and the initial review's outcome (decision/outcomes.py:
    # approved, partial, denied, not-required). An appeal never changes them.
    determined_at: Mapped[datetime | None]
    determination: Mapped[str | None] = mapped_column(String(16))
    # When a reviewer first extended the time for reviewing the request (its CMS due time);
    # not an extension of what was authorized (certificationType 4).
    review_extended_at: Mapped[datetime | None]
    # The console: the staff user (StaffUser.username) a pended case is assigned to.
    assigned_to: Mapped[str | None] = mapped_column(String(64))

    items: Mapped[list[AuthorizationItem]] = relationship(
        back_populates="authorization", order_by="AuthorizationItem.sequence"
    )


class AuthorizationItem(Base):
    __tablename__ = "authorization_item"

    authorization_id: Mapped[str] = mapped_column(ForeignKey("authorization.id"), primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_system: Mapped[str | None] = mapped_column(String(255))
    code: Mapped[str | None] = mapped_column(String(64))
    review_action: Mapped[str] = mapped_column(String(4))
    # An update or inquiry may name an item by its number.
    authorization_number: Mapped[str | None] = mapped_column(String(80), index=True)
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    reason_code: Mapped[str | None] = mapped_column(String(16))
    rule_id: Mapped[str | None] = mapped_column(String(128))
    # Enough to answer this item again, unchanged, in a later ClaimResponse version.
    issue_date: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)
    authorized_quantity: Mapped[str | None] = mapped_column(String(32))
    requested_start: Mapped[date | None] = mapped_column(Date)
    requested_end: Mapped[date | None] = mapped_column(Date)
    recommendation: Mapped[str | None] = mapped_column(String(4))
    # The Claim.item as last submitted: an update compares against it to see what changed.
    content: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Documentation asked of the provider and not yet supplied: [{code|questionnaire, description}]
    requested_documents: Mapped[list[Any] | None] = mapped_column(JSON)
    # The lifecycle of what was certified (decision/lifecycle.py): active, exhausted,
    # cancelled or superseded, kept on every write; "expired" is read off the clock.
    # None for an item that was never certified (pended, denied, no authorization needed).
    status: Mapped[str | None] = mapped_column(String(16))
    # Units billed against it (claims recorded by $check-authorization).
    used_quantity: Mapped[str | None] = mapped_column(String(32))
    # The renewal that took its place.
    superseded_by: Mapped[str | None] = mapped_column(String(32))

    authorization: Mapped[Authorization] = relationship(back_populates="items")


class Appeal(Base):
    """An appeal (X12 1322 certificationType 1 immediate, 2 standard) of an authorization's
    denied items: its own CMS clock, the denials it appeals as they stood (who made them),
    and once every appealed item is decided again, its outcome."""

    __tablename__ = "appeal"
    __table_args__ = (Index("ix_appeal_authorization", "authorization_id", "decided_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    authorization_id: Mapped[str] = mapped_column(ForeignKey("authorization.id"))
    submission_id: Mapped[str] = mapped_column(ForeignKey("submission.id"))
    certification_type: Mapped[str] = mapped_column(String(1))
    expedited: Mapped[bool] = mapped_column(Boolean)
    received_at: Mapped[datetime]
    due_at: Mapped[datetime]
    # When a reviewer first extended the appeal's review time.
    extended_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    # upheld | overturned | partially-overturned | withdrawn (decision/outcomes.py)
    outcome: Mapped[str | None] = mapped_column(String(24))
    decided_by: Mapped[str | None] = mapped_column(String(255))
    # Each appealed item as it stood: [{sequence, action, reasonCode, reason, deniedBy: [actor],
    # and once decided, outcome}]
    items: Mapped[list[Any]] = mapped_column(JSON)


class RecordedClaim(Base):
    """A billed Claim whose units $check-authorization recorded: once per client and Claim
    identifier, so a retry consumes nothing more and is answered as the first time."""

    __tablename__ = "billing_claim"
    __table_args__ = (
        UniqueConstraint("principal", "claim_identifier", name="uq_billing_claim_identifier"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    principal: Mapped[str] = mapped_column(String(128))
    claim_identifier: Mapped[str] = mapped_column(String(512))
    recorded_at: Mapped[datetime]
    # The Parameters answered when it was recorded, replayed to a retry.
    response: Mapped[bytes] = mapped_column(LargeBinary)


class BillingUsage(Base):
    """The ledger: units one line of a recorded claim consumed of one authorized item."""

    __tablename__ = "billing_usage"
    __table_args__ = (Index("ix_billing_usage_item", "authorization_id", "item_sequence"),)

    billing_claim_id: Mapped[str] = mapped_column(ForeignKey("billing_claim.id"), primary_key=True)
    line_sequence: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    authorization_id: Mapped[str] = mapped_column(ForeignKey("authorization.id"))
    item_sequence: Mapped[int] = mapped_column(Integer)
    units: Mapped[str] = mapped_column(String(32))
    service_date: Mapped[date | None] = mapped_column(Date)


class Submission(Base):
    """One POSTed request bundle, exactly as received."""

    __tablename__ = "submission"
    __table_args__ = (UniqueConstraint("principal", "content_hash", name="uq_submission_content"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    authorization_id: Mapped[str] = mapped_column(ForeignKey("authorization.id"), index=True)
    principal: Mapped[str] = mapped_column(String(128))
    content_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    bundle_identifier: Mapped[str | None] = mapped_column(String(512))
    claim_identifier: Mapped[str | None] = mapped_column(String(512), index=True)
    # Who the request is for and from: an update must name the same member and provider.
    # $inquire finds a member's requests by it.
    member_id: Mapped[str | None] = mapped_column(String(128), index=True)
    provider_identifier: Mapped[str | None] = mapped_column(String(512))
    claim_id: Mapped[str] = mapped_column(String(32), unique=True)
    claim: Mapped[dict[str, Any]]
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    warnings: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]
    response_version: Mapped[int] = mapped_column(Integer)


class ClaimResponseVersion(Base):
    """Every ClaimResponse we answered, as the exact bytes of its response Bundle."""

    __tablename__ = "claim_response_version"

    authorization_id: Mapped[str] = mapped_column(ForeignKey("authorization.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[str | None] = mapped_column(ForeignKey("submission.id"))
    created_at: Mapped[datetime]
    bundle: Mapped[bytes] = mapped_column(LargeBinary)


class DecisionEvent(Base):
    """Append-only: who or which rule decided what about an item, when and why."""

    __tablename__ = "decision_event"
    __table_args__ = (Index("ix_decision_event_authorization", "authorization_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    authorization_id: Mapped[str] = mapped_column(ForeignKey("authorization.id"))
    item_sequence: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(4))
    reason_code: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    trace: Mapped[dict[str, Any]]


class Attachment(Base):
    """Documentation received after the request: CDex $submit-attachment or a Claim Update."""

    __tablename__ = "attachment"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    authorization_id: Mapped[str] = mapped_column(ForeignKey("authorization.id"), index=True)
    item_sequence: Mapped[int | None] = mapped_column(Integer)
    tracking_id: Mapped[str | None] = mapped_column(String(128))
    code: Mapped[str | None] = mapped_column(String(64))
    principal: Mapped[str] = mapped_column(String(128))
    content: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]


class SandboxScript(Base):
    """Sandbox mode: the scripted outcome of a principal's next submission, used once."""

    __tablename__ = "sandbox_script"
    __table_args__ = (Index("ix_sandbox_script_pending", "principal", "used_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    principal: Mapped[str] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by: Mapped[str | None] = mapped_column(String(32))


class Subscription(Base):
    """A rest-hook Subscription to the PAS topic (R5 Backport), owned by who created it."""

    __tablename__ = "subscription"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128), index=True)
    # requested (handshake pending) | active | error | off
    status: Mapped[str] = mapped_column(String(16))
    # The resource as the client last sent it, without id, meta, status and error.
    resource: Mapped[dict[str, Any]]
    endpoint: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(String(255))
    # The PAS version of the base it was last written through (2.2.1 | 2.0.1), and its
    # backport-payload-content (full-resource | id-only: PAS 2.0.1 only).
    pas_version: Mapped[str] = mapped_column(String(8), default="2.2.1", server_default="2.2.1")
    payload_content: Mapped[str] = mapped_column(
        String(16), default="full-resource", server_default="full-resource"
    )
    headers: Mapped[list[str]] = mapped_column(JSON)
    ends_at: Mapped[datetime | None]  # Subscription.end
    # The backport's events-since-subscription-start: the last event number given out.
    events_since_start: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SubscriptionFilter(Base):
    """One org-identifier filter value of a subscription, indexed for matching."""

    __tablename__ = "subscription_filter"
    __table_args__ = (Index("ix_subscription_filter_value", "value"),)

    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("subscription.id", ondelete="CASCADE"), primary_key=True
    )
    value: Mapped[str] = mapped_column(String(512), primary_key=True)


class OutboxEvent(Base):
    """A notification to deliver: written in the transaction of the change that caused it,
    delivered later by a worker that claims it with a conditional UPDATE."""

    __tablename__ = "outbox_event"
    __table_args__ = (
        Index("ix_outbox_event_queue", "subscription_id", "status", "id"),
        Index("ix_outbox_event_due", "status", "next_attempt_at"),
        # Pruning delivered events after FHIRAUTH_NOTIFY_RETENTION_DAYS.
        Index("ix_outbox_event_done", "status", "delivered_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscription.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))  # handshake | event-notification
    event_number: Mapped[int] = mapped_column(Integer)
    authorization_id: Mapped[str | None] = mapped_column(String(32), index=True)
    # The PAS response Bundle, exactly as stored in its ClaimResponseVersion.
    payload: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | superseded
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class Client(Base):
    """A registered SMART Backend Services client: its public keys, the organizations it acts
    for (``system|value``), the X12 interchange sender ids (ISA06) it sends as, and the scopes
    it may be granted."""

    __tablename__ = "client"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    jwks_url: Mapped[str | None] = mapped_column(Text)
    organizations: Mapped[list[str]] = mapped_column(JSON)
    sender_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]


class ClientAssertionUse(Base):
    """A client assertion's ``jti``, kept until the assertion expires so it is used once."""

    __tablename__ = "client_assertion_use"
    __table_args__ = (Index("ix_client_assertion_use_expires", "expires_at"),)

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[datetime]


class RateWindow(Base):
    """Requests a client made in one fixed window (``slot`` = epoch seconds // period),
    counted with an atomic upsert ``... DO UPDATE SET hits = hits + 1``."""

    __tablename__ = "rate_window"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    slot: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hits: Mapped[int] = mapped_column(Integer)


class AuditRecord(Base):
    """One request: who, what route, when, the HTTP status, the resource ids involved.
    Never a bundle, a query string or patient details."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_agent", "agent", "recorded_at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    recorded_at: Mapped[datetime] = mapped_column(index=True)
    agent: Mapped[str] = mapped_column(String(128))  # a client id, or "anonymous"
    method: Mapped[str] = mapped_column(String(16))
    route: Mapped[str | None] = mapped_column(String(255))  # the Flask rule; None: no route
    status: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(String(255))  # why a request was refused
    entities: Mapped[list[str]] = mapped_column(JSON)
    address: Mapped[str | None] = mapped_column(String(64))


class StaffUser(Base):
    """A person at the payer who signs in to the console (a reviewer or an administrator):
    never an API client, and an API client is never one of these."""

    __tablename__ = "staff_user"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # reviewer | admin
    password_hash: Mapped[str] = mapped_column(Text)  # argon2id, with its own parameters
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Lockout: failures since the last good sign-in, and until when sign-in is refused.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]


class ConsoleSession(Base):
    """A signed-in console session. The cookie holds a random token; only its SHA-256 is
    stored, so a copy of the database opens no session."""

    __tablename__ = "console_session"
    __table_args__ = (Index("ix_console_session_user", "user_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("staff_user.id"))
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
