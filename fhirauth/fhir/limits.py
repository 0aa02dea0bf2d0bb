"""Bounded work: how much one request may ask of the server, measured before any real work.

Every JSON value of a request is parsed, checked against the R4 models and our profiles, and
many are decided, answered and stored, so the cost of a request grows with its values, its
entries and its items. A request over a limit is refused with 413 and one OperationOutcome
(``too-costly``) whose expression points at the offending element where there is one: it may
be valid FHIR, and sent in smaller parts it would be processed.

The check first counts quotes in a large body's bytes (a lower bound on its values, at memory
speed), then reads it with orjson, garbage collection paused, and looks at what it must: the
entry and item counts (two ``len`` calls), then a walk that stops at the first value over a
limit. The strict reading (``strict_json``) and everything after it run only on a body within
the limits.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson

from fhirauth.errors import TooCostly
from fhirauth.fhir.digests import RecentDigests, digest
from fhirauth.fhir.strict_json import MAX_DEPTH, load_json

# JSON keys whose strings only FHIRAUTH_MAX_BODY_BYTES bounds: in R4 every element named
# ``data`` is a document's payload (Attachment.data, Binary.data and Signature.data are base64,
# SampledData.data a series of readings). A scanned PDF sent with $submit-attachment is
# megabytes of base64; reading a long string costs time in proportion to its length.
PAYLOAD_KEYS = frozenset({"data"})


# The lists of the request resource that every item's decision reads: its diagnoses (the
# policy's %item.diagnosis for an item naming none, and the diagnoses answered with it), its
# supporting information and its care team. Work grows with items times these, so each is
# held to the item limit (a request whose 100 items cite 3,000 diagnoses took 12 s).
FANNED_OUT = ("item", "diagnosis", "supportingInfo", "careTeam")


@dataclass(frozen=True)
class Limits:
    """The most one request may hold (``FHIRAUTH_MAX_*``; README, Configuration)."""

    entries: int = 1000  # Bundle.entry
    items: int = 100  # item (and diagnosis, supportingInfo, careTeam) of the request resource
    string: int = 256 * 1024  # characters in one JSON string, payloads (``data``) aside
    depth: int = 64  # nested JSON objects and arrays
    values: int = 25_000  # JSON values of every kind in the body

    def __post_init__(self) -> None:
        for name in ("entries", "items", "string", "values"):
            if getattr(self, name) < 1:
                raise ValueError(f"FHIRAUTH_MAX_{name.upper()} must be at least 1")
        if not 2 <= self.depth <= MAX_DEPTH:
            raise ValueError(f"FHIRAUTH_MAX_DEPTH must be between 2 and {MAX_DEPTH}")


def check_body(body: bytes, limits: Limits) -> None:
    """Raise :class:`TooCostly` (413) when ``body`` holds more than ``limits`` allow.

    A body that is not JSON, or that orjson cannot read (a lone surrogate), is read by the
    strict parser instead, which raises ``Invalid`` (400) for what is not JSON."""
    key = digest(repr(limits).encode(), body)
    if key in _WITHIN:
        return
    _check_body(body, limits)
    _WITHIN.add(key)


# Bodies found within the limits they were checked against: a poll or a retry sends the same
# bytes again, and the walk below cost more than the rest of answering a replayed $submit.
_WITHIN = RecentDigests(4096)


def _check_body(body: bytes, limits: Limits) -> None:
    text = body.removeprefix(b"\xef\xbb\xbf")
    if len(text) > _READ_AT_ONCE and _values_at_least(text) > limits.values:
        raise TooCostly(_too_many_values(limits))
    try:
        with _gc_paused():
            data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        if str(exc).startswith("depth limit exceeded"):
            raise TooCostly(
                f"The JSON nests deeper than {limits.depth} levels, the most this server takes"
            ) from None
        data = load_json(body)
    check(data, limits)


# Bodies up to this size are read at once (about 30 ms); larger ones are first measured by
# their bytes, because reading a 13 MB body of a million values, and freeing it, takes longer
# than a refusal may.
_READ_AT_ONCE = 2 * 1024 * 1024


def _values_at_least(body: bytes) -> int:
    """A lower bound on the JSON values in ``body``, from its bytes alone. Every string (a key
    or a value) has two unescaped quotes, and every key has a value, so there are at least half
    as many values as strings; ``\\"`` counts every escaped quote (and a few that are not)."""
    quotes = body.count(b'"') - body.count(b'\\"')
    return quotes // 4


