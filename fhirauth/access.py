"""Who may see and change what (issue 6, spec-53, spec-59).

Data belongs to organizations. A principal acts for the organizations it is registered with,
as ``system|value`` identifier keys (an NPI: ``http://hl7.org/fhir/sid/us-npi|1952488215``).
The anonymous principal (authentication off) acts for everyone: isolation needs identities.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fhirauth.errors import Forbidden
from fhirauth.fhir.bundle import PasRequest
from fhirauth.fhir.extensions import TRANSMISSION_IDENTIFIERS, interchange_sender_ids
from fhirauth.fhir.references import resolve_one
from fhirauth.principal import Principal

NPI = "http://hl7.org/fhir/sid/us-npi"


def _keys(identifiers: Iterable[Any]) -> set[str]:
    out = set()
    for ident in identifiers:
        value = ident.get("value") if isinstance(ident, dict) else None
        if isinstance(value, str) and value.strip():
            system = ident.get("system") if isinstance(ident.get("system"), str) else ""
            out.add(f"{system.strip()}|{value.strip()}")
    return out


def requestor_keys(req: PasRequest) -> set[str]:
    """The submitting organization's identifiers (Claim.provider, or the Organization of a
    PractitionerRole provider), as ``system|value``."""
    provider = req.provider
    keys = _keys(provider.resource.get("identifier") or [])
    if provider.type == "PractitionerRole":
        org_ref = provider.resource.get("organization") or {}
        if isinstance(org_ref.get("identifier"), dict):
            keys |= _keys([org_ref["identifier"]])
        found = resolve_one(org_ref, provider, req.index)
        if found is not None:
            keys |= _keys(found.resource.get("identifier") or [])
    return keys


def sender_ids(req: PasRequest) -> list[str]:
    """Every ISA06 the request carries: ``interchangeSenderID`` in each TransmissionIdentifiers
    extension of the Claim (where PAS puts it) or of the Bundle, trimmed."""
    found = [*interchange_sender_ids(req.claim.resource), *interchange_sender_ids(req.bundle)]
    return list(dict.fromkeys(found))


def acts_for(principal: Principal, keys: Iterable[str]) -> bool:
    """Does the principal act for one of these organization keys? A bare key (an ISA06 sender
    id, a subscription filter value) matches any of the principal's identifier values and
    registered sender ids."""
    if principal.anonymous:
        return True
    mine = set(principal.organizations)
    values = {k.split("|", 1)[-1] for k in mine} | set(principal.senders)
    return any(k in mine or ("|" not in k and k in values) for k in keys)


def check_submitter(principal: Principal, req: PasRequest) -> None:
    """At $submit: every identifier the request would be filed and routed under is the caller's
    own. Each ISA06 (interchangeSenderID) must be one of its registered sender ids, each
    identifier of the requesting organization one of its registered organization identifiers,
    and there must be at least one of either. Otherwise Forbidden, before anything is stored.
    The anonymous principal (authentication off) may send anything."""
    if principal.anonymous:
        return
    senders = sender_ids(req)
    foreign = [s for s in senders if s not in principal.senders]
    if foreign:
        raise Forbidden(
            f"This client is not registered for the sending system {foreign[0][:64]!r} "
            "(TransmissionIdentifiers.interchangeSenderID, ISA06): a request may name only "
            "the sender ids registered to the client that sends it",
            f"{req.claim.path}.extension('{TRANSMISSION_IDENTIFIERS}')"
            ".extension('interchangeSenderID')",
        )
    keys = requestor_keys(req)
    unregistered = sorted(k for k in keys if k not in principal.organizations)
    if unregistered:
        raise Forbidden(
            f"This client is not registered for the requesting organization's identifier "
            f"{unregistered[0][:128]!r} ({req.provider.path}): a request may name only the "
            "organization identifiers registered to the client that sends it",
            f"{req.provider.path}.identifier",
        )
    if not keys and not senders:
        raise Forbidden(
            "This request names neither its requesting organization's identifiers "
            "(Claim.provider) nor its sending system (ISA06), so it cannot be tied to this "
            "client's registration"
        )


def may_read(principal: Principal, owner: str, provider_key: str | None) -> bool:
    """An authorization is the submitting client's, and its requesting organization's."""
    if principal.anonymous or principal.id == owner:
        return True
    return provider_key is not None and acts_for(principal, [provider_key])


def npi_keys(principal: Principal) -> set[str]:
    return {k.split("|", 1)[1] for k in principal.organizations if k.startswith(NPI + "|")}
