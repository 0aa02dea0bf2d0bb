"""SMART v1 and v2 scope spellings, and what covers what."""

from __future__ import annotations

import pytest

from fhirauth.auth.scopes import ADMIN_SCOPE, allows, intersect, is_known, parse


@pytest.mark.parametrize(
    ("v1", "v2"),
    [
        ("system/Claim.read", "system/Claim.rs"),
        ("system/Claim.write", "system/Claim.cud"),
        ("system/Claim.*", "system/Claim.cruds"),
        ("system/*.read", "system/*.rs"),
        ("system/*.*", "system/*.cruds"),
    ],
)
def test_v1_names_mean_their_v2_letters(v1: str, v2: str) -> None:
    assert parse(v1) == parse(v2)
    for required in ("system/Claim.c", "system/Claim.r", "system/Claim.u", "system/Claim.s"):
        assert allows([v1], required) == allows([v2], required)


@pytest.mark.parametrize(
    ("granted", "required", "ok"),
    [
        (["system/Claim.write"], "system/Claim.c", True),
        (["system/Claim.c"], "system/Claim.c", True),
        (["system/Claim.cu"], "system/Claim.c", True),
        (["system/Claim.cruds"], "system/Claim.c", True),
        (["system/*.write"], "system/Claim.c", True),
        (["system/*.*"], "system/Claim.c", True),
        (["system/Claim.read"], "system/Claim.c", False),
        (["system/Claim.rs"], "system/Claim.c", False),
        (["system/ClaimResponse.write"], "system/Claim.c", False),
        (["system/Claim.read"], "system/Claim.s", True),
        (["system/Claim.r"], "system/Claim.s", False),
        (["system/Claim.r", "system/Claim.s"], "system/Claim.rs", True),
        (["system/*.*"], ADMIN_SCOPE, False),
        ([ADMIN_SCOPE], ADMIN_SCOPE, True),
        ([ADMIN_SCOPE], "system/Claim.r", False),
        (["user/Claim.read", "patient/*.*"], "system/Claim.r", False),
        (["system/Claim.rs?status=active"], "system/Claim.r", False),
        ([], "system/Claim.r", False),
    ],
)
def test_allows(granted: list[str], required: str, ok: bool) -> None:
    assert allows(granted, required) is ok


def test_malformed_scopes_are_unknown() -> None:
    for text in (
        "system/Claim.rr",
        "system/claim.read",
        "system/Claim.x",
        "system/Claim",
        "Claim.read",
        "openid",
        "system/fhirauth.root",
    ):
        assert not is_known(text), text
    assert is_known(ADMIN_SCOPE) and is_known("system/Claim.sr")


def test_intersect_keeps_what_is_covered_and_cuts_the_rest() -> None:
    registered = ["system/Claim.cruds", "system/ClaimResponse.rs", ADMIN_SCOPE]
    assert intersect(["system/Claim.write"], registered) == ["system/Claim.write"]
    assert intersect(["system/*.read"], registered) == [
        "system/Claim.rs",
        "system/ClaimResponse.rs",
    ]
    assert intersect(["system/ClaimResponse.*"], registered) == ["system/ClaimResponse.rs"]
    assert intersect([ADMIN_SCOPE, "openid"], registered) == [ADMIN_SCOPE]
    assert intersect(["system/Subscription.*"], registered) == []
    assert intersect([ADMIN_SCOPE], ["system/*.*"]) == []
    assert intersect(["system/Claim.c"], ["system/*.*"]) == ["system/Claim.c"]
    assert intersect(["system/*.*"], ["system/*.read"]) == ["system/*.rs"]
    assert intersect(["system/Claim.cruds"], ["system/Claim.c", "system/Claim.rs"]) == [
        "system/Claim.crs"
    ]
