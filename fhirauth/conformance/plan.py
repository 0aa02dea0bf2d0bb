"""What the walk reads of one element on every visit, derived once per element.

A request visits a few hundred elements, and each visit used to rederive the same facts from
the element (its JSON name, the names its children leave undeclared, whether it is absent
harmlessly, which of its types name profiles). An element does not change once its profile is
built, so these are derived on its first visit and kept on it. What depends on the registry
(which profiles a canonical finds) is not kept: one element is shared by every registry that
loaded its package.
"""

from __future__ import annotations

from functools import cache

from fhirauth.conformance.model import MISSING, Element, TypeRef, unversioned
from fhirauth.conformance.package import is_resource
from fhirauth.conformance.primitives import SUFFIXES


class Plan:
    """The derived facts of one element (see the module docstring)."""

    __slots__ = (
        "by_url",
        "choice",
        "chosen",
        "codes",
        "companion",
        "companions",
        "extension",
        "from_data",
        "key",
        "kids",
        "known",
        "name",
        "needed",
        "occ_type",
        "pairs",
        "required",
        "simple",
        "sliced",
        "targets",
        "typed",
        "typed_names",
        "urls",
    )

    def __init__(self, el: Element) -> None:
        self.name = el.name
        self.choice = el.is_choice
        # the JSON name, or for a choice the prefix of its typed names (valueCoding)
        self.key = self.name[:-3] if self.choice else self.name
        self.companion = "_" + self.name
        code = el.types[0].code if len(el.types) == 1 else None
        self.occ_type = code
        # a Resource-typed element takes its type from the resourceType it holds
        self.from_data = code in ("", "Resource") or bool(code and is_resource(code))
        self.kids = tuple(el.children.values())
        # (child, its plan), filled on the first visit: not here, as a contentReference makes
        # the tree a graph (Questionnaire.item.item is Questionnaire.item)
        self.pairs: tuple[tuple[Element, Plan], ...] = ()
        self.known = frozenset(n[:-3] if n.endswith("[x]") else n for n in el.children)
        self.chosen = _chosen(tuple(n[:-3] for n in el.children if n.endswith("[x]")))
        self.sliced = bool(el.slicing and el.slices)
        # absent, the element reports only if it or one of its slices is required
        self.needed = el.min > 0 or (
            self.sliced and any(plan(s).needed for s in el.slices.values())
        )
        self.extension = self.name in ("extension", "modifierExtension")
        self.required = el.binding is not None and el.binding.strength == "required"
        self.typed: tuple[TypeRef, ...] = tuple(
            t
            for t in el.types
            if t.profiles and t.code not in ("Extension", "Resource") and not is_resource(t.code)
        )
        self.codes = frozenset(t.code for t in el.types)
        self.targets = el.targets()
        # a choice's typed JSON names (valueCoding) and their _companions → the type
        self.typed_names, self.companions = _typed_names(self.key) if self.choice else _NO_NAMES
        # url → the first slice standing for it, when sliced by url alone (slicing.by_url)
        self.by_url: dict[str, str] | bool | None = False  # False: not derived yet
        # A leaf whose only rules are its type, cardinality and a fixed value: the walk settles
        # a value that passes them without visiting it (walk.Walk.settled).
        self.simple = (
            not self.from_data
            and not self.choice
            and not el.children
            and not self.typed
            and not el.invariants
            and not self.required
            and el.pattern is MISSING
            and not self.sliced
            and not self.extension
        )
        # the extension url(s) an extension slice stands for (slicing by url)
        url = el.children.get("url")
        self.urls: frozenset[str] | None = None  # None: the slicing module derives them
        try:
            if url is not None and url.fixed is not MISSING:
                self.urls = frozenset({url.fixed})
            else:
                self.urls = frozenset(unversioned(p) for t in el.types for p in t.profiles)
        except (TypeError, AttributeError):
            pass  # a url or profile that is no string: fails there, as it always did

    def pair_up(self) -> tuple[tuple[Element, Plan], ...]:
        self.pairs = tuple((child, plan(child)) for child in self.kids)
        return self.pairs


_NO_NAMES: tuple[dict[str, str], dict[str, str]] = ({}, {})


@cache
def _typed_names(prefix: str) -> tuple[dict[str, str], dict[str, str]]:
    # one pair of tables per choice name (value[x] is on every extension), read-only
    names = {prefix + s: t for s, t in SUFFIXES.items()}
    return names, {"_" + n: t for n, t in names.items()}


@cache
def _chosen(prefixes: tuple[str, ...]) -> frozenset[str]:
    """The typed names of choice children with these prefixes (valueCoding): a key is one
    when the first prefix it starts with is followed by a type's suffix."""
    return frozenset(
        key
        for key in {f + s for f in prefixes for s in SUFFIXES}
        if SUFFIXES.get(key[len(next(f for f in prefixes if key.startswith(f))) :])
    )


def plan(el: Element) -> Plan:
    found = el.plan
    if found is None:
        found = el.plan = Plan(el)
    return found  # type: ignore[no-any-return]
