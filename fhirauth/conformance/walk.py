"""The walk: one instance down the elements of a profile, and of the profiles it leads to.

Each element's occurrences are sliced and each occurrence descends into its children; the
profiles of an element's types (any of) and the definitions of the extensions met on the way
are walked in turn. The rules themselves are :mod:`fhirauth.conformance.checks`.
"""

from __future__ import annotations

from typing import Any

from fhirauth.conformance import checks, primitives
from fhirauth.conformance.checks import Resolver
from fhirauth.conformance.model import Element, Profile
from fhirauth.conformance.occurrence import Occ, occurrences
from fhirauth.conformance.package import is_resource
from fhirauth.conformance.registry import Registry
from fhirauth.conformance.report import Report, errors
from fhirauth.conformance.slicing import discriminate
from fhirauth.errors import Issue


class Walk:
    """One instance (``root``) walked against profiles of ``registry``, reporting to ``report``."""

    def __init__(self, registry: Registry, root: Any, resolver: Resolver | None) -> None:
        self.registry = registry
        self.root = root
        self.resolver = resolver
        self.report = Report()
        # (referenced resource, allowed target profiles) seen through the resolver
        self.references: list[tuple[dict[str, Any], tuple[str, ...]]] = []
        # extensions to check against their definitions, once each, when the structure
        # around them is done: (profile, occurrence, host, placed by a profile slice)
        self.pending: dict[int, tuple[Profile, Occ, Occ, bool]] = {}

    # -- elements ----------------------------------------------------------------------------

    def element(self, profile: Profile, el: Element, occs: list[Occ], parent: Occ) -> None:
        """Cardinality, slices and content of all occurrences of ``el`` under ``parent``."""
        checks.cardinality(self.report, profile, el, occs, parent)
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
                    checks.unsliced(self.report, profile, el, occ)
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

    # -- one occurrence ------------------------------------------------------------------------

    def value(self, profile: Profile, el: Element, occ: Occ) -> None:
        report = self.report
        v = occ.value
        if v is not None:
            if not checks.shape(report, profile, el, occ):
                return
            checks.fixed(report, profile, el, occ)
            checks.pattern(report, profile, el, occ)
            if el.binding is not None and el.binding.strength == "required":
                checks.binding(report, profile, el, occ)
            if isinstance(v, dict) and "reference" in v:
                target = checks.reference(
                    report,
                    profile,
                    el,
                    occ,
                    root=self.root,
                    registry=self.registry,
                    resolver=self.resolver,
                )
                if target is not None:
                    self.references.append((target, el.targets()))
        for inv in el.invariants:
            checks.invariant(report, profile, el, inv, occ, self.root)
        data = v if isinstance(v, dict) else occ.ext
        if not isinstance(data, dict):
            return
        if isinstance(v, dict) and "resourceType" in v and v is not self.root:
            return  # a resource inside this one: validated on its own (validate_bundle)
        typed = self.type_profiles(profile, el, occ)
        kids = el.children
        if not kids:
            if not typed:
                self.scan(profile, occ, data)
            return
        for child in kids.values():
            self.element(profile, child, occurrences(occ, child, data), occ)
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
                report.issue(
                    profile,
                    "structure",
                    f"{key} is not an element of {el.path}",
                    f"{occ.path}.{bare}",
                    code="structure",
                )
            else:
                undeclared[key] = item
        if undeclared:
            self.scan(profile, occ, undeclared)

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
            saved, self.report.issues = self.report.issues, []
            saved_pending, self.pending = self.pending, {}
            self.value(p, p.root, occ)
            self.flush()
            found, self.report.issues = self.report.issues, saved
            self.pending = saved_pending
            found_errors = errors(found)
            if best is None or found_errors < errors(best):
                best = found
            if not found_errors:
                break
        self.report.issues += best or []

    # -- extensions ----------------------------------------------------------------------------

    def extension(self, profile: Profile, occ: Occ, host: Occ, sliced: bool) -> None:
        """An extension checked against its own definition, found by url."""
        defn = checks.extension_definition(self.report, self.registry, profile, occ)
        if defn is None:
            return
        checks.context(self.report, self.root, profile, defn, occ, host, sliced)
        ext_occ = Occ(occ.value, None, occ.path, "Extension", occ.anchors)
        self.value(defn, defn.root, ext_occ)

    def scan(self, profile: Profile, host: Occ, data: dict[str, Any]) -> None:
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
                    self.scan(profile, Occ(item, None, path, None, None), item)
