"""What fhirauth says in words about its answers; the CLI prints it, the console shows it:
each item's action and authorization, why a request could not be processed
(``ClaimResponse.error``), what a pended item waits for (the CommunicationRequests and PAS
Tasks of the response Bundle), the issues of an OperationOutcome and the trace of a decision."""

from __future__ import annotations

from typing import Any

from fhirauth.fhir.extensions import PAS, codings, extension_value, extensions


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The objects of a JSON array (answers are ours, but the CLI prints whatever it gets)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _ext(node: Any, name: str) -> dict[str, Any]:
    """The first PAS extension ``name`` of ``node``, also under its bare name (as sub-extensions
    are named)."""
    found = extensions(node, PAS + name) or extensions(node, name)
    return found[0] if found else {}


def _first_coding(concept: Any) -> dict[str, Any]:
    found = codings(concept)
    return found[0] if found else {}


def issue_line(severity: str, text: str, expression: Any) -> str:
    where = f" at {', '.join(expression)}" if expression else ""
    return f"{severity}: {text}{where}"


def describe_outcome(oo: dict[str, Any]) -> str:
    return "\n".join(
        "  "
        + issue_line(
            i.get("severity", "error"),
            i.get("diagnostics") or (i.get("details") or {}).get("text", ""),
            i.get("expression"),
        )
        for i in oo.get("issue") or []
    )


def describe_response(bundle: dict[str, Any]) -> str:
    """One line per item: sequence, review action, authorization number, reason."""
    cr = bundle["entry"][0]["resource"]
    notes = {n.get("number"): n.get("text") for n in cr.get("processNote") or []}
    lines = [f"  authorization {cr.get('preAuthRef', '-')}  outcome {cr.get('outcome')}"]
    waits = awaited(bundle)
    for item in cr.get("item") or []:
        review = _review_action(item)
        code = review.get("code") or "?"
        line = f"  item {item.get('itemSequence')}: {code}"
        if review.get("number"):
            line += f"  auth {review['number']}"
        period = extension_value(item, "extension-itemPreAuthPeriod", "valuePeriod")
        if period:
            line += f"  valid {period.get('start')}..{period.get('end')}"
        if review.get("reason"):
            line += f"  reason {review['reason']}"
        texts = [notes.get(n) for n in item.get("noteNumber") or [] if notes.get(n)]
        if texts:
            line += f"\n      {' '.join(texts)}"
        if code == "A4":
            for wanted in waits.get(item.get("itemSequence")) or ["a reviewer's decision"]:
                line += f"\n      awaits: {wanted}"
        lines.append(line)
    lines += [f"  awaits: {wanted}" for wanted in waits.get(None) or []]
    lines += error_lines(cr)
    return "\n".join(lines)


def _review_action(item: dict[str, Any]) -> dict[str, Any]:
    """The code, authorization number and reason of the item's first reviewAction."""
    found = [
        ext
        for adj in _dicts(item.get("adjudication"))
        for ext in extensions(adj, PAS + "extension-reviewAction")
    ]
    if not found:
        return {}
    action = found[0]
    return {
        "code": _code(action, "extension-reviewActionCode"),
        "number": _ext(action, "number").get("valueString"),
        "reason": _code(action, "reasonCode"),
    }


def _code(node: Any, name: str) -> Any:
    return _first_coding(_ext(node, name).get("valueCodeableConcept")).get("code")


def error_lines(cr: dict[str, Any]) -> list[str]:
    """One line per ``ClaimResponse.error``: the X12 901 code and its text, the FHIRPath of what
    is wrong, the item it concerns and the follow-up action."""
    lines = []
    for err in _dicts(cr.get("error")):
        concept = _obj(err.get("code"))
        code = _first_coding(concept).get("code") or "?"
        text = concept.get("text") or _first_coding(concept).get("display")
        line = f"  error {code}" + (f": {text}" if text else "")
        path = _ext(err, "extension-errorPath").get("valueString")
        if path:
            line += f"\n      at {path}"
        if err.get("itemSequence"):
            line += f" (item {err['itemSequence']})"
        action = _obj(_ext(err, "extension-errorFollowupAction").get("valueCodeableConcept"))
        what = action.get("text") or _first_coding(action).get("code")
        if what:
            line += f"\n      follow-up: {what}"
        lines.append(line)
    return lines


def _line_of(node: dict[str, Any]) -> int | None:
    ext = _ext(node, "extension-serviceLineNumber") or _ext(node, "extension-paLineNumber")
    value = ext.get("valuePositiveInt")
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


def trace_text(trace: dict[str, Any], indent: str = "  ") -> str:
    """A rule trace as lines a person reads: candidates, checks, steps, why."""
    lines = [f"{indent}codes: {', '.join(trace.get('codes') or []) or '(none)'}"]
    for cand in trace.get("candidates") or []:
        mark = "applies" if cand.get("applies") else "does not apply"
        lines.append(f"{indent}rule {cand['rule']} (priority {cand['priority']}): {mark}")
        for check in cand.get("checks") or []:
            for cond in check.get("conditions") or [check]:
                what = cond.get("expression") or check.get("check")
                lines.append(f"{indent}  {check.get('check')}: {what} -> {cond.get('result')}")
    for step in trace.get("steps") or []:
        if "conditions" in step:
            for cond in step["conditions"]:
                lines.append(f"{indent}{step['step']}: {cond['expression']} -> {cond['result']}")
        elif step.get("step") == "documentation":
            lines.append(
                f"{indent}documentation: required {step['required']}, missing "
                f"{step['missing'] or 'none'}"
            )
        elif step.get("step") == "limit":
            lines.append(f"{indent}limit: { ({k: v for k, v in step.items() if k != 'step'}) }")
    lines.append(f"{indent}decided by: {trace.get('decided_by') or 'no rule'}")
    if trace.get("why"):
        lines.append(f"{indent}why: {trace['why']}")
    return "\n".join(lines)


def _parts(node: dict[str, Any]) -> list[tuple[str, Any]]:
    out = []
    for p in node.get("part") or node.get("parameter") or []:
        value = next((v for k, v in p.items() if k.startswith("value")), p)
        out.append((p.get("name"), value))
    return out


def describe_check(parameters: dict[str, Any]) -> str:
    """A ``$check-authorization`` answer as a table: one row per claim line (authorization,
    status, units left, recorded), each mismatch under it."""
    head = ("line", "authorization", "status", "units left", "recorded")
    rows: list[tuple[str, ...]] = []
    notes: dict[int, list[str]] = {}
    for name, line in _parts(parameters):
        if name != "line":
            continue
        got: dict[str, Any] = {}
        found = []
        for key, value in _parts(line):
            if key == "mismatch":
                fields = dict(_parts(value))
                found.append(f"{fields['code']['code']}: {fields['text']}")
            else:
                got[key] = value
        rows.append(
            (
                str(got.get("sequence", "?")),
                str(got.get("authorizationNumber") or "none"),
                str(got.get("status") or "-"),
                str(got["unitsRemaining"]) if "unitsRemaining" in got else "-",
                "yes" if got.get("recorded") else "no",
            )
        )
        notes[len(rows) - 1] = found or ["ok: no mismatch"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  " + "  ".join(c.ljust(w) for c, w in zip(head, widths, strict=True)).rstrip()]
    for n, row in enumerate(rows):
        lines.append(
            "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        )
        lines += [f"      {note}" for note in notes[n]]
    return "\n".join(lines)
