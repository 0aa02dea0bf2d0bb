"""The walk: one instance down the elements of a profile, and of the profiles it leads to.

Each element's occurrences are sliced and each occurrence descends into its children; the
profiles of an element's types (any of) and the definitions of the extensions met on the way
are walked in turn. The rules themselves are :mod:`fhirauth.conformance.checks`.
"""

from __future__ import annotations

from typing import Any

import orjson

from fhirauth.conformance import checks, primitives
from fhirauth.conformance.checks import Resolver
from fhirauth.conformance.model import MISSING, Element, Profile
from fhirauth.conformance.occurrence import Anchors, Occ, choices, named
from fhirauth.conformance.plan import Plan, plan
from fhirauth.conformance.registry import Registry
from fhirauth.conformance.report import Report, errors
from fhirauth.conformance.slicing import by_url, discriminate, matches
from fhirauth.errors import Issue


def _extended(data: dict[str, Any]) -> bool:
    """Whether ``data`` may hold an extension at some depth (False: it holds none)."""
    try:
        # A C serialisation finds in one pass what a walk would find key by key: most objects
        # (codings, names, addresses) hold no extension at any depth.
        return b'xtension":' in orjson.dumps(data)  # "extension" or "modifierExtension"
    except TypeError:
        return True  # not plain JSON (an integer past 64 bits): look level by level


_NONE: frozenset[int] = frozenset()  # occurrences placed by a slice, where nothing is sliced


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
        self.anchors: Anchors = {}  # see occurrence.Anchors

    # -- elements ----------------------------------------------------------------------------

    def element(self, profile: Profile, el: Element, occs: list[Occ], parent: Occ) -> None:
        """Cardinality, slices and content of all occurrences of ``el`` under ``parent``."""
        n = len(occs)
        if n < el.min or (el.max is not None and n > el.max):
            checks.cardinality(self.report, profile, el, occs, parent)
        p = plan(el)
        in_slice: set[int] | frozenset[int] = _NONE
        if p.sliced:
            in_slice = set()
            assert el.slicing is not None
            discriminators = el.slicing.discriminators
            assigned: dict[str, list[Occ]] = {name: [] for name in el.slices}
            urls = by_url(el)
            for occ in occs:
                if urls is not None:  # sliced by url: the same answer as discriminate()
                    v = occ.value
                    url = v.get("url") if isinstance(v, dict) else None
                    name = urls.get(url) if isinstance(url, str) else None
                    if name is not None:
                        assigned[name].append(occ)
                        in_slice.add(id(occ))
                    else:
                        checks.unsliced(self.report, profile, el, occ)
                    continue
                for name, sl in el.slices.items():
                    if all(discriminate(d, sl, occ.value, occ.type) for d in discriminators):
                        assigned[name].append(occ)
                        in_slice.add(id(occ))
                        break
                else:
                    checks.unsliced(self.report, profile, el, occ)
            for name, sl in el.slices.items():
                self.element(profile, sl, assigned[name], parent)
        for occ in occs:
            self.value(profile, el, occ)
        if p.extension:
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
        p = plan(el)
        v = occ.value
        if v is not None:
            # each check is called only where the element has its rule: most have none
            if occ.type and not checks.shape(report, profile, el, occ):
                return
            if el.fixed is not MISSING:
                checks.fixed(report, profile, el, occ)
            if el.pattern is not MISSING:
                checks.pattern(report, profile, el, occ)
            if p.required:
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
                    self.references.append((target, p.targets))
        for inv in el.invariants:
            checks.invariant(report, profile, el, inv, occ, self.root)
        data = v if isinstance(v, dict) else occ.ext
        if not isinstance(data, dict):
            return
        if isinstance(v, dict) and "resourceType" in v and v is not self.root:
            return  # a resource inside this one: validated on its own (validate_bundle)
        typed = self.type_profiles(profile, el, occ) if p.typed else False
        if not p.kids:
            if not typed:
                self.scan(profile, occ, data)
            return
        for child, c in p.pairs or p.pair_up():
            if c.simple and self.settled(child, c, data.get(c.name), data.get(c.companion)):
                continue
            if c.choice:
                occs = choices(occ, c, data, self.anchors)
            else:
                occs = named(occ, c, data.get(c.name), data.get(c.companion), self.anchors)
            if occs or c.needed:  # absent, only a required element (or slice) has to say so
                self.element(profile, child, occs, occ)
        known = p.known
        undeclared = {}
        for key, item in data.items():
            if key in known:
                continue
            bare = key[1:] if key[:1] == "_" else key
            if bare in known or bare in p.chosen or key == "resourceType" or key == "fhir_comments":
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

    def settled(self, el: Element, c: Plan, value: Any, ext: Any) -> bool:
        """Whether the occurrences of a simple leaf (see Plan.simple) pass its rules: then
        visiting them would report nothing and queue nothing, and they are not visited. Any
        doubt returns False, and the visit reports what there is."""
        if ext is not None:
            return False
        items = value if isinstance(value, list) else () if value is None else (value,)
        n = len(items)
        if n < el.min or (el.max is not None and n > el.max):
            return False
        fixed = el.fixed
        type_ = c.occ_type
        for x in items:
            if x is None or (type_ and primitives.problem(type_, x) is not None):
                return False
            if fixed is not MISSING and not (matches(x, fixed) and matches(fixed, x)):
                return False
            if isinstance(x, dict) and ("reference" in x or "resourceType" in x or _extended(x)):
                return False
        return True

    def type_profiles(self, profile: Profile, el: Element, occ: Occ) -> bool:
        """Validate against the profiles the element's type names (PASIdentifier…)."""
        applied = False
        for t in plan(el).typed:  # the types that name profiles, not Extension or resources
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
        if _extended(data):
            self._scan(profile, host, data, host.path)

    def _scan(self, profile: Profile, host: Occ | None, data: dict[str, Any], at: str) -> None:
        # Most of what is scanned holds no extension: a nested object becomes an occurrence
        # (the host of its extensions) only when it has one.
        for key, val in data.items():
            if key == "extension" or key == "modifierExtension":
                if host is None:
                    host = Occ(data, None, at, None, None)
                items = val if isinstance(val, list) else [val]
                anchors = (
                    tuple(f"{a}.{key}" for a in host.anchors) if host.anchors is not None else None
                )
                for i, item in enumerate(items):
                    occ = Occ(item, None, f"{at}.{key}[{i}]", "Extension", anchors)
                    self.defer(profile, occ, host, False)
            elif isinstance(val, list):
                bare = key[1:] if key[:1] == "_" else key
                for i, item in enumerate(val):
                    if isinstance(item, dict) and "resourceType" not in item:
                        self._scan(profile, None, item, f"{at}.{bare}[{i}]")
            elif isinstance(val, dict) and "resourceType" not in val:
                bare = key[1:] if key[:1] == "_" else key
                self._scan(profile, None, val, f"{at}.{bare}")
