"""The code systems a PAS response is written in, and the small builders every part of it
shares: how the resources we create are named, instants, periods, numbers, PAS extensions.

The response is built by :mod:`fhirauth.decision.response` (the ClaimResponse and its Bundle)
from :mod:`~fhirauth.decision.items` (items and addItems), :mod:`~fhirauth.decision.errors`
(what could not be processed) and :mod:`~fhirauth.decision.asks` (the documentation asked
for); this module is what they have in common, so it imports none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fhirauth.fhir.extensions import PAS

PAS_CODES = "http://hl7.org/fhir/us/davinci-pas/CodeSystem/PASTempCodes"
REVIEW_ACTION_SYSTEM = "https://codesystem.x12.org/005010/306"
DECISION_REASON_SYSTEM = "https://codesystem.x12.org/external/886"
REJECT_REASON_SYSTEM = "https://codesystem.x12.org/005010/901"
FOLLOWUP_SYSTEM = "https://codesystem.x12.org/005010/889"
REPORT_TYPE_SYSTEM = "https://codesystem.x12.org/005010/755"
ENTITY_TYPE_SYSTEM = "https://codesystem.x12.org/005010/98"
ADJUDICATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/adjudication"
DATA_ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"


@dataclass(frozen=True)
class Naming:
    """How resources we create are named: our base URL, identifier systems, fresh ids."""

    base_url: str
    authorization_system: str
    attachment_system: str
    new_id: Callable[[], str]

    def full_url(self, resource: dict[str, Any]) -> str:
        return f"{self.base_url}/{resource['resourceType']}/{resource['id']}"


def instant(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def period_of(span: tuple[date, date | None]) -> dict[str, str]:
    out = {"start": span[0].isoformat()}
    if span[1]:
        out["end"] = span[1].isoformat()
    return out


def json_number(value: Decimal) -> int | float:
    """A JSON number for ``value``: an integer when it is one that JSON (orjson) can hold."""
    if value == value.to_integral_value() and abs(value) < 2**63:
        return int(value)
    return float(value)


def pas_ext(name: str, **value: Any) -> dict[str, Any]:
    """The PAS extension ``name`` (``extension-reviewAction``) with ``value`` as its body."""
    return {"url": PAS + name, **value}


def first_identifier(resource: dict[str, Any]) -> dict[str, str] | None:
    """The first identifier of ``resource`` that has both a system and a value."""
    for ident in resource.get("identifier") or []:
        if isinstance(ident, dict) and ident.get("system") and ident.get("value"):
            return {"system": str(ident["system"]), "value": str(ident["value"])}
    return None
