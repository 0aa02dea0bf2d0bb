"""What the client commands print about a PAS answer beyond each item's action: why a request
could not be processed (``ClaimResponse.error``), and what a pended item waits for (the
CommunicationRequests and PAS Tasks of the response Bundle)."""

from __future__ import annotations

from typing import Any

PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
PAS_CODES = "http://hl7.org/fhir/us/davinci-pas/CodeSystem/PASTempCodes"
LOINC = "http://loinc.org"


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The objects of a JSON array (answers are ours, but the CLI prints whatever it gets)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _ext(node: dict[str, Any], name: str) -> dict[str, Any] | None:
    for e in _dicts(node.get("extension")):
        if e.get("url") in (PAS + name, name):
            return e
    return None


def _first_coding(concept: Any) -> dict[str, Any]:
    codings = concept.get("coding") if isinstance(concept, dict) else None
    first = codings[0] if isinstance(codings, list) and codings else None
    return first if isinstance(first, dict) else {}


def error_lines(cr: dict[str, Any]) -> list[str]:
    """One line per ``ClaimResponse.error``: the X12 901 code and its text, the FHIRPath of what
    is wrong, the item it concerns and the follow-up action."""
    lines = []
    for err in _dicts(cr.get("error")):
        concept = _obj(err.get("code"))
        code = _first_coding(concept).get("code") or "?"
        text = concept.get("text") or _first_coding(concept).get("display")
        line = f"  error {code}" + (f": {text}" if text else "")
        path = _ext(err, "extension-errorPath")
        if path and path.get("valueString"):
            line += f"\n      at {path['valueString']}"
        if err.get("itemSequence"):
            line += f" (item {err['itemSequence']})"
        followup = _ext(err, "extension-errorFollowupAction")
        if followup:
            action = _obj(followup.get("valueCodeableConcept"))
            what = action.get("text") or _first_coding(action).get("code")
            if what:
                line += f"\n      follow-up: {what}"
        lines.append(line)
    return lines


def _line_of(node: dict[str, Any]) -> int | None:
    ext = _ext(node, "extension-serviceLineNumber") or _ext(node, "extension-paLineNumber")
    value = (ext or {}).get("valuePositiveInt")
    return value if isinstance(value, int) else None


def awaited(bundle: dict[str, Any]) -> dict[int | None, list[str]]:
    """What each pended item waits for, by item sequence (None: the whole request): one line per
    documentation request, ``LOINC <code>: <description>`` with its tracking number and due
    time. From the CommunicationRequests; from the PAS Tasks' inputs when there are none."""
    resources = [
        e["resource"] for e in _dicts(bundle.get("entry")) if isinstance(e.get("resource"), dict)
    ]
    due: dict[int | None, str] = {}
    tasks = [r for r in resources if r.get("resourceType") == "Task"]
    for task in tasks:
        end = _obj(_obj(task.get("restriction")).get("period")).get("end")
        for inp in _dicts(task.get("input")):
            if end:
                due.setdefault(_line_of(inp), str(end)[:10])
    out: dict[int | None, list[str]] = {}
    for comm in (r for r in resources if r.get("resourceType") == "CommunicationRequest"):
        line = _line_of(comm)
        for payload in _dicts(comm.get("payload")) or [{}]:
            code = payload.get("contentString") or _first_coding(
                payload.get("contentCodeableConcept")
            ).get("code")
            note = " ".join(str(n["text"]) for n in _dicts(comm.get("note")) if n.get("text"))
            text = f"LOINC {code}" if code else "documentation"
            if note:
                text += f": {note}"
            tracking = next((i.get("value") for i in _dicts(comm.get("identifier"))), None)
            extras = [f"tracking {tracking}"] if tracking else []
            if due.get(line):
                extras.append(f"due {due[line]}")
            out.setdefault(line, []).append(text + (f" ({', '.join(extras)})" if extras else ""))
    if out:
        return out
    for task in tasks:
        for inp in _dicts(task.get("input")):
            kind = _first_coding(inp.get("type")).get("code")
            if kind != "attachments-needed":
                continue
            concept = _obj(inp.get("valueCodeableConcept"))
            code = _first_coding(concept).get("code")
            text = f"LOINC {code}" + (f": {concept['text']}" if concept.get("text") else "")
            line = _line_of(inp)
            out.setdefault(line, []).append(text + (f" (due {due[line]})" if due.get(line) else ""))
    return out
