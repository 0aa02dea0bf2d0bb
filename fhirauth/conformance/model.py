"""The one constraint model that our YAML profiles and FHIR StructureDefinitions load into.

A :class:`Profile` is a tree of :class:`Element` nodes rooted at the profiled type. Children are
keyed by element name (``item``, ``value[x]``); slices hang off the element they slice. Both
loaders first produce a flat list of elements with FHIR-style ids
(``Claim.careTeam:OverallClaimMember.role``) and let :func:`build_tree` assemble it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# A rule that reads one occurrence (its JSON value, or None for a primitive given only by
# its extension) plus the FHIRPath environment, and says whether it holds. None means
# "could not tell" (the engine reports that once, as information).
Check = Callable[[Any, dict[str, Any]], bool | None]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


@dataclass(frozen=True)
class TypeRef:
    """One allowed type: its code, the profiles the value must meet (any of), and for
    references the allowed targets (profile canonicals or resource type names)."""

    code: str
    profiles: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Binding:
    """A terminology binding reduced to what can be checked without a terminology server.

    ``codes`` are the enumerated (system, code) pairs; ``systems`` are code systems included
    whole (a code's membership is not checked). ``unverifiable`` says why codes cannot be
    checked at all (X12 is licensed); with ``warn`` each coded value says so as a warning.
    """

    strength: str
    value_set: str | None = None
    codes: frozenset[tuple[str | None, str]] = frozenset()
    systems: frozenset[str] = frozenset()
    unverifiable: str | None = None
    warn: bool = False
    resolved: bool = True

    @property
    def checkable(self) -> bool:
        return self.resolved and bool(self.codes or self.systems)


@dataclass
class Invariant:
    key: str
    severity: str
    human: str
    expression: str | None
    check: Check | None = None
    skipped: str | None = None  # why it is not evaluated (recorded once at load)


@dataclass(frozen=True)
class Discriminator:
    type: str
    path: str


@dataclass(frozen=True)
class Slicing:
    discriminators: tuple[Discriminator, ...]
    rules: str = "open"
    ordered: bool = False


@dataclass(eq=False)
class Element:
    id: str
    path: str
    min: int = 0
    max: int | None = None  # None: unbounded
    types: tuple[TypeRef, ...] = ()
    fixed: Any = MISSING
    pattern: Any = MISSING
    binding: Binding | None = None
    invariants: list[Invariant] = field(default_factory=list)
    must_support: bool = False
    slicing: Slicing | None = None
    slice_name: str | None = None
    content_ref: str | None = None
    children: dict[str, Element] = field(default_factory=dict)
    slices: dict[str, Element] = field(default_factory=dict)
    # what the walk derives on the first visit (conformance.plan), once the tree is built
    plan: Any = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.path.rsplit(".", 1)[-1]

    @property
    def is_choice(self) -> bool:
        return self.path.endswith("[x]")

    @property
    def card(self) -> str:
        return f"{self.min}..{'*' if self.max is None else self.max}"

    @property
    def label(self) -> str:
        """The element's path, with the slice name when it is a slice."""
        return f"{self.path}:{self.slice_name}" if self.slice_name else self.path

    def type_codes(self) -> set[str]:
        return {t.code for t in self.types}

    def targets(self) -> tuple[str, ...]:
        return tuple(t for ref in self.types for t in ref.targets)


@dataclass(eq=False)
class Profile:
    url: str
    name: str
    type: str
    kind: str  # resource | complex-type | primitive-type | logical
    root: Element
    source: str
    abstract: bool = False
    base: str | None = None
    complete: bool = False  # a snapshot: elements it does not list are not allowed
    contexts: tuple[tuple[str, str], ...] = ()  # extensions: (type, expression)
    label: str = ""  # short publisher label for messages, e.g. "PAS 2.2.1"

    @property
    def is_extension(self) -> bool:
        return self.type == "Extension" and self.url != EXTENSION_BASE


EXTENSION_BASE = "http://hl7.org/fhir/StructureDefinition/Extension"
CORE = "http://hl7.org/fhir/StructureDefinition/"


def unversioned(url: str) -> str:
    return url.split("|", 1)[0]


def split_id(element_id: str, path: str) -> list[tuple[str, str | None]]:
    """``Claim.careTeam:Overall.role`` + its path → [(Claim, None), (careTeam, Overall), (role,
    None)]. Slice names may hold dots, so the path's names are used to find the boundaries."""
    names = path.split(".")
    out: list[tuple[str, str | None]] = []
    pos = 0
    for i, name in enumerate(names):
        if not element_id.startswith(name, pos):
            raise ValueError(f"element id {element_id!r} does not follow its path {path!r}")
        pos += len(name)
        slice_name = None
        if pos < len(element_id) and element_id[pos] == ":":
            end = len(element_id)
            if i + 1 < len(names):
                nxt = "." + names[i + 1]
                end = element_id.find(nxt, pos)
                while end != -1:
                    after = end + len(nxt)
                    if after == len(element_id) or element_id[after] in ".:":
                        break
                    end = element_id.find(nxt, end + 1)
                if end == -1:
                    raise ValueError(f"element id {element_id!r} does not follow {path!r}")
            slice_name = element_id[pos + 1 : end]
            pos = end
        out.append((name, slice_name))
        if pos < len(element_id) and element_id[pos] == ".":
            pos += 1
    return out


def join_id(parts: list[tuple[str, str | None]]) -> str:
    return ".".join(f"{n}:{s}" if s else n for n, s in parts)


def build_tree(elements: list[Element]) -> Element:
    """Assemble a flat, parent-first element list into a tree and return its root."""
    root = elements[0]
    by_id: dict[str, Element] = {root.id: root}
    for el in elements[1:]:
        parts = split_id(el.id, el.path)
        name, slice_name = parts[-1]
        if slice_name:
            owner_id = join_id([*parts[:-1], (name, None)])
            owner = by_id.get(owner_id)
            if owner is None:
                raise ValueError(f"{el.id}: slice of {owner_id}, which is not defined before it")
            el.slice_name = slice_name
            owner.slices[slice_name] = el
        else:
            parent_id = join_id(parts[:-1])
            parent = by_id.get(parent_id)
            if parent is None:
                raise ValueError(f"{el.id}: its parent {parent_id} is not defined before it")
            parent.children[name] = el
        by_id[el.id] = el
    for el in elements:
        if el.content_ref:
            target = by_id.get(el.content_ref.lstrip("#"))
            if target is not None:
                el.children = target.children
                el.types = el.types or target.types
    return root
