"""fhirauth.policy.loader: policy files → compiled policies, and the errors an analyst sees."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from fhirauth.policy.codes import canonical_system
from fhirauth.policy.loader import Policy, PolicyError, compile_policy, load_policies
from tests.policy.bundles import POLICIES

HEADER = """\
id: test-plan
name: Test Plan
rules:
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def write_rules(folder: Path, rules: str) -> Path:
    """A policy file whose rules are the given YAML list (indented as written)."""
    return write(folder, "plan.yaml", HEADER + textwrap.indent(textwrap.dedent(rules), "  "))


def load_error(folder: Path) -> str:
    with pytest.raises(PolicyError) as caught:
        load_policies([folder])
    return str(caught.value)


def compile_error(*rules: dict[str, Any]) -> str:
    with pytest.raises(PolicyError) as caught:
        compile_policy({"id": "test-plan", "name": "Test Plan", "rules": list(rules)})
    return str(caught.value)


def rule(rule_id: str, codes: list[str], system: str = "cpt", **extra: Any) -> dict[str, Any]:
    return {
        "id": rule_id,
        "match": [{"system": system, "codes": codes}],
        "outcome": "auth-required",
        **extra,
    }


# --- The shipped policy ----------------------------------------------------------------------


def test_the_shipped_demo_policy_loads_as_the_default() -> None:
    policies = load_policies([POLICIES])
    (demo,) = [p for p in policies.policies if p.default]
    assert demo.id == "demo-health-plan"
    assert demo.source == POLICIES / "demo-payer.yaml"


def test_the_shipped_demo_policy_decides_for_an_insurer_no_policy_names() -> None:
    policies = load_policies([POLICIES])
    chosen = policies.select(
        [{"system": "urn:example", "value": "unknown"}], None, date(2026, 12, 1)
    )
    assert chosen.id == "demo-health-plan"


def test_a_compiled_policy_keeps_its_settings_and_their_defaults() -> None:
    policy: Policy = compile_policy({"id": "test-plan", "name": "Test Plan"})
    assert policy.default is False
    assert policy.unlisted == "no-auth"
    assert policy.approval_period_days == 90
    assert policy.adverse_decisions == "review"
    assert policy.effective == (None, None)


# --- Rule errors name the file, the rule and the field ---------------------------------------


