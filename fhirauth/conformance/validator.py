"""The engine: one instance against one profile of the registry → issues.

Every issue's ``expression`` is the FHIRPath of the instance element
(``Claim.item[0].extension[2]``) and its ``diagnostics`` start with the canonical of the
profile whose rule it is and the rule (``…/profile-claim: min: …``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirauth.conformance.checks import Resolver
from fhirauth.conformance.occurrence import Occ, text
from fhirauth.conformance.registry import Registry
from fhirauth.conformance.report import Report, unique
from fhirauth.conformance.walk import Walk
from fhirauth.errors import Issue


@dataclass
class Run:
    """What one run found: its issues, each once, and the resources its references resolved
    to with the target profiles they must meet (a bundle infers entry profiles from them)."""

    issues: list[Issue]
    references: list[tuple[dict[str, Any], tuple[str, ...]]]


def run(
    resource: dict[str, Any],
    profile_url: str,
    registry: Registry,
    *,
    resolver: Resolver | None = None,
    path: str | None = None,
) -> Run:
    profile = registry.get(profile_url)
    rtype = text(resource.get("resourceType")) if isinstance(resource, dict) else None
    at = path or rtype or profile.type
    if profile.kind == "resource" and rtype != profile.type:
        report = Report()
        report.issue(
            profile,
            "type",
            f"a {profile.type} is expected, found {rtype or 'no resourceType'}",
            at,
            code="structure",
        )
        return Run(report.issues, [])
    walk = Walk(registry, resource, resolver)
    occ = Occ(resource, None, at, profile.type, (profile.type,))
    walk.value(profile, profile.root, occ)
    walk.flush()
    return Run(unique(walk.report.issues), walk.references)


def validate(
    resource: dict[str, Any],
    profile_url: str,
    registry: Registry,
    *,
    resolver: Resolver | None = None,
    path: str | None = None,
) -> list[Issue]:
    """Issues of ``resource`` against the profile ``profile_url`` of ``registry``.

    ``path`` roots the expressions (``Bundle.entry[2].resource``); ``resolver`` turns a
    reference into the resource it points at, so target types can be checked.
    Raises :class:`~fhirauth.conformance.registry.UnknownProfile` for a canonical the
    registry does not hold.
    """
    return run(resource, profile_url, registry, resolver=resolver, path=path).issues


__all__ = ["Occ", "Resolver", "Run", "run", "unique", "validate"]
