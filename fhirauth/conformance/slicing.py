"""Slice membership: does a value belong to a slice, by the slicing's discriminators.

Discriminator paths are the simple FHIRPath StructureDefinitions use: element names,
``$this``, ``extension('url')``, ``ofType(T)`` and ``resolve()`` (not followed: a slice
discriminated through another resource matches nothing).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from fhirauth.conformance import primitives
from fhirauth.conformance.model import MISSING, Discriminator, Element, unversioned
from fhirauth.conformance.plan import plan
from fhirauth.fhir.extensions import extensions

_STEP = re.compile(r"\.(?![^(]*\))")
_EXTENSION = re.compile(r"^extension\('([^']*)'\)$")


def steps(path: str) -> list[str]:
    return [s for s in _STEP.split(path) if s and s != "$this"]


@cache
def _steps(path: str) -> tuple[str, ...]:
    # discriminator paths come from profiles (a bounded set) and are split per occurrence
    return tuple(steps(path))


def slice_urls(sl: Element) -> frozenset[str] | set[str]:
    """The extension url(s) an extension slice stands for."""
    urls = plan(sl).urls
    if urls is not None:
        return urls
    url = sl.children.get("url")
    if url is not None and url.fixed is not MISSING:
        return {url.fixed}
    return {unversioned(p) for t in sl.types for p in t.profiles}


def _element_at(el: Element, path: list[str]) -> Element | None:
    cur: Element | None = el
    for step in path:
        if cur is None:
            return None
        m = _EXTENSION.match(step)
        if m:
            owner = cur.children.get("extension")
            cur = (
                next((s for s in owner.slices.values() if m.group(1) in slice_urls(s)), None)
                if owner
                else None
            )
        elif step.startswith("ofType("):
            continue
        elif step == "resolve()":
            return None
        else:
            cur = cur.children.get(step) or cur.children.get(step + "[x]")
    return cur


def _values_at(value: Any, path: list[str]) -> list[Any]:
    cur = [value]
    for step in path:
        nxt: list[Any] = []
        m = _EXTENSION.match(step)
        for v in cur:
            if not isinstance(v, dict):
                continue
            if m:
                nxt += extensions(v, m.group(1))
            elif step.startswith("ofType("):
                nxt.append(v)
            elif step in v:
                item = v[step]
                nxt += item if isinstance(item, list) else [item]
            else:
                nxt += [
                    item
                    for key, item in v.items()
                    if key.startswith(step) and key[len(step) :] in primitives.SUFFIXES
                ]
        cur = nxt
    return cur


def by_url(el: Element) -> dict[str, str] | None:
    """url → the first of ``el``'s slices standing for it, when its slicing is by url alone
    (extensions): then a value's slice is one lookup instead of a discriminate() per slice.
    None for any other slicing."""
    p = plan(el)
    if p.by_url is False:
        p.by_url = None
        assert el.slicing is not None
        ds = el.slicing.discriminators
        urls = [plan(sl).urls for sl in el.slices.values()]
        if (
            len(ds) == 1
            and ds[0].type in ("value", "pattern")
            and _steps(ds[0].path) == ("url",)
            and all(u is not None for u in urls)
        ):
            found: dict[str, str] = {}
            for name, u in zip(el.slices, urls, strict=True):
                for url in u or ():
                    found.setdefault(url, name)
            p.by_url = found
    return p.by_url  # type: ignore[return-value]


def discriminate(d: Discriminator, sl: Element, value: Any, value_type: str | None) -> bool:
    """Whether a value (of type ``value_type``) belongs to slice ``sl`` by discriminator ``d``."""
    path = list(_steps(d.path))
    if d.type == "type":
        if not path:
            return not sl.types or value_type in sl.type_codes()
        target = _element_at(sl, path)
        allowed = target.type_codes() if target is not None else set()
        found = _values_at(value, path)
        return (
            any(isinstance(v, dict) and str(v.get("resourceType")) in allowed for v in found)
            or not allowed
        )
    if d.type in ("value", "pattern"):
        if path == ["url"]:
            url = value.get("url") if isinstance(value, dict) else None
            return isinstance(url, str) and url in slice_urls(sl)
        target = _element_at(sl, path)
        if target is None:
            return False
        expected = target.fixed if target.fixed is not MISSING else target.pattern
        if expected is MISSING:
            return False
        return any(matches(v, expected) for v in _values_at(value, path))
    if d.type == "exists":
        target = _element_at(sl, path)
        present = bool(_values_at(value, path))
        if target is None:
            return False
        if target.min >= 1:
            return present
        if target.max == 0:
            return not present
        return True
    return False


def matches(value: Any, pattern: Any) -> bool:
    """FHIR pattern[x]: every part of the pattern is present in the value (a list item of
    the pattern in some item of the value); true is not 1."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            k in value and matches(value[k], v) for k, v in pattern.items()
        )
    if isinstance(pattern, list):
        return isinstance(value, list) and all(any(matches(i, p) for i in value) for p in pattern)
    if isinstance(pattern, bool) or isinstance(value, bool):
        return value is pattern
    return bool(value == pattern)
