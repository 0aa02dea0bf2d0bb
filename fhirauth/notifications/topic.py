"""The PAS SubscriptionTopic and its one filter: which organization's results a subscription wants.

Matching rule. A subscription's filter values (``org-identifier=A,B``; PAS 2.0.1's
``identifier=A,B`` gives the same values and matches the same way) are compared, exactly and
case-sensitively after trimming spaces, with these keys of a PAS request:

* the sending system: ``Claim.extension[TransmissionIdentifiers].extension[interchangeSenderID]``
  (ISA06 in X12);
* every identifier of the requestor organization, the Organization that ``Claim.provider``
  references, or, when the provider is a PractitionerRole, the Organization its
  ``organization`` references (or the logical identifier on that reference); each identifier
  gives the key ``value`` and the key ``system|value`` (``|value`` when it has no system).

A filter value written ``system|value`` therefore matches only that identifier system; a bare
value matches the sending system id or any requestor identifier with that value. One matching
value is enough.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fhirauth.fhir.bundle import Entry, PasRequest
from fhirauth.fhir.extensions import interchange_sender_ids
from fhirauth.fhir.references import resolve_one

PAS_TOPIC = "http://hl7.org/fhir/us/davinci-pas/SubscriptionTopic/PASSubscriptionTopic"
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
FILTER_CRITERIA = BACKPORT + "backport-filter-criteria"
PAYLOAD_CONTENT = BACKPORT + "backport-payload-content"
# PAS 2.2.1 narrative and Inferno: org-identifier; the topic's filterParameter and the IG
# example: orgIdentifier; PAS 2.0.1: identifier.
FILTER_NAMES = ("org-identifier", "orgIdentifier", "identifier")
# backport-payload-content codes: PAS 2.2.1 wants full-resource only; PAS 2.0.1 SHALL id-only
# and MAY full-resource.
FULL_RESOURCE, ID_ONLY = "full-resource", "id-only"
_FILTER = re.compile(
    r"^(?:ClaimResponse\?)?(?P<name>[A-Za-z-]+)(?::eq)?=(?P<values>.*)$", re.DOTALL
)


class FilterError(ValueError):
    """A filter criteria string this server cannot honour (the message says why)."""


def is_pas_topic(criteria: Any) -> bool:
    """``Subscription.criteria`` names the PAS topic (a ``|version`` suffix is allowed)."""
    return isinstance(criteria, str) and criteria.split("|", 1)[0] == PAS_TOPIC


def parse_filter(text: str, name: str = "org-identifier") -> list[str]:
    """``org-identifier=A,B`` (or ``orgIdentifier=``, ``identifier=``) → ``["A", "B"]``; every
    spelling is matched the same way. ``name`` is the spelling the error messages suggest
    (PAS 2.2.1: ``org-identifier``; PAS 2.0.1: ``identifier``)."""
    found = _FILTER.match(text.strip())
    if found is None or found.group("name") not in FILTER_NAMES:
        raise FilterError(
            "the PAS topic filters only by the requesting organization: write "
            f"'{name}=<identifier>[,<identifier>...]'"
        )
    values = [v.strip() for v in found.group("values").split(",")]
    if not values or any(not v or re.search(r"\s", v) for v in values):
        raise FilterError(
            f"{name} needs one or more comma-separated identifiers without spaces, "
            f"e.g. '{name}=N123456,4543315'"
        )
    return values


@dataclass(frozen=True)
class Keys:
    """What a PAS request can be matched by."""

    sender: str | None
    requestor: frozenset[str]

    @property
    def all(self) -> frozenset[str]:
        return self.requestor | {self.sender} if self.sender else self.requestor


def _identifier_keys(identifiers: Any) -> set[str]:
    out: set[str] = set()
    if isinstance(identifiers, dict):
        identifiers = [identifiers]
    for ident in identifiers if isinstance(identifiers, list) else []:
        if not isinstance(ident, dict) or not isinstance(ident.get("value"), str):
            continue
        value = ident["value"].strip()
        if not value:
            continue
        system = ident.get("system") if isinstance(ident.get("system"), str) else ""
        out |= {value, f"{system.strip()}|{value}"}
    return out


def sending_system(claim: dict[str, Any]) -> str | None:
    """ISA06, as PAS carries it: TransmissionIdentifiers.interchangeSenderID."""
    return next(iter(interchange_sender_ids(claim)), None)


def requestor_organization(req: PasRequest) -> tuple[Entry | None, Any]:
    """The requestor Organization entry and, failing that, a logical identifier for it."""
    provider = req.provider
    if provider.type == "Organization":
        return provider, None
    if provider.type != "PractitionerRole":
        return None, None
    ref = provider.resource.get("organization")
    if not isinstance(ref, dict):
        return None, None
    found = resolve_one(ref, provider, req.index, "Organization")
    if found is not None:
        return found, None
    return None, ref.get("identifier")


def request_keys(req: PasRequest) -> Keys:
    org, logical = requestor_organization(req)
    identifiers = org.resource.get("identifier") if org is not None else logical
    return Keys(sending_system(req.claim.resource), frozenset(_identifier_keys(identifiers)))


def matches(filter_values: Iterable[str], keys: Keys) -> bool:
    return not keys.all.isdisjoint(filter_values)
