"""The rules one element of a profile sets for one occurrence, each reporting what it finds.

Cardinality and closed slicing judge an element's occurrences together; type shape, fixed and
pattern values, required bindings, reference targets and invariants judge one occurrence; an
extension's url and context are judged against its definition. None of them descends: the
walk (:mod:`fhirauth.conformance.walk`) does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache, lru_cache
from typing import Any

from fhirauth.conformance import primitives
from fhirauth.conformance.model import CORE, MISSING, Element, Invariant, Profile
from fhirauth.conformance.occurrence import Occ, text
from fhirauth.conformance.package import CORE_TYPES
from fhirauth.conformance.plan import plan
from fhirauth.conformance.registry import Registry
from fhirauth.conformance.report import Report
from fhirauth.conformance.slicing import matches
from fhirauth.conformance.terminology import licensed
from fhirauth.fhir.extensions import codings
from fhirauth.fhir.systems import canonical

Resolver = Callable[[str], dict[str, Any] | None]
_REF_TYPE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}(?:/_history/[^/]+)?$")
# Resources implementing the logical Request pattern (an extension context of PAS 2.2.1).
_REQUEST_PATTERN = frozenset(
    {
        "CarePlan",
        "CommunicationRequest",
        "DeviceRequest",
        "ImmunizationRecommendation",
        "MedicationRequest",
        "NutritionOrder",
        "ServiceRequest",
        "Task",
        "Claim",
        "Contract",
        "CoverageEligibilityRequest",
        "EnrollmentRequest",
        "SupplyRequest",
        "VisionPrescription",
    }
)
_ANY_CONTEXT = frozenset({"Element", "Resource", "DomainResource", "BackboneElement"})


def _codings(value: Any, type_: str | None) -> list[tuple[str | None, str | None]] | None:
    """The (system, code) pairs a coded value carries; None when it is not coded."""
    if isinstance(value, str):
        return [(None, value)] if type_ in (None, "", "code") else None
    if not isinstance(value, dict):
        return None
    if "coding" in value or type_ == "CodeableConcept" or ("text" in value and "code" not in value):
        # codings() would iterate a coding that is not a list (5, true); it carries none here
        found = codings(value) if isinstance(value.get("coding"), list) else []
        return [(text(c.get("system")), text(c.get("code"))) for c in found]
    if "code" in value:
        return [(text(value.get("system")), text(value.get("code")))]
    return None


# canonical() normalises a system URL with string surgery, for every coding of every bound
# value; senders use a handful of systems.
_canonical = lru_cache(maxsize=1024)(canonical)


@cache
def _bare(codes: frozenset[tuple[str | None, str]]) -> frozenset[str]:
    """The codes of a value set whatever their system (a coding may omit it); once per set."""
    return frozenset(c for _, c in codes)


def _show(codings: list[tuple[str | None, str | None]]) -> str:
    if not codings:
        return "no coding"
    return ", ".join(f"{s}#{c}" if s else str(c) for s, c in codings)


def _ext_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


# -- an element's occurrences together ---------------------------------------------------------


def cardinality(
    report: Report, profile: Profile, el: Element, occs: list[Occ], parent: Occ
) -> None:
    what = el.label
    if el.slice_name and el.name in ("extension", "modifierExtension"):
        url = el.children.get("url")
        if url is not None and url.fixed is not MISSING:
            what += f" ({url.fixed})"
    n = len(occs)
    if n < el.min:
        json_name = el.name[:-3] if el.is_choice else el.name
        report.issue(
            profile,
            "min",
            f"{what} is {el.card}, found {n}",
            f"{parent.path}.{json_name}",
            code="required",
        )
    if el.max is not None and n > el.max:
        at = occs[el.max].path
        if el.max == 0:
            report.issue(profile, "max", f"{what} is not allowed (0..0)", at, code="structure")
        else:
            report.issue(profile, "max", f"{what} is {el.card}, found {n}", at, code="structure")


def unsliced(report: Report, profile: Profile, el: Element, occ: Occ) -> None:
    """An occurrence that matches none of ``el``'s slices: wrong where the slicing is closed."""
    assert el.slicing is not None
    if el.slicing.rules == "closed":
        report.issue(
            profile,
            "slicing",
            f"{el.path} is closed to values matching none of its slices ({', '.join(el.slices)})",
            occ.path,
            code="structure",
        )


