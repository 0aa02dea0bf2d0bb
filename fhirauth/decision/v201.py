"""PAS 2.0.1 answers: our 2.2.1 response Bundles, said the way a 2.0.1 EHR expects them.

fhirauth decides and stores once, in PAS 2.2.1 terms; the ``/fhir/pas/v2.0.1`` base (conf-1: a
distinct endpoint per version) sends the same answer through :func:`as_v201`, which is pure and
deterministic, so a duplicate submission is still answered byte for byte. What changes
(REQUIREMENTS.md Appendix B): the profiles we claim are the 2.0.1 canonicals, and the
extensions 2.2.1 introduced are left out of what we wrote. Resources echoed from the request
are the sender's and pass unchanged.
"""

from __future__ import annotations

import copy
from typing import Any

from fhirauth.fhir.extensions import PAS, extensions

VERSION = "2.0.1"
# Defined in PAS 2.2.1 and not in 2.0.1 (compare the two IG packages' StructureDefinitions).
_NEW_IN_221 = frozenset(
    PAS + name
    for name in (
        "extension-TransmissionIdentifiers",
        "extension-admissionDates",
        "extension-authorizedProviderType",
        "extension-claimResponseReviewer",
        "extension-dischargeDate",
        "extension-documentInformation",
        "extension-itemCategory",
        "extension-revenueCode",
    )
)
_ADMINISTRATIVE = (PAS + "extension-serviceLineNumber", PAS + "extension-contentModifier")


def as_v201(bundle: dict[str, Any], base_v201: str | None = None) -> dict[str, Any]:
    """A PAS 2.0.1 copy of one of our response Bundles (submit, inquiry or notification).
    With ``base_v201`` the resources we wrote get their fullUrls (and the references to them)
    under that base, where a 2.0.1 client reads them back."""
    out = copy.deepcopy(bundle)
    entries = out.get("entry") or []
    base = _base(entries)
    _claim_profiles(out)
    ours = [e for e in entries if base and str(e.get("fullUrl", "")).startswith(base + "/")]
    for entry in ours:
        resource = entry.get("resource")
        if isinstance(resource, dict):
            _claim_profiles(resource)
            _strip(resource)
            _RESHAPE.get(str(resource.get("resourceType")), _keep)(resource)
    if base and base_v201:
        moved = {e["fullUrl"]: base_v201 + e["fullUrl"][len(base) :] for e in ours}
        for entry in ours:
            entry["fullUrl"] = moved[entry["fullUrl"]]
        for entry in entries:
            _move_references(entry.get("resource"), moved)
    return out


def _move_references(node: Any, moved: dict[str, str]) -> None:
    if isinstance(node, list):
        for value in node:
            _move_references(value, moved)
    elif isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str) and ref in moved:
            node["reference"] = moved[ref]
        for value in node.values():
            _move_references(value, moved)


def _base(entries: list[dict[str, Any]]) -> str | None:
    first = str(entries[0].get("fullUrl", "")) if entries else ""
    head, sep, _ = first.rpartition("/ClaimResponse/")
    return head if sep else None


def _claim_profiles(resource: dict[str, Any]) -> None:
    meta = resource.get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("profile"), list):
        meta["profile"] = [
            f"{p.split('|', 1)[0]}|{VERSION}" if str(p).startswith(PAS) else p
            for p in meta["profile"]
        ]


def _strip(node: Any) -> None:
    if isinstance(node, list):
        for value in node:
            _strip(value)
    elif isinstance(node, dict):
        _drop(node, lambda e: e.get("url") in _NEW_IN_221)
        for value in node.values():
            _strip(value)


def _drop(node: dict[str, Any], unwanted: Any) -> None:
    for key in ("extension", "modifierExtension"):
        if isinstance(node.get(key), list):
            node[key] = [e for e in node[key] if not (isinstance(e, dict) and unwanted(e))]
            if not node[key]:
                del node[key]


def _keep(resource: dict[str, Any]) -> None:
    return None


def _claim_response(cr: dict[str, Any]) -> None:
    """2.0.1 contexts: authorizedProvider only on items, reviewAction only on item
    adjudication (addItem as a whole is 2.2.1's spec-36/37), errorElement a plain string."""
    _drop(cr, lambda e: e.get("url") == PAS + "extension-itemAuthorizedProvider")
    review = PAS + "extension-reviewAction"
    for adj in cr.get("adjudication") or []:
        _drop(adj, lambda e: e.get("url") == review)
    for added in cr.get("addItem") or []:
        added.pop("extension", None)
        for adj in added.get("adjudication") or []:
            _drop(adj, lambda e: e.get("url") == review)
    for error in cr.get("error") or []:
        for ext in extensions(error, PAS + "extension-errorElement"):
            parts = {p.get("url"): p for p in ext.pop("extension", [])}
            named = parts.get("error", {}).get("valueString")
            ext["valueString"] = named or _error_path(error) or "unknown"


def _error_path(error: dict[str, Any]) -> str | None:
    found = extensions(error, PAS + "extension-errorPath")
    return found[0].get("valueString") if found else None


def _communication_request(cr: dict[str, Any]) -> None:
    """2.0.1 puts the line number and content modifier on the payload, not the resource."""
    moved = [e for e in cr.get("extension") or [] if e.get("url") in _ADMINISTRATIVE]
    _drop(cr, lambda e: e.get("url") in _ADMINISTRATIVE)
    for payload in cr.get("payload") or []:
        payload.setdefault("extension", []).extend(copy.deepcopy(moved))


def _task(task: dict[str, Any]) -> None:
    """2.0.1 numbers a Task input's line with paLineNumber (an integer)."""
    for part in task.get("input") or []:
        exts = []
        for e in part.get("extension") or []:
            if e.get("url") == PAS + "extension-serviceLineNumber":
                exts.append(
                    {
                        "url": PAS + "extension-paLineNumber",
                        "valueInteger": e.get("valuePositiveInt"),
                    }
                )
            elif e.get("url") != PAS + "extension-contentModifier":
                exts.append(e)
        if exts:
            part["extension"] = exts
        else:
            part.pop("extension", None)


_RESHAPE = {
    "ClaimResponse": _claim_response,
    "CommunicationRequest": _communication_request,
    "Task": _task,
}
