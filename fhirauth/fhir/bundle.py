"""A PAS request Bundle → :class:`PasRequest`, with FHIR Bundle reference resolution.

Structural breakage (what makes a bundle impossible to process at all) raises
:class:`~fhirauth.errors.Invalid` listing every problem with its FHIRPath. Problems a payer
can live with (a PractitionerRole's Location that is not in the bundle) become warnings on
the request: the IG's own examples have them, and PAS conf-14 forbids a 4xx for missing
optional data.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson
import pydantic
from fhir.resources.R4B import get_fhir_model_class

from fhirauth.errors import Invalid, Issue, invalid
from fhirauth.fhir.claim_values import (
    negative_quantities,
    overlong_codes,
    overlong_identifiers,
    related_to_itself,
)
from fhirauth.fhir.digests import RecentDigests, digest
from fhirauth.fhir.json_rules import json_issues
from fhirauth.fhir.references import Entry, EntryIndex, references, resolve
from fhirauth.fhir.strict_json import load_json

_ABSOLUTE = re.compile(r"^https?://[^/\s]+(/[^\s]*)?$")
_URN_UUID = re.compile(
    r"^urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)


@dataclass
class PasRequest:
    """A parsed PAS request: the Bundle as sent plus the entries the Claim depends on."""

    bundle: dict[str, Any]
    entries: list[Entry]
    claim: Entry
    patient: Entry
    insurer: Entry
    provider: Entry
    coverages: list[Entry]
    warnings: list[Issue] = field(default_factory=list)
    deviations: int = 0  # profile errors accepted as warnings (validation is lenient)
    # An update (PAS Claim Update): Claim.related with relationship prior (2.0.1: replaces).
    is_update: bool = False
    prior: Entry | None = None  # the Claim it updates, when the bundle holds it (2.2.1)
    prior_reference: dict[str, Any] | None = None

    @property
    def items(self) -> list[dict[str, Any]]:
        return list(self.claim.resource.get("item") or [])

    @cached_property
    def index(self) -> EntryIndex:
        return EntryIndex(self.entries)

    def resolve(self, reference: str, referrer: Entry) -> list[Entry]:
        return resolve(reference, referrer, self.index)


def unwrap_parameters(resource: Any, parameter: str = "resource") -> Any:
    """Accept the operation's Parameters form: ``parameter[name=resource].resource``."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "Parameters":
        return resource
    params = resource.get("parameter")
    found = [
        p.get("resource")
        for p in params or []
        if isinstance(p, dict) and p.get("name") == parameter and "resource" in p
    ]
    if len(found) != 1:
        raise invalid(
            f"A Parameters body must carry exactly one '{parameter}' parameter holding the Bundle",
            "Parameters.parameter",
        )
    return found[0]


def request_bundle(body: bytes | str | dict[str, Any]) -> Any:
    """The JSON of a PAS request body: the Bundle, taken out of a Parameters holding one. What
    is not JSON, or a Parameters without exactly one Bundle, raises ``Invalid``."""
    return unwrap_parameters(load_json(body) if isinstance(body, bytes | str) else body)


def parse_request(body: bytes | str | dict[str, Any]) -> PasRequest:
    """Parse a PAS request Bundle (or a Parameters holding one)."""
    return parse_bundle(request_bundle(body))


def parse_bundle(data: Any, *, models: bool = True) -> PasRequest:
    """Parse what :func:`request_bundle` read. ``models=False`` leaves out the check against
    the R4 models (most of the cost) for content known to have passed it: a submission as
    stored, or a resubmission with the same content hash as one. Such content's warnings were
    stored with it, so the walk over every reference that finds some is left out too."""
    entries, issues, warnings = collection_entries(data, "A PAS request Bundle", models=models)

    claim = entries[0]
    if claim.type != "Claim":
        issues.append(
            Issue(
                "invalid", "The first entry of a PAS request Bundle must be a Claim", (claim.path,)
            )
        )
        raise Invalid(issues)
    if claim.resource.get("use") != "preauthorization":
        issues.append(
            Issue(
                "invalid",
                "Claim.use must be 'preauthorization' for a prior authorization request",
                (f"{claim.path}.use",),
            )
        )
    issues += _duplicate_sequences(claim, "item")
    issues += _duplicate_sequences(claim, "supportingInfo")

    index = EntryIndex(entries)
    issues += negative_quantities(claim.resource.get("item"), f"{claim.path}.item")
    issues += overlong_codes(claim.resource, claim.path)
    issues += overlong_identifiers(data, "Bundle")
    for entry in entries:
        issues += overlong_identifiers(entry.resource, entry.path)
    issues += related_to_itself(
        claim.resource, claim.path, lambda ref: any(t is claim for t in resolve(ref, claim, index))
    )
    found: dict[str, list[Entry]] = {}
    for path, ref in _claim_references(claim):
        targets, problem = _resolve_required(ref, claim, index, path)
        if problem:
            issues.append(problem)
        found[path] = targets
    if issues:
        raise Invalid(issues)

    if models:
        warnings += _unresolved_deeper_references(claim, entries, index, set(found))

    def one(path: str) -> Entry:
        return found[path][0]

    # The focal Coverage first: it is the one the request is to be adjudicated against
    # (Claim.insurance.focal), whichever place the sender listed it in.
    insurance = claim.resource.get("insurance") or []
    coverages = [
        one(f"{claim.path}.insurance[{i}].coverage")
        for i in sorted(range(len(insurance)), key=lambda i: insurance[i].get("focal") is not True)
    ]
    is_update, prior_ref = _related_prior(claim)
    prior = None
    if prior_ref and isinstance(prior_ref.get("reference"), str):
        targets = resolve(prior_ref["reference"], claim, index)
        if len(targets) == 1 and targets[0].type == "Claim" and targets[0] is not claim:
            prior = targets[0]
    return PasRequest(
        bundle=data,
        entries=entries,
        claim=claim,
        patient=one(f"{claim.path}.patient"),
        insurer=one(f"{claim.path}.insurer"),
        provider=one(f"{claim.path}.provider"),
        coverages=coverages,
        warnings=warnings,
        is_update=is_update,
        prior=prior,
        prior_reference=prior_ref,
    )


