"""The console's policy pages: every policy and its rules in words, and a search by code that
says whether a service needs authorization under each policy, and why."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from fhirauth.policy import load_policies
from fhirauth.policy.catalog import DEPENDS, catalog, search
from tests.conftest import ROOT

ON = date(2026, 12, 1)
DEMO = load_policies([ROOT / "policies"])

CONDITIONAL = """
id: conditional
name: Conditional Plan
insurers:
  - system: http://hl7.org/fhir/sid/us-npi
    value: "1111111111"
unlisted: auth-required
rules:
  - id: bilateral-knee
    description: Both knees at once are reviewed
    priority: 10
    match:
      - system: cpt
        codes: ["27447"]
    modifiers: ["50"]
    outcome: auth-required
  - id: knee
    description: One knee needs no authorization
    match:
      - system: cpt
        codes: ["27447"]
    outcome: no-auth
  - id: adults-only
    description: Sleep studies for adults need no authorization
    match:
      - system: cpt
        codes: ["95800-95811"]
    when: "%age >= 18"
    outcome: no-auth
"""


def _conditional(tmp_path: Path) -> object:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "conditional.yaml").write_text(CONDITIONAL)
    return load_policies([folder])


def test_a_code_under_a_range_needs_authorization_by_its_rule() -> None:
    (found,) = search(DEMO, "70552", None, ON)
    assert found.verdict == "needs authorization"
    assert [b.rule.id for b in found.branches if b.rule] == ["mri-brain"]
    assert "rule mri-brain" in found.sentence


def test_the_documentation_a_code_needs_is_named() -> None:
    (found,) = search(DEMO, "72148", "cpt", ON)
    (branch,) = found.branches
    assert branch.rule is not None
    assert [d["code"] for d in branch.rule.documentation] == ["11506-3"]
    assert (
        branch.rule.decided_without_review == "approved at once when %documents contains '11506-3'"
    )


def test_a_code_no_rule_names_falls_to_the_policys_default() -> None:
    (found,) = search(DEMO, "00000", None, ON)
    assert found.verdict == "needs no authorization"
    assert found.branches[-1].rule is None
    assert "no rule of this policy names it" in found.sentence


def test_a_not_required_code_and_a_system_that_does_not_fit() -> None:
    (visit,) = search(DEMO, "99213", "cpt", ON)
    assert visit.verdict == "needs no authorization"
    (elsewhere,) = search(DEMO, "99213", "hcpcs", ON)
    assert elsewhere.branches[0].rule is None  # no HCPCS rule names 99213


def test_a_conditional_rule_makes_the_answer_depend_on_it(tmp_path: Path) -> None:
    (found,) = search(_conditional(tmp_path), "27447", None, ON)
    assert found.verdict == DEPENDS
    assert [(b.rule.id if b.rule else None, b.outcome, b.when) for b in found.branches] == [
        ("bilateral-knee", "auth-required", "modifier 50"),
        ("knee", "no-auth", None),
    ]
    assert "when modifier 50, rule bilateral-knee says auth-required" in found.sentence
    assert "otherwise, rule knee says no-auth" in found.sentence


def test_when_no_unconditional_rule_decides_the_default_is_the_last_branch(
    tmp_path: Path,
) -> None:
    (found,) = search(_conditional(tmp_path), "95810", None, ON)
    assert found.verdict == DEPENDS
    assert [(b.rule.id if b.rule else None, b.outcome) for b in found.branches] == [
        ("adults-only", "no-auth"),
        (None, "auth-required"),
    ]


def test_the_catalog_lists_every_rule_with_what_it_requires() -> None:
    (demo,) = catalog(DEMO, ON)
    assert demo.id == "demo-health-plan" and demo.default and demo.in_effect
    assert len(demo.rules) == len(DEMO.policies[0].rules)
    mri = next(r for r in demo.rules if r.id == "mri-brain")
    assert mri.codes == ("cpt 70551-70553",)
    assert mri.outcome == "auth-required"
