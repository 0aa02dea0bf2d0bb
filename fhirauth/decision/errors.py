"""ClaimResponse ``error``: why the payer could not process a request (X12 AAA).

Each error carries its X12 901 reject reason, the 889 follow-up action, the FHIRPath it is
about (``errorPath``) and ``errorElement``, which names the FHIR element the error is about
(we are FHIR-native: ``Coverage.identifier``, not an X12 loop and segment) and links the
processNote that explains it.
"""

from __future__ import annotations

import re
from typing import Any

from fhirauth.decision.codes import FOLLOWUP_SYSTEM, REJECT_REASON_SYSTEM, pas_ext
from fhirauth.decision.decide import AaaError

_FOLLOWUPS = {
    "C": "Please correct and resubmit",
    "N": "Resubmission not allowed; submit a new request",
    "P": "Please resubmit the original transaction",
    "R": "Resubmission allowed",
}
_INDEX = re.compile(r"\[\d+\]")


def element_name(path: str | None, types: dict[int, str]) -> str | None:
    """The FHIR element a FHIRPath from the Bundle is about, by resource type and element
    names (``Bundle.entry[3].resource.identifier[0]`` → ``Coverage.identifier``): what
    errorElement carries for a FHIR-native payer, where X12 puts a loop and segment."""
    if not path:
        return None
    m = re.match(r"^Bundle\.entry\[(\d+)\]\.resource(.*)$", path)
    if m and int(m.group(1)) in types:
        path = types[int(m.group(1))] + m.group(2)
    return _INDEX.sub("", path)


def response_error(
    error: tuple[Any, ...], notes: list[dict[str, Any]], types: dict[int, str]
) -> dict[str, Any]:
    """ClaimResponse.error for ``error`` (an :class:`AaaError`'s fields); its text becomes a
    processNote appended to ``notes``. ``types`` are the Bundle's resource types by entry."""
    err = AaaError(*error)
    number = len(notes) + 1
    notes.append({"number": number, "type": "display", "text": err.text})
    element: list[dict[str, Any]] = [{"url": "processNote", "valuePositiveInt": number}]
    name = element_name(err.path, types)
    if name:
        element.append({"url": "error", "valueString": name})
    ext: list[dict[str, Any]] = [
        pas_ext(
            "extension-errorFollowupAction",
            valueCodeableConcept={
                "coding": [{"system": FOLLOWUP_SYSTEM, "code": err.followup}],
                "text": _FOLLOWUPS.get(err.followup, err.followup),
            },
        ),
        pas_ext("extension-errorElement", extension=element),
    ]
    if err.path:
        ext.append(pas_ext("extension-errorPath", valueString=err.path))
    return {
        "extension": ext,
        "code": {"coding": [{"system": REJECT_REASON_SYSTEM, "code": err.code}], "text": err.text},
    }