def collection_entries(
    data: Any, what: str, *, models: bool = True
) -> tuple[list[Entry], list[Issue], list[Issue]]:
    """A collection Bundle's entries, checked against the R4 models (unless ``models`` is
    False), with the fullUrl problems (errors) and the tolerated deviations (warnings) found on
    the way."""
    entries = _entries(data, what)
    if models:
        validate_models(data, entries)
    issues: list[Issue] = []
    warnings: list[Issue] = []
    for e in entries:
        if not (_ABSOLUTE.match(e.full_url) or _URN_UUID.match(e.full_url)):
            issues.append(
                Issue(
                    "invalid",
                    "entry.fullUrl must be an absolute http(s) URL or urn:uuid:<uuid>",
                    (f"Bundle.entry[{e.index}].fullUrl",),
                )
            )
    for i, raw in enumerate(data["entry"]):
        for key in ("request", "response", "search"):
            if key in raw:
                warnings.append(
                    Issue(
                        "invalid",
                        f"entry.{key} is not allowed in {what[0].lower()}"
                        f"{what[1:]} and was ignored",
                        (f"Bundle.entry[{i}].{key}",),
                        "warning",
                    )
                )
    if data.get("type") != "collection":
        warnings.append(
            Issue("invalid", f"{what} has type 'collection'", ("Bundle.type",), "warning")
        )
    return entries, issues, warnings


_PRIOR = frozenset({"prior", "replaces"})


def _related_prior(claim: Entry) -> tuple[bool, dict[str, Any] | None]:
    for related in claim.resource.get("related") or []:
        codes = {c.get("code") for c in (related.get("relationship") or {}).get("coding") or []}
        if codes & _PRIOR:
            return True, related.get("claim")
    return False, None


def _entries(data: Any, what: str) -> list[Entry]:
    if not isinstance(data, dict):
        raise invalid("The body must be a FHIR resource (a JSON object)", code="structure")
    kind = data.get("resourceType")
    if kind != "Bundle":
        raise invalid(f"Expected a Bundle, got {kind!r}", "Bundle" if kind is None else str(kind))
    raw = data.get("entry")
    if not isinstance(raw, list) or not raw:
        raise invalid(
            f"{what} needs entries, the first of them the request itself",
            "Bundle.entry",
            code="required",
        )
    entries: list[Entry] = []
    issues: list[Issue] = []
    for i, e in enumerate(raw):
        resource = e.get("resource") if isinstance(e, dict) else None
        full_url = e.get("fullUrl") if isinstance(e, dict) else None
        if not isinstance(resource, dict):
            issues.append(
                Issue("required", "Every entry needs a resource", (f"Bundle.entry[{i}].resource",))
            )
        if not isinstance(full_url, str):
            issues.append(
                Issue("required", "Every entry needs a fullUrl", (f"Bundle.entry[{i}].fullUrl",))
            )
        if isinstance(resource, dict) and isinstance(full_url, str):
            entries.append(Entry(i, full_url, resource))
    if issues:
        raise Invalid(issues)
    return entries


def validate_models(data: dict[str, Any], entries: list[Entry]) -> None:
    """Check every resource against the R4 models, each on its own so paths stay exact."""
    issues: list[Issue] = []
    shell = {
        **data,
        "entry": [{k: v for k, v in e.items() if k != "resource"} for e in data["entry"]],
    }
    issues += model_issues("Bundle", shell, "Bundle")
    for e in entries:
        issues += model_issues(e.type, e.resource, e.path)
    if issues:
        raise Invalid(issues)


def _clean_key(kind: str, resource: dict[str, Any]) -> bytes | None:
    try:
        canonical = orjson.dumps(resource, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):  # beyond orjson (a huge integer): check it
        return None
    return digest(kind.encode(), canonical)


# Resources that passed the R4 models (and FHIR's JSON rules): checking one costs 0.2 to 1 ms.
_CLEAN = RecentDigests(4096)


