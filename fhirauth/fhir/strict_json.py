"""Reading JSON from strangers: strict, bounded, and every failure a 400.

orjson is fast but silently keeps the last of duplicate keys and accepts any nesting; a body
that says two things at once, or that is built to exhaust the parser, is refused here instead.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

from fhirauth.errors import invalid
from fhirauth.fhir.digests import RecentDigests, digest

# The deepest JSON read at all: the parser and the checks after it recurse. FHIRAUTH_MAX_DEPTH
# (fhir/limits.py, 64 by default) may not exceed it; requests are measured against that first.
MAX_DEPTH = 128
MAX_NUMBER_DIGITS = 40


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(f"the JSON object has the key {key!r} twice")
        out[key] = value
    return out


class _Refused(ValueError):
    pass


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER_DIGITS:
        raise _Refused(f"a number with {len(text)} characters is more than FHIR can hold")
    value = float(text)
    if math.isinf(value):  # 1e400: out of a double's range, not a number one can hold
        raise _Refused(f"the number {text} is out of range")
    return value


def _int(text: str) -> int:
    if len(text) > MAX_NUMBER_DIGITS:
        raise _Refused(f"a number with {len(text)} characters is more than FHIR can hold")
    value = int(text)
    if not -(2**63) <= value < 2**63:  # FHIR's largest integer (integer64); orjson's too
        raise _Refused(f"the integer {text} is out of range")
    return value


def _check_shape(value: Any) -> None:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _Refused(f"the JSON nests deeper than {MAX_DEPTH} levels")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))


# Bodies the strict reading took: the same bytes again are read by orjson, which gives the
# same value for whatever the strict reading takes (no duplicate key, number or depth it
# refuses), about eight times faster. A poll of $inquire, a retried $submit.
_READ_BEFORE = RecentDigests(4096)


def load_json(body: bytes | str) -> Any:
    """Parse a request body or raise ``Invalid`` (400) saying what is wrong with it."""
    key = digest(body) if isinstance(body, bytes) else None
    if key is not None and key in _READ_BEFORE:
        try:
            return orjson.loads(body.removeprefix(b"\xef\xbb\xbf"))
        except orjson.JSONDecodeError:  # what orjson refuses (a lone surrogate): read as before
            pass
    value = _strict(body)
    if key is not None:
        _READ_BEFORE.add(key)
    return value


def _strict(body: bytes | str) -> Any:
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError as exc:
        raise invalid(f"The body is not valid UTF-8 (byte {exc.start})", code="structure") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        value = json.loads(
            text,
            object_pairs_hook=_pairs,
            parse_constant=_constant,
            parse_int=_int,
            parse_float=_float,
        )
        _check_shape(value)
    except _Refused as exc:
        raise invalid(f"The body is refused: {exc}", code="structure") from None
    except RecursionError:
        raise invalid(
            f"The body is refused: the JSON nests deeper than {MAX_DEPTH} levels", code="structure"
        ) from None
    except json.JSONDecodeError as exc:
        # The message names a line and column, never the content: safe to echo.
        raise invalid(
            f"The body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
            code="structure",
        ) from None
    except ValueError as exc:  # e.g. Python's own limit on integer digits
        raise invalid(f"The body is refused: {exc}", code="structure") from None
    return value


def unpaired_surrogate(value: Any, path: str) -> str | None:
    """Where in ``value`` (JSON as ``load_json`` read it) a string holds an unpaired surrogate
    (``"\\ud800"``: JSON's escapes allow it, no UTF-8 text can hold it), or None. A key that
    holds one is reported at the object holding the key."""
    stack = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, str):
            if not _is_utf8(node):
                return where
        elif isinstance(node, dict):
            for key in node:
                if not _is_utf8(key):
                    return where
            stack.extend((v, f"{where}.{k}") for k, v in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((v, f"{where}[{i}]") for i, v in reversed(list(enumerate(node))))
    return None


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
