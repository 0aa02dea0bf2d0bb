"""What the payer asks for when a line waits for documentation.

A pended line that waits for documentation gets a PAS CommunicationRequest per document
(referenced from ``ClaimResponse.communicationRequest``) and one PAS Task (the provider's
to-do list, an entry of the response Bundle that nothing references) listing everything the
line waits for: LOINC attachments, each with the X12 755 report type of the document, and the
payer's questionnaires (DTR).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fhirauth.decision.codes import (
    PAS_CODES,
    REPORT_TYPE_SYSTEM,
    Naming,
    first_identifier,
    instant,
    pas_ext,
)
from fhirauth.decision.decide import Decision, item_number
from fhirauth.decision.items import line_diagnoses, line_trace
from fhirauth.fhir.bundle import PasRequest
from fhirauth.fhir.extensions import PAS
from fhirauth.fhir.references import Entry, resolve_one
from fhirauth.fhir.systems import LOINC
from fhirauth.policy import Documentation

# LOINC 102089-0: "complete the payer's questionnaire" (PAS additional information, ainfo-2).
QUESTIONNAIRE_REQUEST = "102089-0"
# The scope of every LOINC attachment we ask for (HIPAA minimum necessary): LOINC attachment
# modifier 18804-5, observations made 3 months or fewer before the start of service.
CONTENT_MODIFIER = {
    "system": LOINC,
    "code": "18804-5",
    "display": "Include all data of the selected type that represents observations made "
    "3 months or fewer before the starting date of service",
}
# PWK01 report type (X12 755) of the document a LOINC attachment code asks for.
_REPORT_TYPES = {
    "11506-3": ("09", "Progress Report"),
    "18748-4": ("DG", "Diagnostic Report"),
    "28570-0": ("OB", "Operative Note"),
    "18842-5": ("DS", "Discharge Summary"),
    "34117-2": ("P5", "Patient Medical History Document"),
}
_SUPPORT_DATA = ("OZ", "Support Data for Claim")


def communication_requests(
    req: PasRequest, decision: Decision, naming: Naming
) -> list[dict[str, Any]]:
    """PAS CommunicationRequests: one per missing piece of documentation of a pended item."""
    out = []
    items_by_seq = {int(i["sequence"]): i for i in req.items}
    sender = _sender(req)
    for d in decision.items:
        if not d.missing:
            continue
        diagnoses = line_diagnoses(req, items_by_seq.get(d.sequence, {}))
        for n, doc in enumerate(d.missing, start=1):
            payload_ext = [
                pas_ext("extension-communicatedDiagnosis", valueCodeableConcept=c)
                for c in diagnoses
            ]
            if doc.code:
                payload_ext.append(
                    pas_ext(
                        "extension-contentModifier",
                        valueCodeableConcept={"coding": [CONTENT_MODIFIER]},
                    )
                )
            payload: dict[str, Any] = {"contentString": doc.code or QUESTIONNAIRE_REQUEST}
            if payload_ext:
                payload = {"extension": payload_ext, **payload}
            resource: dict[str, Any] = {
                "resourceType": "CommunicationRequest",
                "id": naming.new_id(),
                "meta": {"profile": [f"{PAS}profile-communicationrequest"]},
                "extension": [pas_ext("extension-serviceLineNumber", valuePositiveInt=d.sequence)],
                # The attachment control number: CDex $submit-attachment's TrackingId.
                "identifier": [
                    {
                        "system": naming.attachment_system,
                        "value": f"{decision.pre_auth_ref}-{d.sequence}-{n}",
                    }
                ],
                "status": "active",
                "category": [{"coding": [_report_type(doc)]}],
                "medium": [{"coding": [{"system": PAS_CODES, "code": "CDEX"}]}],
                "subject": {"reference": req.patient.full_url},
                "payload": [payload],
                "authoredOn": instant(decision.decided_at),
                "requester": {"reference": req.insurer.full_url},
                "recipient": _recipients(req),
            }
            if not resource["recipient"]:
                del resource["recipient"]
            if sender:
                resource["sender"] = {"reference": sender}
            resource["note"] = [
                {
                    "text": doc.description
                    + (f" (questionnaire {doc.questionnaire})" if doc.questionnaire else "")
                }
            ]
            out.append(resource)
    return out


def tasks(
    req: PasRequest,
    decision: Decision,
    naming: Naming,
    due: datetime,
    comm_requests: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """PAS Tasks: for each pended line waiting for documentation, the provider's to-do list
    (REQUIREMENTS.md §4), ready for an EHR to act on: where to send it ($submit-attachment),
    each LOINC document needed and each questionnaire to complete (its DTR context id is the
    line's trace number), for which line, by when (the CMS decision clock)."""
    payer = first_identifier(req.insurer.resource) or {
        "system": "urn:ietf:rfc:3986",
        "value": naming.base_url,
    }
    provider = first_identifier(req.provider.resource) or {
        "system": "urn:ietf:rfc:3986",
        "value": req.provider.full_url,
    }
    out = []
    for d in decision.items:
        if d.action != "A4" or not d.missing:
            continue
        line = pas_ext("extension-serviceLineNumber", valuePositiveInt=d.sequence)
        inputs: list[dict[str, Any]] = [
            {"type": _coded("payer-url"), "valueUrl": f"{naming.base_url}/$submit-attachment"}
        ]
        for doc in d.missing:
            if doc.code:
                inputs.append(
                    {
                        "extension": [
                            line,
                            pas_ext(
                                "extension-contentModifier",
                                valueCodeableConcept={"coding": [CONTENT_MODIFIER]},
                            ),
                        ],
                        "type": _coded("attachments-needed"),
                        "valueCodeableConcept": {
                            "coding": [{"system": LOINC, "code": doc.code}],
                            "text": doc.description,
                        },
                    }
                )
            else:
                inputs.append(
                    {
                        "extension": [line],
                        "type": _coded("questionnaire-context"),
                        "valueString": line_trace(d, naming, decision.pre_auth_ref)["value"],
                    }
                )
        wanted = "; ".join(
            doc.description + (f" (questionnaire {doc.questionnaire})" if doc.questionnaire else "")
            for doc in d.missing
        )
        task: dict[str, Any] = {
            "resourceType": "Task",
            "id": naming.new_id(),
            "meta": {"profile": [f"{PAS}profile-task"]},
            # The line's attachment tracking id: $submit-attachment takes it as TrackingId
            # (each document then names its LineItem and Code).
            "identifier": [
                {
                    "system": naming.attachment_system,
                    "value": item_number(decision.pre_auth_ref, d.sequence),
                }
            ],
        }
        based_on = [
            {"reference": naming.full_url(c)}
            for c in comm_requests
            if c["extension"][0]["valuePositiveInt"] == d.sequence
        ]
        if based_on:
            task["basedOn"] = based_on
        task |= {
            "status": "requested",
            "statusReason": {
                "text": f"Item {d.sequence} is pended until the payer has this documentation"
            },
            "intent": "order",
            "code": _coded(
                "attachment-request-code"
                if any(doc.code for doc in d.missing)
                else "attachment-request-questionnaire"
            ),
            "description": f"Send for item {d.sequence}: {wanted}",
            "for": {"reference": req.patient.full_url},
            "authoredOn": instant(decision.decided_at),
            "requester": {"reference": req.insurer.full_url, "identifier": payer},
            "owner": {"reference": req.provider.full_url, "identifier": provider},
            "reasonCode": _coded("priorAuthorization"),
            "reasonReference": {"reference": req.claim.full_url},
            "restriction": {"period": {"end": instant(due)}},
            "input": inputs,
        }
        out.append(task)
    return out


def _recipients(req: PasRequest) -> list[dict[str, str]] | None:
    """CommunicationRequest.recipient, a Practitioner or an Organization: the requesting
    provider, or a requesting PractitionerRole's practitioner (else its organization)."""
    entry: Entry | None = req.provider
    if req.provider.type == "PractitionerRole":
        role = req.provider.resource
        entry = resolve_one(role.get("practitioner"), req.provider, req.index) or resolve_one(
            role.get("organization"), req.provider, req.index
        )
    if entry is None or entry.type not in ("Practitioner", "Organization"):
        return None
    return [{"reference": entry.full_url}]


def _sender(req: PasRequest) -> str | None:
    """Who is to send the documentation (PAS Requestor, an Organization): the requesting
    provider, or the organization of a requesting PractitionerRole."""
    if req.provider.type == "Organization":
        return req.provider.full_url
    if req.provider.type == "PractitionerRole":
        org = resolve_one(req.provider.resource.get("organization"), req.provider, req.index)
        if org is not None and org.type == "Organization":
            return org.full_url
    return None


def _report_type(doc: Documentation) -> dict[str, str]:
    code, display = _REPORT_TYPES.get(doc.code or "", _SUPPORT_DATA)
    return {"system": REPORT_TYPE_SYSTEM, "code": code, "display": display}


def _coded(code: str) -> dict[str, Any]:
    return {"coding": [{"system": PAS_CODES, "code": code}]}
