"""Code systems PAS requests use, by their canonical URIs and the short names policies may use."""

from __future__ import annotations

from fhirauth.fhir.systems import CPT, HCPCS, ICD10CM, ICD10PCS, NDC, canonical

X12_SERVICE_TYPE = "https://codesystem.x12.org/005010/1365"

ALIASES = {
    "cpt": CPT,
    "hcpcs": HCPCS,
    "icd-10-pcs": ICD10PCS,
    "icd-10-cm": ICD10CM,
    "ndc": NDC,
    "x12-service-type": X12_SERVICE_TYPE,
}


def canonical_system(system: str) -> str:
    return ALIASES.get(system) or str(canonical(system))
