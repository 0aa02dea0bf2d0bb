"""Broken versions of a JSON request body, made at every path of a seed document.

A mutation replaces the value at one path: with ``null``, with a value of each other JSON type,
with something huge (a 100,000-character string, ``1e308``, the largest 64-bit integer, and
``1e400`` or a 30-digit integer as raw JSON text, which no double or 64-bit integer holds),
with itself nested 30 or 200 levels deep; or it drops the value, or duplicates it (a second
array element, or the same key twice in the object, as raw JSON text).

``sweep`` is deterministic and exhaustive: every *shape* of path in the seeds (the path from
the nearest resource, array indexes as ``*``, so the fourth ``coding`` of an item is the first
one's shape) with every kind of breakage (``CLASSES``), the variants of a kind taken in turn
from one path to the next so that each variant meets every part of the document; small bodies
get every variant at every path. ``mutated`` is the hypothesis strategy: up to four random
mutations of one seed.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

Path = tuple[Any, ...]


@dataclass(frozen=True)
class Raw:
    """JSON text written as is (numbers Python's json cannot write, bytes of our choosing)."""

    text: str


class Pairs(list):  # type: ignore[type-arg]
    """A JSON object as (key, value) pairs, so that a key may appear twice."""


def dump(node: Any) -> str:
    if isinstance(node, Raw):
        return node.text
    if isinstance(node, Pairs):
        return "{" + ",".join(f"{json.dumps(k)}:{dump(v)}" for k, v in node) + "}"
    if isinstance(node, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{dump(v)}" for k, v in node.items()) + "}"
    if isinstance(node, list):
        return "[" + ",".join(dump(v) for v in node) + "]"
    return json.dumps(node)


def paths(node: Any, prefix: Path = ()) -> list[Path]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += paths(value, (*prefix, i))
    return out


def _shape(doc: Any, path: Path) -> tuple[Any, ...]:
    """The path from the nearest enclosing resource, indexes as ``*``."""
    shape: list[Any] = []
    node = doc
    kind = None
    for step in path:
        if isinstance(node, dict) and isinstance(node.get("resourceType"), str):
            kind, shape = node["resourceType"], []
        shape.append("*" if isinstance(step, int) else step)
        node = node[step]
    return (kind, *shape)


def shaped_paths(seeds: list[Any]) -> list[tuple[int, Path]]:
    """(seed index, path) for the first occurrence of every path shape across ``seeds``."""
    seen: set[tuple[Any, ...]] = set()
    out = []
    for n, seed in enumerate(seeds):
        for path in paths(seed):
            shape = _shape(seed, path)
            if shape not in seen:
                seen.add(shape)
                out.append((n, path))
    return out


def _bucket(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return "list" if isinstance(value, list) else "dict"


def _nest(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = [value]
    return value


def _constant(value: Any) -> Callable[[Any], Any]:
    return lambda _: copy.deepcopy(value)


# name → how the value at a path becomes the mutated value (``DROP``/``DUPLICATE`` are special)
DROP = "drop"
DUPLICATE = "duplicate"
_WRONG_TYPES: dict[str, Any] = {
    "str": "1",
    "int": -1,
    "float": 2.5,
    "bool": True,
    "dict": {"x": 1},
    "list": [],
}
REPLACEMENTS: dict[str, Callable[[Any], Any]] = {
    "null": lambda v: None,
    **{f"as-{kind}": _constant(w) for kind, w in _WRONG_TYPES.items()},
    "empty-string": lambda v: "",
    "huge-string": lambda v: "\u00e9x" * 50_000,
    "huge-float": lambda v: 1e308,
    "huge-int": lambda v: 2**63 - 1,
    "raw-1e400": lambda v: Raw("1e400"),
    "raw-30-digits": lambda v: Raw("-" + "9" * 30),
    "deep-30": lambda v: _nest(v, 30),
    "deep-200": lambda v: _nest(v, 200),
}
MUTATIONS = (*REPLACEMENTS, DROP, DUPLICATE)


def applies(name: str, value: Any) -> bool:
    """A wrong type only when it is wrong; everything else everywhere."""
    if name.startswith("as-"):
        return _bucket(value) != name[3:]
    return True


def mutate(doc: Any, path: Path, name: str) -> Any:
    """``doc`` (not changed) with mutation ``name`` at ``path``; may hold Raw and Pairs."""
    if not path:
        if name == DROP:
            return Raw("")
        if name == DUPLICATE:
            return Raw(dump(doc) + dump(doc))
        return REPLACEMENTS[name](doc)
    out = copy.deepcopy(doc)
    parent = out
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if name == DROP:
        del parent[last]
    elif name == DUPLICATE and isinstance(parent, list):
        parent.insert(last + 1, copy.deepcopy(parent[last]))
    elif name == DUPLICATE:
        pairs = Pairs(parent.items())
        pairs.append((last, parent[last]))
        if len(path) == 1:
            return pairs
        _replace(out, path[:-1], pairs)
    else:
        parent[last] = REPLACEMENTS[name](parent[last])
    return out


def _replace(doc: Any, path: Path, value: Any) -> None:
    node = doc
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value


def _value_at(doc: Any, path: Path) -> Any:
    for step in path:
        doc = doc[step]
    return doc


@dataclass(frozen=True)
class Case:
    label: str
    body: bytes


# The kinds of breakage; a sweep makes every kind at every path, taking the kind's variants in
# turn from one path to the next (or all of them, ``every_variant=True``, for small bodies).
CLASSES: dict[str, tuple[str, ...]] = {
    "null": ("null",),
    "wrong-type": ("as-str", "as-int", "as-float", "as-bool", "as-dict", "as-list"),
    "extreme": (
        "huge-string",
        "raw-1e400",
        "huge-float",
        "empty-string",
        "raw-30-digits",
        "huge-int",
    ),
    "deep": ("deep-30", "deep-200"),
    "drop": (DROP,),
    "duplicate": (DUPLICATE,),
}


def sweep(
    seeds: list[Any], *, every_variant: bool = False, classes: int | None = None
) -> Iterator[Case]:
    """Every path shape of ``seeds`` with every kind of breakage; ``classes=k`` takes k kinds
    per path in rotation instead (for a second endpoint over the same code)."""
    kinds = list(CLASSES.values())
    for i, (n, path) in enumerate(shaped_paths(seeds)):
        value = _value_at(seeds[n], path)
        chosen = kinds if classes is None else [kinds[(i + k) % len(kinds)] for k in range(classes)]
        names: list[str] = []
        for variants in chosen:
            fitting = [v for v in variants if applies(v, value)]
            if fitting:
                names += fitting if every_variant else [fitting[i % len(fitting)]]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
        for name in names:
            body = dump(mutate(seeds[n], path, name)).encode()
            yield Case(f"seed {n} {where or '$'} {name}", body)


def _has_raw(node: Any) -> bool:
    if isinstance(node, Raw | Pairs):
        return True
    if isinstance(node, dict):
        return any(_has_raw(v) for v in node.values())
    return isinstance(node, list) and any(_has_raw(v) for v in node)


@st.composite
def mutated(draw: st.DrawFn, seeds: list[Any]) -> bytes:
    """One to four random mutations of one seed, or (1 in 20) random bytes."""
    if draw(st.integers(0, 19)) == 0:
        return draw(st.binary(max_size=200))
    doc = seeds[draw(st.integers(0, len(seeds) - 1))]
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(paths(doc)))
        value = _value_at(doc, path)
        doc = mutate(doc, path, draw(st.sampled_from([m for m in MUTATIONS if applies(m, value)])))
        if _has_raw(doc):
            break  # raw JSON text from here on: no path into it
    return dump(doc).encode()
