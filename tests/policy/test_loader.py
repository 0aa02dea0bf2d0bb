"""fhirauth.policy.loader: policy files → compiled policies, and the errors an analyst sees."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fhirauth.policy.loader import PolicyError, load_policies

POLICIES = Path(__file__).resolve().parents[2] / "policies"

HEADER = """\
id: test-plan
name: Test Plan
rules:
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(folder: Path) -> str:
    with pytest.raises(PolicyError) as caught:
        load_policies([folder])
    return str(caught.value)


def test_the_shipped_demo_policy_is_the_default_for_an_unknown_insurer() -> None:
    policies = load_policies([POLICIES])
    policy = policies.for_insurer([{"system": "urn:example", "value": "unknown"}])
    assert policy.id == "demo-health-plan"
    assert policy.default is True


@pytest.mark.parametrize(
    ("rule", "rule_id", "field"),
    [
        (
            """\
              - id: no-reason
                match: [{system: cpt, codes: ["15775"]}]
                outcome: deny
                reason_code: NC
            """,
            "no-reason",
            "reason",
        ),
        (
            """\
              - id: maybe-later
                match: [{system: cpt, codes: ["15775"]}]
                outcome: maybe
            """,
            "maybe-later",
            "outcome",
        ),
        (
            """\
              - id: backwards
                match: [{system: cpt, codes: ["70553-70551"]}]
                outcome: pend
            """,
            "backwards",
            "match.codes",
        ),
    ],
    ids=["deny-without-reason", "unknown-outcome", "range-high-to-low"],
)
def test_a_bad_rule_is_reported_with_its_file_rule_id_and_field(
    tmp_path: Path, rule: str, rule_id: str, field: str
) -> None:
    path = write(tmp_path, "plan.yaml", HEADER + textwrap.indent(textwrap.dedent(rule), "  "))
    message = load_error(tmp_path)
    assert str(path) in message
    assert f"rule {rule_id}: {field}:" in message


def test_a_file_that_is_not_valid_yaml_is_reported_by_name(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.yaml", "id: test-plan\nname: [unclosed\n")
    message = load_error(tmp_path)
    assert str(path) in message
    assert "YAML" in message


def test_two_default_policies_are_refused_naming_both(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "id: plan-a\nname: A\ndefault: true\n")
    write(tmp_path, "b.yaml", "id: plan-b\nname: B\ndefault: true\n")
    message = load_error(tmp_path)
    assert "plan-a" in message and "plan-b" in message


def test_a_folder_without_policy_files_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "notes.txt", "not a policy")
    message = load_error(tmp_path)
    assert str(tmp_path) in message