@pytest.mark.parametrize(
    ("rules", "rule_id", "field"),
    [
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
            - id: no-reason
              match: [{system: cpt, codes: ["15775"]}]
              outcome: not-covered
              reason_code: NC
            """,
            "no-reason",
            "reason",
        ),
        (
            """\
            - id: no-reason-code
              match: [{system: cpt, codes: ["15775"]}]
              outcome: not-covered
              reason: Cosmetic
            """,
            "no-reason-code",
            "reason",
        ),
        (
            """\
            - id: free-visit
              match: [{system: cpt, codes: ["99213"]}]
              outcome: no-auth
              approve:
                when: "true"
            """,
            "free-visit",
            "approve",
        ),
        (
            """\
            - id: excluded-with-limit
              match: [{system: cpt, codes: ["15775"]}]
              outcome: not-covered
              reason_code: NC
              reason: Cosmetic
              limit: {quantity: 1, reason: One only}
            """,
            "excluded-with-limit",
            "limit",
        ),
        (
            """\
            - id: backwards
              match: [{system: cpt, codes: ["70553-70551"]}]
              outcome: auth-required
            """,
            "backwards",
            "match.codes",
        ),
        (
            """\
            - id: uneven
              match: [{system: cpt, codes: ["7055-70553"]}]
              outcome: auth-required
            """,
            "uneven",
            "match.codes",
        ),
        (
            """\
            - id: spaced
              match: [{system: cpt, codes: ["70 450"]}]
              outcome: auth-required
            """,
            "spaced",
            "match.codes",
        ),
        (
            """\
            - id: limitless
              match: [{system: hcpcs, codes: ["K0001"]}]
              outcome: auth-required
              limit: {reason: Nothing limited}
            """,
            "limitless",
            "limit",
        ),
    ],
    ids=[
        "unknown-outcome",
        "not-covered-without-reason",
        "not-covered-without-reason-code",
        "approve-on-a-no-auth-rule",
        "limit-on-a-not-covered-rule",
        "range-high-to-low",
        "range-of-two-lengths",
        "code-with-a-space",
        "limit-without-quantity-or-days",
    ],
)
def test_a_bad_rule_is_reported_with_its_file_rule_id_and_field(
    tmp_path: Path, rules: str, rule_id: str, field: str
) -> None:
    path = write_rules(tmp_path, rules)
    message = load_error(tmp_path)
    assert str(path) in message
    assert f"rule {rule_id}: {field}" in message


def test_documentation_with_both_a_code_and_a_questionnaire_is_refused(tmp_path: Path) -> None:
    path = write_rules(
        tmp_path,
        """\
        - id: two-kinds
          match: [{system: cpt, codes: ["27447"]}]
          outcome: auth-required
          documentation:
            - code: "11506-3"
              questionnaire: http://payer.example.org/Questionnaire/knee
              description: Progress note
        """,
    )
    message = load_error(tmp_path)
    assert str(path) in message
    assert "rule two-kinds: documentation" in message
    assert "either code" in message


def test_documentation_with_neither_a_code_nor_a_questionnaire_is_refused(
    tmp_path: Path,
) -> None:
    write_rules(
        tmp_path,
        """\
        - id: no-kind
          match: [{system: cpt, codes: ["27447"]}]
          outcome: auth-required
          documentation:
            - description: Something
        """,
    )
    assert "rule no-kind: documentation" in load_error(tmp_path)


def test_two_rules_with_one_id_are_a_load_error_naming_the_id(tmp_path: Path) -> None:
    path = write_rules(
        tmp_path,
        """\
        - id: hair
          match: [{system: cpt, codes: ["15775"]}]
          outcome: no-auth
        - id: hair
          match: [{system: cpt, codes: ["15776"]}]
          outcome: no-auth
        """,
    )
    message = load_error(tmp_path)
    assert str(path) in message
    assert "rule hair: id:" in message


# --- Two rules claiming one code at one priority ---------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "system"),
    [
        (["70450"], ["70450"], "cpt"),
        (["70000-79999"], ["70450"], "cpt"),
        (["70450"], ["70000-79999"], "cpt"),
        (["70000-70500"], ["70400-70999"], "cpt"),
        (["70400-70999"], ["70000-70500"], "cpt"),
        (["J9*"], ["J9000-J9100"], "hcpcs"),
        (["J9000-J9100"], ["J9*"], "hcpcs"),
        (["J*"], ["J9*"], "hcpcs"),
        (["J*"], ["J1234"], "hcpcs"),
        (["0074-4339-02"], ["0074-4339-02"], "ndc"),
        (["0074*"], ["0074-4339-02"], "ndc"),
    ],
    ids=[
        "exact-exact",
        "exact-in-range",
        "range-holding-an-exact",
        "range-range",
        "range-range-reversed",
        "prefix-range",
        "range-prefix",
        "prefix-prefix",
        "prefix-exact",
        "hyphenated-exact-exact",
        "prefix-hyphenated-exact",
    ],
)
def test_two_rules_claiming_one_code_at_one_priority_are_a_load_error_naming_both(
    first: list[str], second: list[str], system: str
) -> None:
    message = compile_error(rule("first", first, system), rule("second", second, system))
    assert "<policy>" in message
    assert "priority" in message
    assert "rule first" in message and "rule second" in message


def test_a_same_priority_overlap_is_reported_with_the_file_name(tmp_path: Path) -> None:
    path = write_rules(
        tmp_path,
        """\
        - id: imaging
          match: [{system: cpt, codes: ["70000-79999"]}]
          outcome: auth-required
        - id: ct-head
          match: [{system: cpt, codes: ["70450"]}]
          outcome: auth-required
        """,
    )
    message = load_error(tmp_path)
    assert str(path) in message
    assert "rule ct-head: priority:" in message
    assert "rule imaging" in message


def test_a_short_system_name_and_its_uri_claim_the_same_codes() -> None:
    message = compile_error(
        rule("short", ["70450"], "cpt"),
        rule("uri", ["70450"], "http://www.ama-assn.org/go/cpt"),
    )
    assert "rule short" in message and "rule uri" in message


@pytest.mark.parametrize(
    ("first", "second", "system"),
    [
        (["70450"], ["70450"], "cpt"),
        (["70000-79999"], ["70450"], "cpt"),
        (["70000-70500"], ["70400-70999"], "cpt"),
        (["J9*"], ["J9000-J9100"], "hcpcs"),
    ],
    ids=["exact-exact", "exact-in-range", "range-range", "prefix-range"],
)
def test_overlapping_codes_are_accepted_when_the_priorities_differ(
    first: list[str], second: list[str], system: str
) -> None:
    policy = compile_policy(
        {
            "id": "test-plan",
            "name": "Test Plan",
            "rules": [rule("low", first, system), rule("high", second, system, priority=10)],
        }
    )
    assert [r.id for r in policy.rules] == ["low", "high"]


@pytest.mark.parametrize(
    ("first", "second", "system"),
    [
        (["70450"], ["70451"], "cpt"),
        (["70000-70449"], ["70450-70999"], "cpt"),
        (["J9*"], ["J8999"], "hcpcs"),
        (["J9*"], ["J"], "hcpcs"),
        (["7045"], ["70450-70459"], "cpt"),
        (["0074-4339-02"], ["0074-4339-03"], "ndc"),
    ],
    ids=[
        "neighbouring-exacts",
        "adjacent-ranges",
        "prefix-and-a-code-outside-it",
        "prefix-and-a-shorter-code",
        "codes-of-another-length",
        "hyphenated-exacts",
    ],
)
def test_disjoint_codes_at_one_priority_are_accepted(
    first: list[str], second: list[str], system: str
) -> None:
    compile_policy(
        {
            "id": "test-plan",
            "name": "Test Plan",
            "rules": [rule("one", first, system), rule("two", second, system)],
        }
    )


def test_one_code_in_two_systems_at_one_priority_is_accepted() -> None:
    compile_policy(
        {
            "id": "test-plan",
            "name": "Test Plan",
            "rules": [rule("cpt-code", ["A1234"], "cpt"), rule("hcpcs-code", ["A1234"], "hcpcs")],
        }
    )


def test_one_rule_may_list_a_code_inside_its_own_range() -> None:
    compile_policy(
        {
            "id": "test-plan",
            "name": "Test Plan",
            "rules": [rule("imaging", ["70000-79999", "70450"])],
        }
    )


# --- Broken FHIRPath is a load error naming file, rule and field -----------------------------


@pytest.mark.parametrize(
    ("block", "field"),
    [
        ('when: "%age >"', "when"),
        ('when: "%age >= 50)"', "when"),
        ('when: "%ages >= 50"', "when"),
        ('when: "%item.exists(1, 2, 3)"', "when"),
        ('when: ["true", "%item.frobnicate()"]', "when"),
        ('approve: {when: "%age >"}', "approve.when"),
        ('approve: {when: "%nobody.exists()"}', "approve.when"),
        ('deny: {when: "%age <", reason_code: AGE, reason: Too young}', "deny.when"),
    ],
    ids=[
        "syntax-unfinished",
        "syntax-stray-parenthesis",
        "unknown-variable",
        "wrong-arity",
        "unknown-function-in-a-list",
        "approve-syntax",
        "approve-unknown-variable",
        "deny-syntax",
    ],
)
def test_a_broken_fhirpath_expression_is_a_load_error_naming_file_rule_and_field(
    tmp_path: Path, block: str, field: str
) -> None:
    path = write_rules(
        tmp_path,
        f"""\
        - id: broken
          match: [{{system: cpt, codes: ["27447"]}}]
          outcome: auth-required
          {block}
        """,
    )
    message = load_error(tmp_path)
    assert str(path) in message
    assert f"rule broken: {field}:" in message


def test_an_unknown_variable_error_names_the_variable(tmp_path: Path) -> None:
    write_rules(
        tmp_path,
        """\
        - id: typo
          match: [{system: cpt, codes: ["27447"]}]
          outcome: auth-required
          when: "%ages >= 50"
        """,
    )
    message = load_error(tmp_path)
    assert "'%ages >= 50'" in message
    assert "ages" in message.rsplit(":", 1)[-1]


def test_an_empty_when_is_refused(tmp_path: Path) -> None:
    write_rules(
        tmp_path,
        """\
        - id: empty-when
          match: [{system: cpt, codes: ["27447"]}]
          outcome: auth-required
          when: []
        """,
    )
    assert "rule empty-when: when" in load_error(tmp_path)


# --- File and folder errors ------------------------------------------------------------------


def test_a_file_that_is_not_valid_yaml_is_reported_by_name(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.yaml", "id: test-plan\nname: [unclosed\n")
    message = load_error(tmp_path)
    assert str(path) in message
    assert "YAML" in message


def test_a_file_that_is_not_a_mapping_is_reported_by_name(tmp_path: Path) -> None:
    path = write(tmp_path, "list.yaml", "- id: test-plan\n")
    message = load_error(tmp_path)
    assert str(path) in message
    assert "mapping" in message


def test_a_policy_level_error_names_the_file_and_the_field(tmp_path: Path) -> None:
    path = write(tmp_path, "plan.yaml", "id: test-plan\nname: T\nadverse_decisions: sometimes\n")
    message = load_error(tmp_path)
    assert str(path) in message
    assert "adverse_decisions:" in message


def test_two_default_policies_are_refused_naming_both(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", "id: plan-a\nname: A\ndefault: true\n")
    b = write(tmp_path, "b.yaml", "id: plan-b\nname: B\ndefault: true\n")
    message = load_error(tmp_path)
    assert "plan-a" in message and "plan-b" in message
    assert str(a) in message and str(b) in message


def test_a_folder_without_policy_files_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "notes.txt", "not a policy")
    message = load_error(tmp_path)
    assert str(tmp_path) in message


def test_an_empty_folder_is_refused(tmp_path: Path) -> None:
    assert str(tmp_path) in load_error(tmp_path)


def test_a_policy_folder_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(PolicyError, match="not a folder"):
        load_policies([missing])


def test_policies_load_from_every_folder_in_order(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    write(first, "z.yaml", "id: plan-z\nname: Z\n")
    write(second, "a.yml", "id: plan-a\nname: A\n")
    write(first, "b.yaml", "id: plan-b\nname: B\n")
    policies = load_policies([first, second])
    assert [p.id for p in policies.policies] == ["plan-b", "plan-z", "plan-a"]


# --- Lookup by code ---------------------------------------------------------------------------


def test_prefixes_of_several_lengths_all_match_a_code_longest_first() -> None:
    policy = compile_policy(
        {
            "id": "test-plan",
            "name": "Test Plan",
            "rules": [
                rule("short", ["J9*"], "hcpcs", priority=1),
                rule("long", ["J904*"], "hcpcs"),
            ],
        }
    )
    hcpcs = canonical_system("hcpcs")
    assert [r.id for r in policy.index.lookup(hcpcs, "J9045")] == ["long", "short"]
    assert [r.id for r in policy.index.lookup(hcpcs, "J9")] == ["short"]
    assert policy.index.lookup(hcpcs, "J8999") == []


def test_a_very_long_code_is_looked_up_by_the_prefixes_rules_name() -> None:
    # Only the prefix lengths rules name are tried: trying every prefix of a code made a lookup
    # cost the square of the code's length.
    policy = compile_policy(
        {"id": "test-plan", "name": "Test Plan", "rules": [rule("j9", ["J9*"], "hcpcs")]}
    )
    found = policy.index.lookup(canonical_system("hcpcs"), "J9" + "0" * 200_000)
    assert [r.id for r in found] == ["j9"]