# -- one occurrence ----------------------------------------------------------------------------


def shape(report: Report, profile: Profile, el: Element, occ: Occ) -> bool:
    """The JSON has the shape of its type; a wrong shape stops deeper checks."""
    type_ = occ.type
    if not type_:
        return True
    if el.types and plan(el).choice and type_ not in plan(el).codes:
        report.issue(
            profile,
            "type",
            f"{el.path} allows {', '.join(sorted(el.type_codes()))}, not {type_}",
            occ.path,
            code="structure",
        )
        return False
    problem = primitives.problem(type_, occ.value)
    if problem:
        report.issue(profile, "type", f"{el.path}: {problem}", occ.path, code="value")
        return False
    return True


def fixed(report: Report, profile: Profile, el: Element, occ: Occ) -> None:
    v = occ.value
    if el.fixed is not MISSING and not (matches(v, el.fixed) and matches(el.fixed, v)):
        report.issue(
            profile,
            "fixed",
            f"{el.path} must be exactly {el.fixed!r}, found {v!r}",
            occ.path,
            code="value",
        )


def pattern(report: Report, profile: Profile, el: Element, occ: Occ) -> None:
    v = occ.value
    if el.pattern is not MISSING and not matches(v, el.pattern):
        report.issue(
            profile,
            "pattern",
            f"{el.path} must match {el.pattern!r}, found {v!r}",
            occ.path,
            code="value",
        )


def binding(report: Report, profile: Profile, el: Element, occ: Occ) -> None:
    b = el.binding
    assert b is not None
    codings = _codings(occ.value, occ.type)
    if codings is None or not b.resolved:
        return
    # A system's other spellings (http/https, www, OIDs) are the same code system.
    codings = [(_canonical(system), code) for system, code in codings]
    vs = b.value_set or "its value set"
    unverifiable = not b.checkable
    if b.checkable:
        for system, code in codings:
            if (system, code) in b.codes or (system is None and code in _bare(b.codes)):
                return
            if system in b.systems:
                if not (b.warn and licensed(system)):
                    return
                unverifiable = True  # unless another coding settles it
    # A value set of licensed codes cannot prove a sibling system's code wrong either (the
    # X12 ↔ FHIR maps are licensed too): real senders use FHIR core codes there.
    if unverifiable or b.warn:
        if b.warn:
            report.issue(
                profile,
                "binding",
                f"IG defect ({profile.label}): {el.path} ({_show(codings)}) cannot be "
                f"checked against required value set {vs}: {b.unverifiable}",
                occ.path,
                "warning",
                "code-invalid",
            )
        return
    codes = sorted(c for _, c in b.codes)
    hint = f"codes {', '.join(codes[:12])}{' …' if len(codes) > 12 else ''}" if codes else ""
    if b.systems:
        hint = f"{hint}{'; ' if hint else ''}systems {', '.join(sorted(b.systems))}"
    report.issue(
        profile,
        "binding",
        f"{el.path} ({_show(codings)}) is not in required value set {vs} ({hint})",
        occ.path,
        code="code-invalid",
    )


def reference(
    report: Report,
    profile: Profile,
    el: Element,
    occ: Occ,
    *,
    root: Any,
    registry: Registry,
    resolver: Resolver | None,
) -> dict[str, Any] | None:
    """The referenced resource is of a type ``el`` allows. Returns what ``resolver`` found for
    the reference (not a contained resource): a bundle infers profiles from it."""
    targets = plan(el).targets
    ref = occ.value.get("reference")
    if not targets or not isinstance(ref, str):
        return None
    target: dict[str, Any] | None = None
    resolved: dict[str, Any] | None = None
    if ref.startswith("#"):
        target = next((c for c in root.get("contained", []) if "#" + str(c.get("id")) == ref), None)
    elif resolver is not None:
        target = resolved = resolver(ref)
    rtype = text(target.get("resourceType")) if target else None
    if rtype is None:
        m = _REF_TYPE.search(ref)
        rtype = m.group(1) if m else None
    if rtype is None:
        return resolved
    allowed: set[str] = set()
    unknown = False
    for t in targets:
        if t.startswith(CORE) and t[len(CORE) :] in CORE_TYPES:
            allowed.add(t[len(CORE) :])
        elif "/" not in t and t[:1].isupper():
            allowed.add(t)
        else:
            p = registry.find(t)
            if p is None:
                unknown = True
            else:
                allowed.add(p.type)
    if rtype in allowed or "Resource" in allowed or unknown:
        return resolved
    report.issue(
        profile,
        "targets",
        f"{el.path} refers to a {rtype}; it must refer to {' or '.join(sorted(allowed))}",
        occ.path,
        code="structure",
    )
    return resolved


