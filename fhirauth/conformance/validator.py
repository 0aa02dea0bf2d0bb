"""The engine: one instance against one profile of the registry → issues.

Every issue's ``expression`` is the FHIRPath of the instance element
(``Claim.item[0].extension[2]``) and its ``diagnostics`` start with the canonical of the
profile whose rule it is and the rule (``…/profile-claim: min: …``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fhirauth.conformance import primitives
from fhirauth.conformance.model import CORE, MISSING, Element, Invariant, Profile
from fhirauth.conformance.package import CORE_TYPES, is_resource
from fhirauth.conformance.registry import Registry
from fhirauth.conformance.slicing import discriminate, matches
from fhirauth.conformance.terminology import licensed
from fhirauth.errors import Issue
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


@dataclass(frozen=True)
class Occ:
    """One occurrence of an element in the instance."""

    value: Any  # the JSON value; None for a primitive given only by its _companion
    ext: Any  # a primitive's _companion (id, extension), else None
    path: str  # FHIRPath of the occurrence
    type: str | None  # its type code, when known
    anchors: tuple[str, ...] | None  # its element path within each enclosing type


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _codings(value: Any, type_: str | None) -> list[tuple[str | None, str | None]] | None:
    """The (system, code) pairs a coded value carries; None when it is not coded."""
    if isinstance(value, str):
        return [(None, value)] if type_ in (None, "", "code") else None
    if not isinstance(value, dict):
        return None
    if "coding" in value or type_ == "CodeableConcept" or ("text" in value and "code" not in value):
        codings = value.get("coding")
        return [
            (_text(c.get("system")), _text(c.get("code")))
            for c in (codings if isinstance(codings, list) else [])
            if isinstance(c, dict)
        ]
    if "code" in value:
        return [(_text(value.get("system")), _text(value.get("code")))]
    return None


def _show(codings: list[tuple[str | None, str | None]]) -> str:
    if not codings:
        return "no coding"
    return ", ".join(f"{s}#{c}" if s else str(c) for s, c in codings)


def _ext_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


class _Run:
    def __init__(self, registry: Registry, root: Any, resolver: Resolver | None) -> None:
        self.registry = registry
        self.root = root
        self.resolver = resolver
        self.issues: list[Issue] = []
        self.noted: set[tuple[str, str]] = set()
        # (referenced resource, allowed target profiles) seen through the resolver
        self.references: list[tuple[dict[str, Any], tuple[str, ...]]] = []
        # extensions to check against their definitions, once each, when the structure
        # around them is done: (profile, occurrence, host, placed by a profile slice)
        self.pending: dict[int, tuple[Profile, Occ, Occ, bool]] = {}

    # -- reporting ---------------------------------------------------------------------------

    def issue(
        self,
        profile: Profile,
        rule: str,
        message: str,
        path: str,
        severity: str = "error",
        code: str = "invalid",
    ) -> None:
        self.issues.append(Issue(code, f"{profile.url}: {rule}: {message}", (path,), severity))

    def note_once(self, profile: Profile, key: str, message: str, path: str) -> None:
        if (profile.url, key) not in self.noted:
            self.noted.add((profile.url, key))
            self.issue(profile, key, message, path, "information", "informational")

    # -- elements ----------------------------------------------------------------------------

    def element(self, profile: Profile, el: Element, occs: list[Occ], parent: Occ) -> None:
        """Cardinality, slices and content of all occurrences of ``el`` under ``parent``."""
        self.cardinality(profile, el, occs, parent)
        in_slice: set[int] = set()
        if el.slicing and el.slices:
            assigned: dict[str, list[Occ]] = {name: [] for name in el.slices}
            for occ in occs:
                for name, sl in el.slices.items():
                    if all(
                        discriminate(d, sl, occ.value, occ.type) for d in el.slicing.discriminators
                    ):
                        assigned[name].append(occ)
                        in_slice.add(id(occ))
                        break
                else:
                    if el.slicing.rules == "closed":
                        self.issue(
                            profile,
                            "slicing",
                            f"{el.path} is closed to values matching none of its slices "
                            f"({', '.join(el.slices)})",
                            occ.path,
                            code="structure",
                        )
            for name, sl in el.slices.items():
                self.element(profile, sl, assigned[name], parent)
        for occ in occs:
            self.value(profile, el, occ)
        if el.name in ("extension", "modifierExtension"):
            for occ in occs:
                self.defer(profile, occ, parent, id(occ) in in_slice)

    def defer(self, profile: Profile, occ: Occ, host: Occ, sliced: bool) -> None:
        """Queue an extension for its definition check; the base element and its slices
        all see it, and it counts as placed by the profile if any of them slices it."""
        key = id(occ.value)
        earlier = self.pending.get(key)
        if earlier is None:
            self.pending[key] = (profile, occ, host, sliced)
        elif sliced and not earlier[3]:
            self.pending[key] = (*earlier[:3], True)

    def flush(self) -> None:
        while self.pending:
            key = next(iter(self.pending))
            profile, occ, host, sliced = self.pending.pop(key)
            self.extension(profile, occ, host, sliced)

    def cardinality(self, profile: Profile, el: Element, occs: list[Occ], parent: Occ) -> None:
        what = el.label
        if el.slice_name and el.name in ("extension", "modifierExtension"):
            url = el.children.get("url")
            if url is not None and url.fixed is not MISSING:
                what += f" ({url.fixed})"
        n = len(occs)
        if n < el.min:
            json_name = el.name[:-3] if el.is_choice else el.name
            self.issue(
                profile,
                "min",
                f"{what} is {el.card}, found {n}",
                f"{parent.path}.{json_name}",
                code="required",
            )
        if el.max is not None and n > el.max:
            at = occs[el.max].path
            if el.max == 0:
                self.issue(profile, "max", f"{what} is not allowed (0..0)", at, code="structure")
            else:
                self.issue(profile, "max", f"{what} is {el.card}, found {n}", at, code="structure")

    def occurrences(self, parent: Occ, child: Element, data: dict[str, Any]) -> list[Occ]:
        name = child.name
        if not child.is_choice:
            type_ = child.types[0].code if len(child.types) == 1 else None
            return self._make(parent, name, child, data.get(name), data.get("_" + name), type_)
        prefix = name[:-3]
        out: list[Occ] = []
        for key in data:
            if key.startswith(prefix) and key != prefix:
                type_ = primitives.SUFFIXES.get(key[len(prefix) :])
                if type_ is not None:
                    out += self._make(
                        parent, name, child, data[key], data.get("_" + key), type_, key
                    )
            elif key.startswith("_" + prefix) and key[1:] not in data:
                type_ = primitives.SUFFIXES.get(key[len(prefix) + 1 :])
                if type_ is not None:
                    out += self._make(parent, name, child, None, data[key], type_, key[1:])
        return out

    def _make(
        self,
        parent: Occ,
        name: str,
        child: Element,
        value: Any,
        ext: Any,
        type_: str | None,
        key: str | None = None,
    ) -> list[Occ]:
        if value is None and ext is None:
            return []
        key = key or name
        if type_ in ("", "Resource") or (type_ and is_resource(type_)):
            type_ = _text(value.get("resourceType")) if isinstance(value, dict) else None
        anchors = None
        if parent.anchors is not None:
            anchors = tuple(f"{a}.{name}" for a in parent.anchors)
            if type_ and type_[0].isupper() and type_ != "BackboneElement":
                anchors += (type_,)
        if isinstance(value, list) or isinstance(ext, list):
            values = value if isinstance(value, list) else []
            exts = ext if isinstance(ext, list) else []
            return [
                Occ(
                    values[i] if i < len(values) else None,
                    exts[i] if i < len(exts) else None,
                    f"{parent.path}.{key}[{i}]",
                    type_,
                    anchors,
                )
                for i in range(max(len(values), len(exts)))
                if (i < len(values) and values[i] is not None)
                or (i < len(exts) and exts[i] is not None)
            ]
        return [Occ(value, ext, f"{parent.path}.{key}", type_, anchors)]

    # -- one occurrence ------------------------------------------------------------------------

    def value(self, profile: Profile, el: Element, occ: Occ) -> None:
        v = occ.value
        if v is not None:
            if not self.shape(profile, el, occ):
                return
            if el.fixed is not MISSING and not (matches(v, el.fixed) and matches(el.fixed, v)):
                self.issue(
                    profile,
                    "fixed",
                    f"{el.path} must be exactly {el.fixed!r}, found {v!r}",
                    occ.path,
                    code="value",
                )
            if el.pattern is not MISSING and not matches(v, el.pattern):
                self.issue(
                    profile,
                    "pattern",
                    f"{el.path} must match {el.pattern!r}, found {v!r}",
                    occ.path,
                    code="value",
                )
            if el.binding is not None and el.binding.strength == "required":
                self.binding(profile, el, occ)
            if isinstance(v, dict) and "reference" in v:
                self.reference(profile, el, occ)
        for inv in el.invariants:
            self.invariant(profile, el, inv, occ)
        data = v if isinstance(v, dict) else occ.ext
        if not isinstance(data, dict):
            return
        if isinstance(v, dict) and "resourceType" in v and v is not self.root:
            return  # a resource inside this one: validated on its own (validate_bundle)
        typed = self.type_profiles(profile, el, occ)
        kids = el.children
        if not kids:
            if not typed:
                self.walk(profile, occ, data)
            return
        for child in kids.values():
            self.element(profile, child, self.occurrences(occ, child, data), occ)
        known = set()
        for name in kids:
            known.add(name[:-3] if name.endswith("[x]") else name)
        undeclared = {}
        for key, item in data.items():
            bare = key[1:] if key.startswith("_") else key
            if bare in known or key in ("resourceType", "fhir_comments"):
                continue
            prefix = next(
                (n[:-3] for n in kids if n.endswith("[x]") and bare.startswith(n[:-3])), None
            )
            if prefix is not None and primitives.SUFFIXES.get(bare[len(prefix) :]):
                continue
            if profile.complete:
                self.issue(
                    profile,
                    "structure",
                    f"{key} is not an element of {el.path}",
                    f"{occ.path}.{bare}",
                    code="structure",
                )
            else:
                undeclared[key] = item
        if undeclared:
            self.walk(profile, occ, undeclared)

    def shape(self, profile: Profile, el: Element, occ: Occ) -> bool:
        """The JSON has the shape of its type; a wrong shape stops deeper checks."""
        type_ = occ.type
        if not type_:
            return True
        if el.types and el.is_choice and type_ not in el.type_codes():
            self.issue(
                profile,
                "type",
                f"{el.path} allows {', '.join(sorted(el.type_codes()))}, not {type_}",
                occ.path,
                code="structure",
            )
            return False
        problem = primitives.problem(type_, occ.value)
        if problem:
            self.issue(profile, "type", f"{el.path}: {problem}", occ.path, code="value")
            return False
        return True

    def binding(self, profile: Profile, el: Element, occ: Occ) -> None:
        b = el.binding
        assert b is not None
        codings = _codings(occ.value, occ.type)
        if codings is None or not b.resolved:
            return
        # A system's other spellings (http/https, www, OIDs) are the same code system.
        codings = [(canonical(system), code) for system, code in codings]
        vs = b.value_set or "its value set"
        unverifiable = not b.checkable
        if b.checkable:
            allowed_codes = {c for _, c in b.codes}
            for system, code in codings:
                if (system, code) in b.codes or (system is None and code in allowed_codes):
                    return
                if system in b.systems:
                    if not (b.warn and licensed(system)):
                        return
                    unverifiable = True  # unless another coding settles it
        # A value set of licensed codes cannot prove a sibling system's code wrong either (the
        # X12 ↔ FHIR maps are licensed too): real senders use FHIR core codes there.
        if unverifiable or b.warn:
            if b.warn:
                self.issue(
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
        self.issue(
            profile,
            "binding",
            f"{el.path} ({_show(codings)}) is not in required value set {vs} ({hint})",
            occ.path,
            code="code-invalid",
        )

    def reference(self, profile: Profile, el: Element, occ: Occ) -> None:
        targets = el.targets()
        ref = occ.value.get("reference")
        if not targets or not isinstance(ref, str):
            return
        target: dict[str, Any] | None = None
        if ref.startswith("#"):
            target = next(
                (c for c in self.root.get("contained", []) if "#" + str(c.get("id")) == ref), None
            )
        elif self.resolver is not None:
            target = self.resolver(ref)
            if target is not None:
                self.references.append((target, targets))
        rtype = _text(target.get("resourceType")) if target else None
        if rtype is None:
            m = _REF_TYPE.search(ref)
            rtype = m.group(1) if m else None
        if rtype is None:
            return
        allowed: set[str] = set()
        unknown = False
        for t in targets:
            if t.startswith(CORE) and t[len(CORE) :] in CORE_TYPES:
                allowed.add(t[len(CORE) :])
            elif "/" not in t and t[:1].isupper():
                allowed.add(t)
            else:
                p = self.registry.find(t)
                if p is None:
                    unknown = True
                else:
                    allowed.add(p.type)
        if rtype in allowed or "Resource" in allowed or unknown:
            return
        self.issue(
            profile,
            "targets",
            f"{el.path} refers to a {rtype}; it must refer to {' or '.join(sorted(allowed))}",
            occ.path,
            code="structure",
        )

    def invariant(self, profile: Profile, el: Element, inv: Invariant, occ: Occ) -> None:
        if inv.check is None:
            return
        env = {
            "resource": self.root,
            "rootResource": self.root,
            "type_path": occ.type if el.is_choice or el.path == profile.type else el.path,
        }
        value = occ.value if occ.value is not None else occ.ext
        ok = inv.check(value, env)
        if ok is None:
            self.note_once(
                profile,
                inv.key,
                f"{inv.key} could not be evaluated on this instance ({inv.expression})",
                occ.path,
            )
        elif not ok:
            self.issue(
                profile,
                inv.key,
                inv.human or str(inv.expression),
                occ.path,
                "warning" if inv.severity == "warning" else "error",
                "invariant",
            )

    def type_profiles(self, profile: Profile, el: Element, occ: Occ) -> bool:
        """Validate against the profiles the element's type names (PASIdentifier…)."""
        applied = False
        for t in el.types:
            if not t.profiles or t.code in ("Extension", "Resource") or is_resource(t.code):
                continue
            if t.code and occ.type and t.code != occ.type and len(el.types) > 1:
                continue
            known = [p for p in map(self.registry.find, t.profiles) if p is not None]
            if not known:
                continue
            applied = True
            self.any_of(known, occ)
        return applied

    def any_of(self, profiles: list[Profile], occ: Occ) -> None:
        best: list[Issue] | None = None
        for p in profiles:
            saved, self.issues = self.issues, []
            saved_pending, self.pending = self.pending, {}
            self.value(p, p.root, occ)
            self.flush()
            found, self.issues = self.issues, saved
            self.pending = saved_pending
            errors = sum(i.severity == "error" for i in found)
            if best is None or errors < sum(i.severity == "error" for i in best):
                best = found
            if not errors:
                break
        self.issues += best or []

    # -- extensions ----------------------------------------------------------------------------

    def extension(self, profile: Profile, occ: Occ, host: Occ, sliced: bool) -> None:
        """An extension checked against its own definition, found by url."""
        v = occ.value
        if not isinstance(v, dict):
            return
        url = v.get("url")
        if not isinstance(url, str) or not url:
            self.issue(profile, "extension", "an extension needs a url", occ.path, code="structure")
            return
        if "://" not in url and not url.startswith("urn:"):
            return  # a sub-extension's local name: its parent's definition slices it
        defn = self.registry.find(url)
        modifier = occ.path.rsplit(".", 1)[-1].startswith("modifierExtension")
        if defn is None:
            if modifier:
                self.issue(
                    profile,
                    "extension",
                    f"modifier extension {url} is not known: it may change the meaning of "
                    "its element",
                    occ.path,
                    code="extension",
                )
            elif self.registry.owns(url):
                self.issue(
                    profile, "extension", f"unknown extension {url}", occ.path, code="extension"
                )
            return
        if not defn.is_extension:
            self.issue(
                profile,
                "extension",
                f"{url} is a {defn.type} profile, not an extension",
                occ.path,
                code="extension",
            )
            return
        if defn.contexts and host.anchors is not None and not self.in_context(defn, host):
            where = host.anchors[0] if host.anchors else host.path
            declared = ", ".join(e for _, e in defn.contexts)
            if sliced:
                self.issue(
                    defn,
                    "context",
                    f"IG defect ({defn.label}): {_ext_name(url)} used on {where}, outside its "
                    f"declared context ({declared}); {profile.url} places it there",
                    occ.path,
                    "warning",
                    "extension",
                )
            else:
                self.issue(
                    defn,
                    "context",
                    f"{_ext_name(url)} is not allowed on {where} (declared context: {declared})",
                    occ.path,
                    code="extension",
                )
        ext_occ = Occ(v, None, occ.path, "Extension", occ.anchors)
        self.value(defn, defn.root, ext_occ)

    def in_context(self, defn: Profile, host: Occ) -> bool:
        anchors = host.anchors or ()
        for kind, expr in defn.contexts:
            if kind == "fhirpath" or expr in _ANY_CONTEXT or expr in anchors:
                return True
            host_url = host.value.get("url") if isinstance(host.value, dict) else None
            if kind == "extension" and host_url == expr:
                return True
            if expr == "Request" and self.root.get("resourceType") in _REQUEST_PATTERN:
                return True
        return False

    def walk(self, profile: Profile, host: Occ, data: dict[str, Any]) -> None:
        """Find extensions where no profile element describes the structure: each is checked
        against its definition. Below the first level the host's type is unknown, so
        extension contexts are not judged there."""
        for key, val in data.items():
            bare = key[1:] if key.startswith("_") else key
            items = val if isinstance(val, list) else [val]
            if bare in ("extension", "modifierExtension") and not key.startswith("_"):
                anchors = (
                    tuple(f"{a}.{bare}" for a in host.anchors) if host.anchors is not None else None
                )
                for i, item in enumerate(items):
                    occ = Occ(item, None, f"{host.path}.{bare}[{i}]", "Extension", anchors)
                    self.defer(profile, occ, host, False)
                continue
            for i, item in enumerate(items):
                if isinstance(item, dict) and "resourceType" not in item:
                    path = f"{host.path}.{bare}" + (f"[{i}]" if isinstance(val, list) else "")
                    self.walk(profile, Occ(item, None, path, None, None), item)


