"""fhirauth.fhir.systems: one spelling per code system, whatever the sender wrote."""

from __future__ import annotations

import pytest

from fhirauth.fhir.systems import CPT, HCPCS, LOINC, NUBC_REVENUE, POS, canonical


@pytest.mark.parametrize(
    ("sent", "meant"),
    [
        ("https://www.nubc.org/revenue-code", NUBC_REVENUE),
        ("http://www.nubc.org/revenue-code", NUBC_REVENUE),
        ("https://nubc.org/revenue-code", NUBC_REVENUE),
        ("https://www.nubc.org/CodeSystem/RevenueCodes/", NUBC_REVENUE),
        ("http://nubc.org/CodeSystem/RevenueCodes", NUBC_REVENUE),
        ("http://codesystem.x12.org/005010/306", "https://codesystem.x12.org/005010/306"),
        ("https://codesystem.x12.org/005010/1365|005010", "https://codesystem.x12.org/005010/1365"),
        ("https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", HCPCS),
        ("urn:oid:2.16.840.1.113883.6.285", HCPCS),
        ("urn:oid:2.16.840.1.113883.6.12", CPT),
        ("https://www.ama-assn.org/go/cpt", CPT),
        ("https://loinc.org", LOINC),
        (
            "http://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set",
            POS,
        ),
    ],
)
def test_another_spelling_of_a_system_is_the_same_system(sent: str, meant: str) -> None:
    assert canonical(sent) == meant


@pytest.mark.parametrize(
    "system",
    [CPT, HCPCS, LOINC, "http://terminology.hl7.org/CodeSystem/claim-type", "urn:ietf:rfc:3986"],
)
def test_a_canonical_or_unknown_system_is_left_alone(system: str) -> None:
    assert canonical(system) == system


def test_no_system_stays_none() -> None:
    assert canonical(None) is None
