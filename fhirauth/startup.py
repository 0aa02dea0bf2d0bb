"""What ``serve`` says before it serves: insurers and plans no policy would decide for.

A request whose insurer, plan and date no policy serves is answered ``outcome=error``
(``PolicySet.select``). That is a configuration gap, better found at start than by an EHR:
- without a default policy, every insurer that no policy names;
- an insurer a policy names, when no policy for it (nor a default) is in effect today;
- each insurer and plan of the member roster (``FHIRAUTH_MEMBER_ROSTER``; its optional
  ``insurer`` column holds ``SYSTEM|VALUE``, or a bare NPI) that no policy serves today.
"""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

from fhirauth.clock import system_clock
from fhirauth.config import Settings
from fhirauth.policy import PolicySet, load_policies
from fhirauth.policy.loader import NoPolicy

NPI = "http://hl7.org/fhir/sid/us-npi"
COVERAGE_CLASS = "http://terminology.hl7.org/CodeSystem/coverage-class"


def _identifier(text: str) -> dict[str, str]:
    system, sep, value = text.strip().rpartition("|")
    return {"system": system if sep else NPI, "value": value}


def _coverage(plan: str) -> dict[str, Any]:
    """A Coverage with only its plan class: what ``Policy.covers_plan`` reads."""
    if not plan:
        return {}
    kind = {"coding": [{"system": COVERAGE_CLASS, "code": "plan"}]}
    return {"class": [{"type": kind, "value": plan}]}


def roster_pairs(path: Path) -> Counter[tuple[str, str]]:
    """(insurer, plan) of each roster row, counted; insurer is "" without that column."""
    with path.open(newline="", encoding="utf-8") as f:
        return Counter(
            ((row.get("insurer") or "").strip(), (row.get("plan") or "").strip())
            for row in csv.DictReader(f)
        )


def policy_gaps(policies: PolicySet, roster: Path | None, today: date) -> list[str]:
    """One sentence per gap (empty when every known insurer and plan is served)."""
    notes: list[str] = []
    default = [p for p in policies.policies if p.default and p.applies_on(today)]
    named = sorted({key for p in policies.policies for key in p.insurers})
    if not default:
        served = ", ".join(f"{s}|{v}" for s, v in named) or "none"
        notes.append(
            f"no default policy is in effect on {today}: a request whose insurer is none of "
            f"these is answered outcome=error: {served}"
        )
        for system, value in named:
            live = [
                p
                for p in policies.policies
                if (system, value) in p.insurers and p.applies_on(today)
            ]
            if not live:
                notes.append(
                    f"insurer {system}|{value}: the policies that name it are not in effect on "
                    f"{today}, and no default policy is"
                )
    if roster is None:
        return notes
    for (insurer, plan), members in sorted(roster_pairs(roster).items()):
        candidates = [p for p in policies.policies if p.applies_on(today)]
        if insurer:
            try:
                policies.select([_identifier(insurer)], _coverage(plan), today)
                continue
            except NoPolicy:
                pass
        elif any(p.covers_plan(_coverage(plan)) for p in candidates):
            continue
        who = f"insurer {insurer}, plan {plan or '(none)'}" if insurer else f"plan {plan}"
        notes.append(
            f"member roster: {who} ({members} member{'s' if members != 1 else ''}) is served "
            f"by no policy on {today}; those members' requests get outcome=error"
        )
    return notes


def sandbox_notice(settings: Settings) -> str | None:
    if not settings.sandbox:
        return None
    return (
        "fhirauth sandbox mode is on: `fhirauth sandbox next OUTCOME` scripts the answer to the "
        "caller's next submission(s); with no script pending, the policies decide. Not for "
        "production."
    )


def gaps(settings: Settings) -> list[str]:
    """``policy_gaps`` for the configured policies and roster, today."""
    policies = load_policies(list(settings.policy_dirs))
    return policy_gaps(policies, settings.member_roster, system_clock().date())