def invariant(
    report: Report, profile: Profile, el: Element, inv: Invariant, occ: Occ, root: Any
) -> None:
    if inv.check is None:
        return
    env = {
        "resource": root,
        "rootResource": root,
        "type_path": occ.type if el.is_choice or el.path == profile.type else el.path,
    }
    value = occ.value if occ.value is not None else occ.ext
    ok = inv.check(value, env)
    if ok is None:
        report.note_once(
            profile,
            inv.key,
            f"{inv.key} could not be evaluated on this instance ({inv.expression})",
            occ.path,
        )
    elif not ok:
        report.issue(
            profile,
            inv.key,
            inv.human or str(inv.expression),
            occ.path,
            "warning" if inv.severity == "warning" else "error",
            "invariant",
        )


# -- extensions --------------------------------------------------------------------------------


def extension_definition(
    report: Report, registry: Registry, profile: Profile, occ: Occ
) -> Profile | None:
    """The definition an extension's url names, to check the extension against; what is
    wrong with the url (missing, unknown, not an extension) is reported instead."""
    v = occ.value
    if not isinstance(v, dict):
        return None
    url = v.get("url")
    if not isinstance(url, str) or not url:
        report.issue(profile, "extension", "an extension needs a url", occ.path, code="structure")
        return None
    if "://" not in url and not url.startswith("urn:"):
        return None  # a sub-extension's local name: its parent's definition slices it
    defn = registry.find(url)
    modifier = occ.path.rsplit(".", 1)[-1].startswith("modifierExtension")
    if defn is None:
        if modifier:
            report.issue(
                profile,
                "extension",
                f"modifier extension {url} is not known: it may change the meaning of its element",
                occ.path,
                code="extension",
            )
        elif registry.owns(url):
            report.issue(
                profile, "extension", f"unknown extension {url}", occ.path, code="extension"
            )
        return None
    if not defn.is_extension:
        report.issue(
            profile,
            "extension",
            f"{url} is a {defn.type} profile, not an extension",
            occ.path,
            code="extension",
        )
        return None
    return defn


def context(
    report: Report,
    root: Any,
    profile: Profile,
    defn: Profile,
    occ: Occ,
    host: Occ,
    sliced: bool,
) -> None:
    """The extension ``occ`` (defined by ``defn``) is used where its definition allows; when
    ``profile`` places it there by a slice, the fault is the IG's."""
    if not defn.contexts or host.anchors is None or in_context(root, defn, host):
        return
    url = occ.value["url"]
    where = host.anchors[0] if host.anchors else host.path
    declared = ", ".join(e for _, e in defn.contexts)
    if sliced:
        report.issue(
            defn,
            "context",
            f"IG defect ({defn.label}): {_ext_name(url)} used on {where}, outside its "
            f"declared context ({declared}); {profile.url} places it there",
            occ.path,
            "warning",
            "extension",
        )
    else:
        report.issue(
            defn,
            "context",
            f"{_ext_name(url)} is not allowed on {where} (declared context: {declared})",
            occ.path,
            code="extension",
        )


def in_context(root: Any, defn: Profile, host: Occ) -> bool:
    anchors = host.anchors or ()
    for kind, expr in defn.contexts:
        if kind == "fhirpath" or expr in _ANY_CONTEXT or expr in anchors:
            return True
        host_url = host.value.get("url") if isinstance(host.value, dict) else None
        if kind == "extension" and host_url == expr:
            return True
        if expr == "Request" and root.get("resourceType") in _REQUEST_PATTERN:
            return True
    return False