@contextmanager
def _gc_paused() -> Iterator[None]:
    # Building a million objects, the collector runs over the young ones again and again:
    # with it paused orjson reads a 13 MB body about five times faster, and a refusal stays
    # under 100 ms.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def check(data: Any, limits: Limits) -> None:
    """The limits on parsed JSON: entries and items, then depth, string length and values."""
    _collections(data, limits)
    _walk(data, limits)


def _request_resource(data: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The resource an operation acts on, and its FHIRPath: the body, or the ``resource``
    parameter of a Parameters."""
    if data.get("resourceType") == "Parameters" and isinstance(data.get("parameter"), list):
        for i, p in enumerate(data["parameter"]):
            if isinstance(p, dict) and p.get("name") == "resource":
                inner = p.get("resource")
                if isinstance(inner, dict) and isinstance(inner.get("resourceType"), str):
                    return inner, f"Parameters.parameter[{i}].resource"
    return data, str(data["resourceType"])


def _collections(data: Any, limits: Limits) -> None:
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        return  # not a FHIR resource (the admin API's JSON): the walk bounds it
    resource, path = _request_resource(data)
    if resource.get("resourceType") == "Bundle":
        entries = resource.get("entry")
        if isinstance(entries, list) and len(entries) > limits.entries:
            raise TooCostly(
                f"The Bundle has {len(entries)} entries; this server takes at most "
                f"{limits.entries} in one request",
                f"{path}.entry",
            )
        first = entries[0] if isinstance(entries, list) and entries else None
        if not isinstance(first, dict) or not isinstance(first.get("resource"), dict):
            return
        resource, path = first["resource"], f"{path}.entry[0].resource"
    kind = resource.get("resourceType")
    for name in FANNED_OUT:
        found = resource.get(name)
        if isinstance(found, list) and len(found) > limits.items:
            what = "items" if name == "item" else f"{name} entries"
            raise TooCostly(
                f"The {kind} has {len(found)} {what}; this server takes at most {limits.items} "
                "in one request: send the services in several requests",
                f"{path}.{name}",
            )


# A node's place as a chain of (parent's place, key or index), turned into a FHIRPath only
# when a limit is crossed: the walk builds no strings.
_Place = tuple[Any, str | int] | None


def _fhirpath(root: str, place: _Place, last: str | int | None = None) -> str:
    steps: list[str | int] = [] if last is None else [last]
    while place is not None:
        place, step = place
        steps.append(step)
    out = root
    for step in reversed(steps):
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out


def _walk(data: Any, limits: Limits) -> None:
    if not isinstance(data, dict | list):
        return
    kind = data.get("resourceType") if isinstance(data, dict) else None
    root = kind if isinstance(kind, str) and kind.isalnum() else ""
    count = 1
    stack: list[tuple[Any, int, _Place]] = [(data, 1, None)]
    while stack:
        node, depth, place = stack.pop()
        if depth > limits.depth:
            raise TooCostly(
                f"The JSON nests deeper than {limits.depth} levels, the most this server takes",
                *_expression(root, place),
            )
        count += len(node)
        if count > limits.values:
            raise TooCostly(_too_many_values(limits), *_expression(root, None))
        # Strings in an array of payloads (``data``) are bounded by the body size only.
        payloads = isinstance(node, list) and place is not None and place[1] in PAYLOAD_KEYS
        pairs: Any = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in pairs:
            if isinstance(key, str) and len(key) > limits.string:
                raise TooCostly(
                    f"A JSON key of {len(key)} characters; this server takes at most "
                    f"{limits.string}",
                    *_expression(root, place),
                )
            if isinstance(value, str):
                if len(value) > limits.string and not payloads and key not in PAYLOAD_KEYS:
                    raise TooCostly(
                        f"A string of {len(value)} characters; this server takes at most "
                        f"{limits.string} (documents go in Attachment.data)",
                        _fhirpath(root, place, key),
                    )
            elif isinstance(value, dict | list):
                stack.append((value, depth + 1, (place, key)))


def _too_many_values(limits: Limits) -> str:
    return (
        f"The body holds more than {limits.values} JSON values, the most this server takes in "
        "one request: send fewer services or supporting resources per request"
    )


def _expression(root: str, place: _Place) -> tuple[str, ...]:
    path = _fhirpath(root, place)
    return (path,) if path else ()