def model_issues(kind: str, resource: dict[str, Any], path: str) -> list[Issue]:
    key = _clean_key(kind, resource)
    if key is not None and key in _CLEAN:
        return []
    issues = _model_issues(kind, resource, path)
    if key is not None and not issues:
        _CLEAN.add(key)
    return issues


def _model_issues(kind: str, resource: dict[str, Any], path: str) -> list[Issue]:
    try:
        model = get_fhir_model_class(kind)
    except (ValueError, KeyError, TypeError):
        return [Issue("not-supported", f"{kind!r} is not an R4 resource type", (f"{path}",))]
    # FHIR's JSON rules, which the models' lax reading lets through (true as 1, "2" as 2, null,
    # per-1) and on some shapes trips over (a string where an element belongs).
    shape = json_issues(kind, resource, path)
    issues: list[Issue] = []
    try:
        model.model_validate(resource)
    except pydantic.ValidationError as exc:
        issues = [
            Issue("structure", err["msg"], (_fhirpath(path, err["loc"]),))
            for err in exc.errors(include_input=False, include_url=False)
        ]
    except (AttributeError, ValueError, KeyError, TypeError) as exc:
        # fhir.resources raises these for shapes pydantic never sees (an unknown contained
        # resourceType, a primitive where a resource or an element belongs); the JSON rules
        # say where, else the resource is blamed as a whole.
        if not shape:
            issues = [Issue("structure", f"{type(exc).__name__}: not a valid {kind}", (path,))]
    reported = {i.expression for i in issues}
    return issues + [i for i in shape if i.expression not in reported]


def _fhirpath(prefix: str, loc: tuple[Any, ...]) -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = str(part).removesuffix("__ext")
            out += "." + (name[:-5] if name.endswith("_fhir") else name)
    return out


def _duplicate_sequences(claim: Entry, element: str) -> list[Issue]:
    seen: dict[Any, int] = {}
    issues = []
    for i, item in enumerate(claim.resource.get(element) or []):
        seq = item.get("sequence")
        if seq in seen:
            issues.append(
                Issue(
                    "invalid",
                    f"{element}.sequence {seq} is used twice; sequences identify "
                    f"{element} entries across requests and responses and must be unique",
                    (
                        f"{claim.path}.{element}[{seen[seq]}].sequence",
                        f"{claim.path}.{element}[{i}].sequence",
                    ),
                )
            )
        else:
            seen[seq] = i
    return issues


_TARGETS = {
    "patient": ("Patient",),
    "insurer": ("Organization",),
    "provider": ("Organization", "PractitionerRole", "Practitioner"),
    "coverage": ("Coverage",),
}


def _claim_references(claim: Entry) -> Iterator[tuple[str, Any]]:
    c = claim.resource
    for name in ("patient", "insurer", "provider"):
        yield f"{claim.path}.{name}", c.get(name)
    for i, ins in enumerate(c.get("insurance") or []):
        yield f"{claim.path}.insurance[{i}].coverage", ins.get("coverage")


def _resolve_required(
    ref: Any, claim: Entry, entries: EntryIndex, path: str
) -> tuple[list[Entry], Issue | None]:
    element = path.removeprefix(f"{claim.path}.")
    allowed = _TARGETS[path.rsplit(".", 1)[-1]]
    reference = ref.get("reference") if isinstance(ref, dict) else None
    if not reference:
        return [], Issue(
            "required",
            f"Claim.{element} must reference an entry of the Bundle",
            (f"{path}.reference" if ref else path,),
        )
    targets = resolve(reference, claim, entries)
    if len(targets) == 1:
        if targets[0].type not in allowed:
            return [], Issue(
                "invalid",
                f"Claim.{element} must reference {_a(' or '.join(allowed))}, "
                f"not {_a(targets[0].type)}",
                (f"{path}.reference",),
            )
        return targets, None
    if not targets:
        return [], Issue(
            "not-found",
            f"Claim.{element} reference {reference!r} resolves to no entry of the Bundle",
            (f"{path}.reference",),
        )
    return targets, Issue(
        "multiple-matches",
        f"Claim.{element} reference {reference!r} resolves to {len(targets)} entries of the Bundle",
        (f"{path}.reference",),
    )


def _a(noun: str) -> str:
    return ("an " if noun[:1] in "AEIOU" else "a ") + noun


def _unresolved_deeper_references(
    claim: Entry, entries: list[Entry], index: EntryIndex, checked: set[str]
) -> list[Issue]:
    warnings = []
    for e in entries:
        contained = {f"#{c.get('id')}" for c in e.resource.get("contained") or []}
        for path, ref in references(e.resource, e.path):
            if path.removesuffix(".reference") in checked:
                continue
            if ref in contained or ref.startswith("#"):
                continue
            if e.type == "Claim" and ".related[" in path and e is not claim:
                continue  # spec-66: a prior Claim's own predecessor is not in the bundle
            if len(resolve(ref, e, index)) != 1:
                warnings.append(
                    Issue(
                        "not-found",
                        f"Reference {ref!r} does not resolve to exactly one entry of the Bundle",
                        (path,),
                        "warning",
                    )
                )
    return warnings
