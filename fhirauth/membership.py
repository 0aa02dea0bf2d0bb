"""Where membership comes from: the submitted Coverage (default) or a payer roster."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

# X12 901 (AAA03) reject reasons used for membership problems.
MISSING_MEMBER_ID = "72"  # Invalid/Missing Subscriber/Insured ID
MEMBER_NOT_FOUND = "75"  # Subscriber/Insured Not Found
NOT_IN_PLAN = "78"  # Subscriber/Insured Not in Group/Plan Identified


@dataclass(frozen=True)
class Eligibility:
    active: bool
    code: str | None = None
    message: str | None = None
    path: str | None = None  # FHIRPath, relative to the Coverage, of what is wrong


class Membership(Protocol):
    def check(self, coverage: dict[str, Any], patient: dict[str, Any], on: date) -> Eligibility: ...


def _type_codes(identifier: dict[str, Any]) -> set[str]:
    return {c.get("code") for c in (identifier.get("type") or {}).get("coding") or []}


def member_id(coverage: dict[str, Any], patient: dict[str, Any]) -> str | None:
    """Coverage.identifier[MB], then Coverage.subscriberId, then Patient.identifier[MB]
    (REQUIREMENTS.md §9 item 10: the IG puts the member id in more than one place)."""
    for ident in coverage.get("identifier") or []:
        if "MB" in _type_codes(ident) and ident.get("value"):
            return str(ident["value"])
    if coverage.get("subscriberId"):
        return str(coverage["subscriberId"])
    for ident in patient.get("identifier") or []:
        if "MB" in _type_codes(ident) and ident.get("value"):
            return str(ident["value"])
    # PAS 2.0.1 senders give the subscriber's member id as the Patient's only identifier,
    # with no type (the IG's own 2.0.1 examples do).
    untyped = [
        i
        for i in patient.get("identifier") or []
        if isinstance(i, dict) and i.get("value") and not i.get("type")
    ]
    if len(untyped) == 1:
        return str(untyped[0]["value"])
    return None


def _plans(coverage: dict[str, Any]) -> set[str]:
    """The Coverage.class values of type plan (what the roster's plan column holds)."""
    out = set()
    for c in coverage.get("class") or []:
        kinds = {k.get("code") for k in (c.get("type") or {}).get("coding") or []}
        if "plan" in kinds and c.get("value"):
            out.add(str(c["value"]))
    return out


def _within(period: dict[str, Any] | None, on: date) -> bool:
    if not period:
        return True
    start, end = str(period.get("start") or "")[:10], str(period.get("end") or "")[:10]
    day = on.isoformat()
    return (not start or start <= day) and (not end or day <= end)


class SubmittedCoverage:
    """Trust the Coverage the provider sent: it must be active and cover the service date."""

    def check(self, coverage: dict[str, Any], patient: dict[str, Any], on: date) -> Eligibility:
        if coverage.get("status") != "active":
            return Eligibility(
                False,
                NOT_IN_PLAN,
                f"The coverage is {coverage.get('status')}, not active",
                "status",
            )
        if not _within(coverage.get("period"), on):
            return Eligibility(
                False,
                NOT_IN_PLAN,
                f"The coverage period does not include the service date {on.isoformat()}",
                "period",
            )
        return Eligibility(True)


@dataclass(frozen=True)
class _Enrollment:
    plan: str
    start: date
    end: date | None


class Roster:
    """A payer's member list: a CSV with columns member_id, plan, start, end (end may be empty).
    Unknown members and members not enrolled on the service date are refused."""

    def __init__(self, rows: dict[str, list[_Enrollment]], source: str) -> None:
        self.rows = rows
        self.source = source

    @classmethod
    def from_csv(cls, path: Path) -> Roster:
        rows: dict[str, list[_Enrollment]] = {}
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = {"member_id", "plan", "start", "end"} - set(reader.fieldnames or [])
            if missing:
                raise ValueError(f"{path}: the roster needs columns {sorted(missing)}")
            for n, row in enumerate(reader, start=2):
                try:
                    enrollment = _Enrollment(
                        row["plan"].strip(),
                        date.fromisoformat(row["start"]),
                        date.fromisoformat(row["end"]) if row["end"] else None,
                    )
                except (ValueError, TypeError, AttributeError) as exc:
                    # A short row leaves fields None; name the line either way.
                    raise ValueError(f"{path}:{n}: {exc}") from None
                rows.setdefault(row["member_id"].strip(), []).append(enrollment)
        return cls(rows, str(path))

    def check(self, coverage: dict[str, Any], patient: dict[str, Any], on: date) -> Eligibility:
        member = member_id(coverage, patient)
        if not member:
            return Eligibility(
                False, MISSING_MEMBER_ID, "The request carries no member id", "identifier"
            )
        enrollments = self.rows.get(member)
        if not enrollments:
            return Eligibility(
                False, MEMBER_NOT_FOUND, "The member id is not known to the payer", "identifier"
            )
        if not any(e.start <= on and (e.end is None or on <= e.end) for e in enrollments):
            return Eligibility(
                False,
                NOT_IN_PLAN,
                f"The member is not enrolled on the service date {on.isoformat()}",
                "identifier",
            )
        return Eligibility(True)
