"""The data a decision cannot do without: the only gaps that make a request ``outcome=error``.

Everything else a profile asks for is reported (warnings kept with the submission) and the
request is decided, as the HL7 validator's severities and PAS conf-14 intend: real senders
leave must-support elements out, write PAS 2.0.1 shapes and use extensions we do not know.
README lists these checks; a request that passes them is always decided.
"""

from __future__ import annotations

from typing import Any

from fhirauth.decision.decide import AaaError
from fhirauth.fhir.bundle import PasRequest
from fhirauth.membership import MISSING_MEMBER_ID, member_id

# X12 901 AAA03 reject reasons.
MISSING_DATA = "15"  # Required application data missing
INPUT_ERROR = "33"  # Input Errors
CANCEL = "3"  # X12 1322 certificationType: cancel


def missing_decision_data(req: PasRequest) -> list[AaaError]:
    """Why the payer cannot decide ``req`` at all: no member id, no services, a service
    without a code. (A missing or unresolvable patient, insurer, provider or Coverage never
    gets here: R4 requires them, so they are structural, a 400 from parsing.)"""
    claim = req.claim
    errors = []
    # R4 itself requires Claim.insurance (a 400 when absent), so a Coverage is always there.
    coverage = req.coverages[0]
    if member_id(coverage.resource, req.patient.resource) is None:
        errors.append(
            AaaError(
                MISSING_MEMBER_ID,
                "The request carries no member id (Coverage.identifier of type MB, "
                "Coverage.subscriberId or a Patient identifier)",
                f"{coverage.path}.identifier",
            )
        )
    items = claim.resource.get("item")
    if not items and not req.is_update and not _cancels_everything(claim.resource):
        errors.append(
            AaaError(
                MISSING_DATA,
                "The request asks for no service (Claim.item is empty)",
                f"{claim.path}.item",
            )
        )
    for i, item in enumerate(items if isinstance(items, list) else []):
        if not _has_code(item.get("productOrService") if isinstance(item, dict) else None):
            errors.append(
                AaaError(
                    MISSING_DATA,
                    f"Service {item.get('sequence', i + 1) if isinstance(item, dict) else i + 1} "
                    "has no code (productOrService needs a coding with a code)",
                    f"{claim.path}.item[{i}].productOrService",
                )
            )
    return errors


def _has_code(concept: Any) -> bool:
    codings = concept.get("coding") if isinstance(concept, dict) else None
    return any(isinstance(c, dict) and c.get("code") for c in codings or [])


def _cancels_everything(claim: dict[str, Any]) -> bool:
    for ext in claim.get("extension") or []:
        if str(ext.get("url", "")).endswith("extension-certificationType"):
            codings = (ext.get("valueCodeableConcept") or {}).get("coding") or []
            if any(c.get("code") == CANCEL for c in codings):
                return True
    return False
