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
from fhirauth.policy.context import extension_value
from fhirauth.principal import Principal

NPI = "http://hl7.org/fhir/sid/us-npi"


def _keys(identifiers: Iterable[Any]) -> set[str]:
    out = set()
    for ident in identifiers:
        if isinstance(ident, dict) and ident.get("value"):
            out.add(f"{ident.get('system', '')}|{ident['value']}")
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
        found = (
            req.resolve(org_ref.get("reference", ""), provider) if org_ref.get("reference") else []
        )
        if len(found) == 1:
            keys |= _keys(found[0].resource.get("identifier") or [])
    return keys


def sender_id(req: PasRequest) -> str | None:
    """ISA06, the sending system identifier (TransmissionIdentifiers.interchangeSenderID)."""
    ext = extension_value(req.claim.resource, "extension-TransmissionIdentifiers", "extension")
    for sub in ext or []:
        if sub.get("url") == "interchangeSenderID" and sub.get("valueString"):
            return str(sub["valueString"])
    return None


def acts_for(principal: Principal, keys: Iterable[str]) -> bool:
    """Does the principal act for one of these organization keys? A bare key (an ISA06 sender
    id, a subscription filter value) matches any of the principal's identifier values."""
    if principal.anonymous:
        return True
    mine = set(principal.organizations)
    values = {k.split("|", 1)[-1] for k in mine}
    return any(k in mine or ("|" not in k and k in values) for k in keys)


def check_submitter(principal: Principal, req: PasRequest) -> None:
    """At $submit: the requestor, or the sending system, must be one of the caller's own."""
    keys = requestor_keys(req)
    sender = sender_id(req)
    if sender:
        keys.add(sender)
    if not acts_for(principal, keys):
        raise Forbidden(
            "This client is not registered for the requesting organization of this "
            "request (Claim.provider) nor for its sending system (ISA06)"
        )


def may_read(principal: Principal, owner: str, provider_key: str | None) -> bool:
    """An authorization is the submitting client's, and its requesting organization's."""
    if principal.anonymous or principal.id == owner:
        return True
    return provider_key is not None and acts_for(principal, [provider_key])


def npi_keys(principal: Principal) -> set[str]:
    return {k.split("|", 1)[1] for k in principal.organizations if k.startswith(NPI + "|")}
