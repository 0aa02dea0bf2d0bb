"""The report of one run: findings as issues, each saying whose rule it is and where.

An issue's ``diagnostics`` start with the canonical of the profile whose rule it is and the
rule (``…/profile-claim: min: …``); its ``expression`` is the FHIRPath of the instance element.
"""

from __future__ import annotations

from fhirauth.conformance.model import Profile
from fhirauth.errors import Issue


class Report:
    """The issues found so far, in the order found. A rule that could not be evaluated is
    noted once per profile, however many elements it stands on."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []
        # kept across the alternatives of an any-of profile check, so each note is made once
        self.noted: set[tuple[str, str]] = set()

    def issue(
        self,
        profile: Profile,
        rule: str,
        message: str,
        path: str,
        severity: str = "error",
        code: str = "invalid",
    ) -> None:
        self.issues.append(Issue(code, f"{profile.url}: {rule}: {message}", (path,), severity))

    def note_once(self, profile: Profile, key: str, message: str, path: str) -> None:
        if (profile.url, key) not in self.noted:
            self.noted.add((profile.url, key))
            self.issue(profile, key, message, path, "information", "informational")


def errors(issues: list[Issue]) -> int:
    """How many of ``issues`` are errors: what picks the best of several candidate profiles."""
    return sum(i.severity == "error" for i in issues)


def unique(issues: list[Issue]) -> list[Issue]:
    """Issues in order, each once (a base element and its slice may both report one)."""
    return list(dict.fromkeys(issues))
