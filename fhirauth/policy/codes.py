"""Code systems PAS requests use, by their canonical URIs and the short names policies may use."""

from __future__ import annotations

CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ICD10PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
NDC = "http://hl7.org/fhir/sid/ndc"
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
    return ALIASES.get(system, system)
