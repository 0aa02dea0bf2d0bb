"""What ``serve`` warns about before serving: insurers and roster plans no policy serves."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from fhirauth.config import BUNDLED_POLICIES, Settings
from fhirauth.policy import load_policies
from fhirauth.startup import gaps, policy_gaps, sandbox_notice

TODAY = date(2026, 12, 1)
NPI = "http://hl7.org/fhir/sid/us-npi"


def write_policy(folder: Path, name: str, body: str) -> None:
    folder.mkdir(exist_ok=True)
    rules = "rules:\n  - {id: r, match: [{system: cpt, codes: ['99213']}], outcome: no-auth}\n"
    (folder / f"{name}.yaml").write_text(f"id: {name}\nname: {name}\n{body}{rules}")


def roster(tmp_path: Path, rows: str, header: str = "member_id,plan,start,end") -> Path:
    path = tmp_path / "members.csv"
    path.write_text(f"{header}\n{rows}")
    return path


def test_the_demo_policy_leaves_no_gap() -> None:
    assert policy_gaps(load_policies([BUNDLED_POLICIES]), None, TODAY) == []


def test_without_a_default_policy_it_names_the_insurers_that_are_served(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    write_policy(folder, "acme", f"insurers: [{{system: '{NPI}', value: '1111111112'}}]\n")
    write_policy(
        folder,
        "later",
        f"insurers: [{{system: '{NPI}', value: '2222222223'}}]\neffective: {{start: 2027-01-01}}\n",
    )
    notes = policy_gaps(load_policies([folder]), None, TODAY)
    assert notes[0].startswith("no default policy is in effect on 2026-12-01")
    assert f"{NPI}|1111111112" in notes[0] and f"{NPI}|2222222223" in notes[0]
    assert notes[1:] == [
        f"insurer {NPI}|2222222223: the policies that name it are not in effect on 2026-12-01, "
        "and no default policy is"
    ]


def test_roster_insurers_and_plans_no_policy_serves_are_named_with_their_member_counts(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "policies"
    write_policy(
        folder,
        "acme",
        f"insurers: [{{system: '{NPI}', value: '1111111112'}}]\n"
        "plans: [{type: plan, value: GOLD}]\n",
    )
    path = roster(
        tmp_path,
        "M1,GOLD,2026-01-01,\nM2,SILVER,2026-01-01,\nM3,SILVER,2026-01-01,\n"
        f"M4,GOLD,2026-01-01,,{NPI}|1111111112\nM5,GOLD,2026-01-01,,9999999991\n",
        header="member_id,plan,start,end,insurer",
    )
    notes = policy_gaps(load_policies([folder]), path, TODAY)
    roster_notes = [n for n in notes if n.startswith("member roster")]
    assert roster_notes == [
        "member roster: plan SILVER (2 members) is served by no policy on 2026-12-01; those "
        "members' requests get outcome=error",
        "member roster: insurer 9999999991, plan GOLD (1 member) is served by no policy on "
        "2026-12-01; those members' requests get outcome=error",
    ]


def test_a_default_policy_serves_every_roster_row(tmp_path: Path) -> None:
    path = roster(tmp_path, "M1,ANY,2026-01-01,\n")
    assert policy_gaps(load_policies([BUNDLED_POLICIES]), path, TODAY) == []


def test_sandbox_is_announced_and_gaps_read_the_configured_policies(tmp_path: Path) -> None:
    assert sandbox_notice(Settings()) is None
    notice = sandbox_notice(Settings(sandbox=True))
    assert notice is not None and "sandbox mode is on" in notice
    folder = tmp_path / "policies"
    write_policy(folder, "acme", f"insurers: [{{system: '{NPI}', value: '1111111112'}}]\n")
    assert gaps(Settings(policy_dirs=(BUNDLED_POLICIES,))) == []
    assert gaps(Settings(policy_dirs=(folder,)))[0].startswith("no default policy")
