"""Bundle entries and the references between them (R4 bundle.html#references), read the one
way every layer needs: a reference resolves to exactly one entry, or it does not resolve."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

_RESTFUL = re.compile(
    r"^(?P<base>.*/)?(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(/_history/[^/]+)?$"
)


@dataclass(frozen=True)
class Entry:
    """One Bundle entry as received; ``index`` is its position, for FHIRPaths."""

    index: int
    full_url: str
    resource: dict[str, Any]

    @property
    def path(self) -> str:
        return f"Bundle.entry[{self.index}].resource"

    @property
    def type(self) -> str:
        return str(self.resource.get("resourceType"))


class EntryIndex:
    """A Bundle's entries by fullUrl and by type and id, built once per request: resolving
    a reference by scanning every entry made a bundle whose entries reference one another cost
    the square of its size."""

    def __init__(self, entries: Sequence[Entry]) -> None:
        self.by_url: dict[str, list[Entry]] = defaultdict(list)
        self.by_type_id: dict[tuple[str, str], list[Entry]] = defaultdict(list)
        for e in entries:
            self.by_url[e.full_url].append(e)
            rid = e.resource.get("id")
            if isinstance(rid, str):
                self.by_type_id[(e.type, rid)].append(e)


def resolve(reference: str, referrer: Entry, entries: EntryIndex | Sequence[Entry]) -> list[Entry]:
    """Every entry ``reference`` (as written in ``referrer``) names.

    ``urn:`` and absolute references match a fullUrl exactly; a relative ``Type/id`` is made
    absolute with the referring entry's RESTful base. When the referrer's fullUrl is a urn
    there is no base, so the reference matches entries by resource type and id. Pass an
    :class:`EntryIndex` when resolving many references in one Bundle.
    """
    index = entries if isinstance(entries, EntryIndex) else EntryIndex(entries)
    target = _RESTFUL.match(reference) if not reference.startswith("urn:") else None
    if target and target.group("base") is None:
        if referrer.full_url.startswith("urn:"):
            return list(index.by_type_id.get((target.group("type"), target.group("id")), ()))
        base = _RESTFUL.match(referrer.full_url)
        if base is None:
            return []
        key = f"{base.group('base') or ''}{target.group('type')}/{target.group('id')}"
    elif target:
        key = f"{target.group('base')}{target.group('type')}/{target.group('id')}"
    else:
        key = reference
    return list(index.by_url.get(key, ()))


def resolve_one(
    ref: Any, referrer: Entry, entries: EntryIndex | Sequence[Entry], *types: str
) -> Entry | None:
    """The one entry a Reference element (``{"reference": ...}``) names, of one of ``types``
    when any are given; None when it is not a reference, names none, or names several."""
    if not isinstance(ref, dict) or not isinstance(ref.get("reference"), str):
        return None
    found = resolve(ref["reference"], referrer, entries)
    if len(found) != 1 or (types and found[0].type not in types):
        return None
    return found[0]


def references(node: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every ``reference`` string inside ``node`` (contained resources aside) with the
    FHIRPath of the element that holds it."""
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str):
            yield f"{path}.reference", ref
        for k, v in node.items():
            if k != "contained":
                yield from references(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from references(v, f"{path}[{i}]")
