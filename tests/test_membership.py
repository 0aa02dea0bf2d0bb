"""fhirauth.membership: the member id, the submitted Coverage and a payer roster."""

from __future__ import annotations

import re
import textwrap
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from fhirauth.membership import (
    MEMBER_NOT_FOUND,
    MISSING_MEMBER_ID,
    NOT_IN_PLAN,
    Eligibility,
    Roster,
    SubmittedCoverage,
    member_id,
)

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
MEMBER_SYSTEM = "http://payer.example.org/fhir/sid/member-id"
ON = date(2026, 12, 7)


def identifier(value: str, kind: str = "MB") -> dict[str, Any]:
    return {
        "type": {"coding": [{"system": V2_0203, "code": kind}]},
        "system": MEMBER_SYSTEM,
        "value": value,
    }


def coverage(**fields: Any) -> dict[str, Any]:
    return {"resourceType": "Coverage", "status": "active", **fields}


def patient(*identifiers: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Patient", "identifier": list(identifiers)}


# --- member_id -----------------------------------------------------------------------------------


def test_the_member_id_is_the_coverages_mb_identifier_first() -> None:
    cov = coverage(identifier=[identifier("COV-MB")], subscriberId="SUB-1")
    assert member_id(cov, patient(identifier("PAT-MB"))) == "COV-MB"


def test_the_member_id_falls_back_to_the_subscriber_id() -> None:
    cov = coverage(identifier=[identifier("X-1", kind="SN")], subscriberId="SUB-1")
    assert member_id(cov, patient(identifier("PAT-MB"))) == "SUB-1"


def test_the_member_id_falls_back_to_the_patients_mb_identifier() -> None:
    pat = patient(identifier("MRN-1", kind="MR"), identifier("PAT-MB"))
    assert member_id(coverage(), pat) == "PAT-MB"


def test_an_mb_identifier_without_a_value_is_skipped() -> None:
    empty = {"type": {"coding": [{"system": V2_0203, "code": "MB"}]}}
    assert member_id(coverage(identifier=[empty], subscriberId="SUB-1"), patient()) == "SUB-1"


def test_without_any_member_identifier_there_is_no_member_id() -> None:
    assert member_id(coverage(), patient(identifier("MRN-1", kind="MR"))) is None


def test_a_numeric_member_id_is_read_as_text() -> None:
    assert member_id(coverage(subscriberId=123456), patient()) == "123456"


# --- SubmittedCoverage ---------------------------------------------------------------------


@pytest.mark.parametrize("status", ["cancelled", "draft", "entered-in-error", None])
def test_a_coverage_that_is_not_active_is_not_in_plan(status: str | None) -> None:
    result = SubmittedCoverage().check(coverage(status=status), patient(), ON)
    assert (result.active, result.code, result.path) == (False, NOT_IN_PLAN, "status")
    assert result.message and "not active" in result.message


@pytest.mark.parametrize(
    "period",
    [
        {"start": "2026-12-08"},
        {"end": "2026-12-06"},
        {"start": "2025-01-01", "end": "2025-12-31"},
    ],
    ids=["starts-after", "ended-before", "last-year"],
)
def test_a_coverage_period_that_does_not_cover_the_date_is_not_in_plan(
    period: dict[str, str],
) -> None:
    result = SubmittedCoverage().check(coverage(period=period), patient(), ON)
    assert (result.active, result.code, result.path) == (False, NOT_IN_PLAN, "period")
    assert result.message and "2026-12-07" in result.message


@pytest.mark.parametrize(
    "period",
    [
        None,
        {"start": "2026-12-07", "end": "2026-12-07"},
        {"start": "2026-01-01"},
        {"end": "2026-12-31"},
        {"start": "2026-01-01T00:00:00Z", "end": "2026-12-07T23:59:59Z"},
    ],
    ids=["no-period", "just-that-day", "open-ended", "no-start", "date-times"],
)
def test_an_active_coverage_covering_the_date_is_eligible(period: dict[str, str] | None) -> None:
    cov = coverage(period=period) if period else coverage()
    assert SubmittedCoverage().check(cov, patient(), ON) == Eligibility(True)


# --- Roster --------------------------------------------------------------------------------------


def roster(tmp_path: Path, rows: str) -> Roster:
    path = tmp_path / "roster.csv"
    path.write_text("member_id,plan,start,end\n" + textwrap.dedent(rows), encoding="utf-8")
    return Roster.from_csv(path)


ROWS = """\
    M-100,PPO,2026-01-01,
    M-200,HMO,2025-01-01,2025-12-31
    M-300,HMO,2025-01-01,2025-12-31
    M-300,PPO,2026-06-01,2026-12-31
"""


def member(value: str) -> dict[str, Any]:
    return coverage(identifier=[identifier(value)])


def test_an_active_roster_member_is_eligible(tmp_path: Path) -> None:
    assert roster(tmp_path, ROWS).check(member("M-100"), patient(), ON) == Eligibility(True)


def test_a_member_enrolled_again_after_a_gap_is_eligible(tmp_path: Path) -> None:
    assert roster(tmp_path, ROWS).check(member("M-300"), patient(), ON).active is True


def test_an_unknown_member_is_not_found(tmp_path: Path) -> None:
    result = roster(tmp_path, ROWS).check(member("M-999"), patient(), ON)
    assert (result.active, result.code, result.path) == (False, MEMBER_NOT_FOUND, "identifier")
    assert MEMBER_NOT_FOUND == "75"


def test_a_member_not_enrolled_on_the_date_is_not_in_plan(tmp_path: Path) -> None:
    result = roster(tmp_path, ROWS).check(member("M-200"), patient(), ON)
    assert (result.active, result.code) == (False, NOT_IN_PLAN)
    assert NOT_IN_PLAN == "78"
    assert result.message and "2026-12-07" in result.message


@pytest.mark.parametrize(
    ("on", "active"),
    [(date(2025, 12, 31), False), (date(2026, 1, 1), True), (date(2040, 1, 1), True)],
)
def test_enrolment_runs_from_its_start_with_an_empty_end_open(
    tmp_path: Path, on: date, active: bool
) -> None:
    assert roster(tmp_path, ROWS).check(member("M-100"), patient(), on).active is active


def test_an_enrolment_ends_on_its_end_date_inclusive(tmp_path: Path) -> None:
    r = roster(tmp_path, ROWS)
    assert r.check(member("M-200"), patient(), date(2025, 12, 31)).active is True
    assert r.check(member("M-200"), patient(), date(2026, 1, 1)).active is False


def test_a_request_without_a_member_id_is_refused_as_missing(tmp_path: Path) -> None:
    result = roster(tmp_path, ROWS).check(coverage(), patient(), ON)
    assert (result.active, result.code) == (False, MISSING_MEMBER_ID)
    assert MISSING_MEMBER_ID == "72"


def test_the_roster_finds_a_member_by_subscriber_id_or_patient_identifier(
    tmp_path: Path,
) -> None:
    r = roster(tmp_path, ROWS)
    assert r.check(coverage(subscriberId="M-100"), patient(), ON).active is True
    assert r.check(coverage(), patient(identifier("M-100")), ON).active is True


def test_member_ids_in_the_roster_are_trimmed(tmp_path: Path) -> None:
    r = roster(tmp_path, "  M-100 ,PPO,2026-01-01,\n")
    assert r.check(member("M-100"), patient(), ON).active is True


def test_a_roster_missing_a_column_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text("member_id,plan,start\nM-100,PPO,2026-01-01\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"\['end'\]") as caught:
        Roster.from_csv(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("row", "line"),
    [
        ("M-100,PPO,2026-13-01,\n", 2),
        ("M-100,PPO,2026-01-01,\nM-200,PPO,2026-01-01,not-a-date\n", 3),
        ("M-100,PPO,,\n", 2),
    ],
    ids=["bad-start", "bad-end-on-line-3", "empty-start"],
)
def test_a_roster_row_with_a_bad_date_is_refused_naming_file_and_line(
    tmp_path: Path, row: str, line: int
) -> None:
    path = tmp_path / "roster.csv"
    path.write_text("member_id,plan,start,end\n" + row, encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(f"{path}:{line}:")):
        Roster.from_csv(path)


def test_a_roster_row_with_too_few_fields_is_refused_naming_file_and_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "roster.csv"
    path.write_text("member_id,plan,start,end\nM-100,PPO\n", encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(f"{path}:2:")):
        Roster.from_csv(path)


def test_the_roster_remembers_its_source(tmp_path: Path) -> None:
    assert roster(tmp_path, ROWS).source == str(tmp_path / "roster.csv")


def test_a_201_subscriber_with_one_untyped_identifier_has_it_as_member_id() -> None:
    pat = {"resourceType": "Patient", "identifier": [{"system": "http://x/MIN", "value": "M-1"}]}
    assert member_id(coverage(), pat) == "M-1"


def test_several_untyped_patient_identifiers_name_no_member() -> None:
    pat = {"resourceType": "Patient", "identifier": [{"value": "A"}, {"value": "B"}]}
    assert member_id(coverage(), pat) is None