def unique(issues: list[Issue]) -> list[Issue]:
    """Issues in order, each once (a base element and its slice may both report one)."""
    return list(dict.fromkeys(issues))


def run(
    resource: dict[str, Any],
    profile_url: str,
    registry: Registry,
    *,
    resolver: Resolver | None = None,
    path: str | None = None,
) -> _Run:
    profile = registry.get(profile_url)
    r = _Run(registry, resource, resolver)
    rtype = _text(resource.get("resourceType")) if isinstance(resource, dict) else None
    at = path or rtype or profile.type
    if profile.kind == "resource" and rtype != profile.type:
        r.issue(
            profile,
            "type",
            f"a {profile.type} is expected, found {rtype or 'no resourceType'}",
            at,
            code="structure",
        )
        return r
    occ = Occ(resource, None, at, profile.type, (profile.type,))
    r.value(profile, profile.root, occ)
    r.flush()
    r.issues = unique(r.issues)
    return r


def validate(
    resource: dict[str, Any],
    profile_url: str,
    registry: Registry,
    *,
    resolver: Resolver | None = None,
    path: str | None = None,
) -> list[Issue]:
    """Issues of ``resource`` against the profile ``profile_url`` of ``registry``.

    ``path`` roots the expressions (``Bundle.entry[2].resource``); ``resolver`` turns a
    reference into the resource it points at, so target types can be checked.
    Raises :class:`~fhirauth.conformance.registry.UnknownProfile` for a canonical the
    registry does not hold.
    """
    return run(resource, profile_url, registry, resolver=resolver, path=path).issues


__all__ = ["Occ", "Resolver", "run", "unique", "validate"]
