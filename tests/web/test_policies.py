"""The policies page: every rule with what it requires, and the search by code."""

from __future__ import annotations

from collections.abc import Callable

from tests.web.conftest import Console


def test_every_policy_and_rule_is_listed(console: Callable[..., Console]) -> None:
    html = console().get("/console/policies").get_data(as_text=True)
    assert "Demo Health Plan" in html
    for rule in ("office-visits", "mri-brain", "mri-spine", "cosmetic-hair-transplant"):
        assert rule in html
    assert "Progress note documenting six weeks of conservative therapy" in html


def test_the_search_says_whether_a_code_needs_authorization_and_why(
    console: Callable[..., Console],
) -> None:
    rita = console()
    mri = rita.get("/console/policies?code=70552").get_data(as_text=True)
    assert "70552 needs authorization: rule mri-brain" in mri
    visit = rita.get("/console/policies?code=99213&system=cpt").get_data(as_text=True)
    assert "99213 needs no authorization: rule office-visits" in visit
    unknown = rita.get("/console/policies?code=00000").get_data(as_text=True)
    assert "no rule of this policy names it" in unknown


def test_what_is_searched_for_is_shown_as_text(console: Callable[..., Console]) -> None:
    html = console().get("/console/policies?code=<script>alert(1)</script>").get_data(True)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_found_rule_says_what_documentation_it_requires(
    console: Callable[..., Console],
) -> None:
    html = console().get("/console/policies?code=72148&system=cpt").get_data(as_text=True)
    assert "72148 needs authorization: rule mri-spine" in html
    assert "Documentation for rule mri-spine:" in html  # in the answer, not only the list
    assert "approved at once when %documents contains &#39;11506-3&#39;" in html


def test_an_excluded_code_is_not_covered_with_the_reason(console: Callable[..., Console]) -> None:
    html = console().get("/console/policies?code=15775").get_data(as_text=True)
    assert "15775 is not covered: rule cosmetic-hair-transplant" in html
    assert "Rule cosmetic-hair-transplant: denial reason NC Hair transplantation" in html


def test_a_code_searched_in_another_system_is_named_by_no_rule(
    console: Callable[..., Console],
) -> None:
    html = console().get("/console/policies?code=70552&system=hcpcs").get_data(as_text=True)
    assert "70552 needs no authorization: no rule of this policy names it" in html
