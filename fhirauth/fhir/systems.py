"""Code system URLs as real senders spell them, reduced to the one spelling we check against.

The same code system reaches a payer under several URLs: ``http`` or ``https``, with or
without ``www``, with a trailing slash, as an OID, or under the name an older IG or another
terminology server used. Every comparison of a coding's system (profile bindings, policy
rules) goes through :func:`canonical` first, so a spelling never decides an authorization.
"""

from __future__ import annotations

from typing import Any

# Where each PAS version is served, under the FHIR base (conf-1: one endpoint per version).
PAS_BASES = {"2.2.1": "", "2.0.1": "/pas/v2.0.1"}

CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ICD10PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
NDC = "http://hl7.org/fhir/sid/ndc"
LOINC = "http://loinc.org"
NUBC_REVENUE = "https://www.nubc.org/CodeSystem/RevenueCodes"
POS = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
NPI = "http://hl7.org/fhir/sid/us-npi"
ICD9CM = "http://terminology.hl7.org/CodeSystem/icd9cm"
X12_SERVICE_TYPE = "https://codesystem.x12.org/005010/1365"

# The code systems of the value sets a response's echoed codes are bound to (required), as
# profiles/pas/extensions.yaml lists them: X12278DiagnosisCodes (communicatedDiagnosis) and
# X12278RequestedServiceType (itemAuthorizedDetail.productOrServiceCode). A request may carry
# other codes (a warning there); the response repeats only the codings it is allowed to.
DIAGNOSIS_SYSTEMS = frozenset(
    {
        ICD10CM,
        ICD9CM,
        "https://www.cms.gov/Medicare/Medicare-Fee-for-Service-Payment/AcuteInpatientPPS/"
        "MS-DRG-Classifications-and-Software",
        "http://uri.hddaccess.com/cs/apdrg",
        "http://uri.hddaccess.com/cs/aprdrg",
    }
)
REQUESTED_SERVICE_SYSTEMS = frozenset({X12_SERVICE_TYPE, CPT, HCPCS, ICD9CM, ICD10PCS, NDC})

# Spellings seen in the field (older IGs, OIDs, http/https, other servers' names) → ours.
_ALIASES = {
    "urn:oid:2.16.840.1.113883.6.12": CPT,
    "http://ama-assn.org/go/cpt": CPT,
    "https://www.ama-assn.org/go/cpt": CPT,
    "urn:oid:2.16.840.1.113883.6.285": HCPCS,
    "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets": HCPCS,
    "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets/Alpha-Numeric-HCPCS": HCPCS,
    "urn:oid:2.16.840.1.113883.6.4": ICD10PCS,
    "http://hl7.org/fhir/sid/icd-10-pcs": ICD10PCS,
    "https://www.cms.gov/Medicare/Coding/ICD10": ICD10PCS,
    "urn:oid:2.16.840.1.113883.6.90": ICD10CM,
    "http://hl7.org/fhir/sid/icd-10-us": ICD10CM,
    "urn:oid:2.16.840.1.113883.6.69": NDC,
    "urn:oid:2.16.840.1.113883.6.1": LOINC,
    "https://loinc.org": LOINC,
    "http://www.nubc.org/revenue-code": NUBC_REVENUE,
    "https://www.nubc.org/revenue-code": NUBC_REVENUE,
    "https://nubc.org/revenue-code": NUBC_REVENUE,
    "http://nubc.org/revenue-code": NUBC_REVENUE,
    "urn:oid:2.16.840.1.113883.6.301.3": NUBC_REVENUE,
    "urn:oid:2.16.840.1.113883.6.50": POS,
    "https://www.cms.gov/Medicare/Coding/place-of-service-codes": POS,
    "urn:oid:2.16.840.1.113883.4.6": NPI,
}
# Hosts whose code systems are the same whatever the scheme or the www.
_SCHEMELESS = {
    "codesystem.x12.org": "https://codesystem.x12.org",
    "valueset.x12.org": "https://valueset.x12.org",
    "www.nubc.org": "https://www.nubc.org",
    "nubc.org": "https://www.nubc.org",
}


def canonical(system: str | None) -> str | None:
    """The spelling we check against: aliases mapped, scheme and ``www`` of the X12 and NUBC
    hosts fixed, trailing slashes and a ``|version`` dropped."""
    if not system:
        return system
    url = system.strip().split("|", 1)[0].rstrip("/")
    if url in _ALIASES:
        return _ALIASES[url]
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("http", "https"):
        host, _, path = rest.partition("/")
        if host in _SCHEMELESS:
            url = f"{_SCHEMELESS[host]}/{path}" if path else _SCHEMELESS[host]
        elif scheme == "https" and f"http://{rest}" in _CANONICAL:
            url = f"http://{rest}"
        elif scheme == "http" and f"https://{rest}" in _CANONICAL:
            url = f"https://{rest}"
    return _ALIASES.get(url, url)


_CANONICAL = frozenset(_ALIASES.values())


def within(concept: Any, systems: frozenset[str]) -> dict[str, Any] | None:
    """``concept`` with only the codings whose system (as :func:`canonical` spells it) is one of
    ``systems``, each written that way; None when no coding is left."""
    if not isinstance(concept, dict):
        return None
    codings = [
        {**c, "system": canonical(c.get("system"))}
        for c in concept.get("coding") or []
        if isinstance(c, dict) and canonical(c.get("system")) in systems
    ]
    return {**concept, "coding": codings} if codings else None
