"""SMART ``system/`` scopes, in their v1 and v2 spellings, and how they compare.

A resource scope names a resource type (or ``*``) and a set of permissions drawn from SMART
v2's ``c r u d s`` (create, read, update, delete, search). SMART v1's ``read`` is ``rs``, its
``write`` is ``cud`` and its ``*`` is ``cruds``, so ``system/Claim.read`` and
``system/Claim.rs`` mean the same thing. fhirauth's own admin scope is not a resource scope: it
is granted only by name, never by a wildcard.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

ADMIN_SCOPE = "system/fhirauth.admin"
"""The reviewer, sandbox, trace and audit APIs. Never implied by ``system/*.*``."""

LETTERS = "cruds"
_V1 = {"read": "rs", "write": "cud", "*": LETTERS}
_RESOURCE_SCOPE = re.compile(r"^system/(\*|[A-Z][A-Za-z]{0,63})\.(\*|read|write|[cruds]{1,5})$")


@dataclass(frozen=True)
class Scope:
    """``system/<resource>.<permissions>``; ``permissions`` holds v2 letters."""

    resource: str
    permissions: frozenset[str]

    @property
    def text(self) -> str:
        """The v2 spelling, letters in SMART's order."""
        return f"system/{self.resource}.{''.join(c for c in LETTERS if c in self.permissions)}"


def parse(text: str) -> Scope | None:
    """A resource scope, or None for anything else (the admin scope, user/ and patient/
    scopes, OpenID scopes, SMART v2 query-qualified scopes)."""
    m = _RESOURCE_SCOPE.match(text)
    if m is None:
        return None
    resource, perms = m.groups()
    letters = _V1.get(perms, perms)
    if len(set(letters)) != len(letters):
        return None  # "system/Claim.rr"
    return Scope(resource, frozenset(letters))


def is_known(text: str) -> bool:
    """Whether a client may be registered with this scope."""
    return text == ADMIN_SCOPE or parse(text) is not None


def split(value: str | Iterable[str]) -> list[str]:
    """Scopes from a space-separated string (as OAuth sends them) or a list, in order, once."""
    items = value.split() if isinstance(value, str) else [s for v in value for s in v.split()]
    return list(dict.fromkeys(items))


def allows(granted: Iterable[str], required: str) -> bool:
    """Whether the granted scopes together cover ``required`` (a scope from the route table).

    ``system/Claim.c`` is covered by ``system/Claim.write``, ``system/Claim.cruds``,
    ``system/*.c``, ``system/*.*`` and by ``system/Claim.c`` itself; the admin scope only by
    itself.
    """
    granted = list(granted)
    need = parse(required)
    if need is None:
        return required in granted
    have: set[str] = set()
    for text in granted:
        g = parse(text)
        if g is not None and g.resource in ("*", need.resource):
            have |= g.permissions
    return need.permissions <= have


def intersect(requested: Iterable[str], registered: Iterable[str]) -> list[str]:
    """What a token may carry: each requested scope cut down to what the client is registered
    for. A requested scope that is wholly covered keeps its spelling (``system/Claim.write``
    stays v1); one that is covered in part becomes the v2 scopes of the part that is."""
    registered = list(registered)
    regs = [s for s in map(parse, registered) if s is not None]
    out: list[str] = []
    for text in requested:
        req = parse(text)
        if req is None:
            if text == ADMIN_SCOPE and text in registered:
                out.append(text)
            continue
        pieces: dict[str, set[str]] = {}
        for reg in regs:
            if req.resource == "*":
                resource = reg.resource
            elif reg.resource in ("*", req.resource):
                resource = req.resource
            else:
                continue
            perms = req.permissions & reg.permissions
            if perms:
                pieces.setdefault(resource, set()).update(perms)
        if pieces.get(req.resource) == set(req.permissions):
            out.append(text)
            continue
        for resource, perms in pieces.items():
            out.append(Scope(resource, frozenset(perms)).text)
    return list(dict.fromkeys(out))
