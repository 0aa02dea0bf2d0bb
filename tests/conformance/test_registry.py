"""fhirauth.conformance.registry and .ours: our profile files, checked and loaded."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fhirauth.conformance import PAS, ProfileError, Registry, UnknownProfile
from fhirauth.conformance.ours import PROFILES_DIR
from fhirauth.conformance.ours import load as load_ours

OUR_PROFILES = [
    "profile-pas-request-bundle",
    "profile-pas-response-bundle",
    "profile-pas-inquiry-request-bundle",
    "profile-pas-inquiry-response-bundle",
    "profile-claim",
    "profile-claim-update",
    "profile-claim-inquiry",
    "profile-claimresponse",
    "profile-claiminquiryresponse",
    "profile-coverage",
    "profile-beneficiary",
    "profile-subscriber",
    "profile-insurer",
    "profile-requestor",
    "profile-practitioner",
    "profile-practitionerrole",
    "profile-servicerequest",
    "profile-devicerequest",
    "profile-medicationrequest",
    "profile-nutritionorder",
    "profile-encounter",
    "profile-communicationrequest",
    "profile-task",
    "profile-subscription",
    "profile-identifier",
    "profile-quantity",
    "profile-datatype-timing",
]

HEADER = """\
url: http://example.org/fhir/StructureDefinition/test
name: Test
type: Claim
"""


def write_profile(folder: Path, text: str, name: str = "test.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(folder: Path) -> str:
    with pytest.raises(ProfileError) as exc:
        Registry().load_ours(folder)
    return str(exc.value)


@pytest.mark.parametrize("name", OUR_PROFILES)
def test_our_profiles_define_every_pas_profile_we_receive_or_send(
    ours: Registry, name: str
) -> None:
    profile = ours.get(PAS + name)
    assert profile.url == PAS + name
    assert profile.source.startswith(str(PROFILES_DIR))


def test_each_of_our_profiles_is_one_file(ours: Registry) -> None:
    resource_profiles = [p for p in ours.profiles.values() if not p.is_extension]
    files = {p.source for p in resource_profiles}
    assert len(files) == len(resource_profiles)


def test_every_pas_extension_our_profiles_place_is_defined_in_the_catalogue(
    ours: Registry,
) -> None:
    def slices(el):  # every extension slice's type profile, anywhere in the tree
        for child in el.children.values():
            for sl in child.slices.values():
                for t in sl.types:
                    yield from (p for p in t.profiles if t.code == "Extension")
                yield from slices(sl)
            yield from slices(child)

    placed = {url for p in ours.profiles.values() for url in slices(p.root)}
    missing = {url for url in placed if url.startswith(PAS) and url not in ours}
    assert placed and not missing


def test_a_profile_inherits_the_elements_of_its_base(ours: Registry) -> None:
    update = ours.get(PAS + "profile-claim-update").root
    # from profile-claim-base, through profile-claim
    assert update.children["insurance"].children["focal"].fixed is True
    # from profile-claim
    request_type = update.children["item"].children["extension"].slices["requestType"]
    assert request_type.min == 1


def test_a_derived_profile_overrides_what_it_sets_and_keeps_the_rest(ours: Registry) -> None:
    claim = ours.get(PAS + "profile-claim").root
    update = ours.get(PAS + "profile-claim-update").root
    assert claim.children["related"].max == 0
    assert (update.children["related"].min, update.children["related"].max) == (1, 1)
    assert update.children["item"].min == 0
    assert update.children["item"].must_support


def test_a_profile_inherits_the_invariants_of_its_base(ours: Registry) -> None:
    update = ours.get(PAS + "profile-claim-update").root
    assert {i.key for i in update.invariants} == {"ImmediateLevelOfCare", "UpdateCarriesItems"}


def test_a_profile_may_not_be_its_own_ancestor(tmp_path: Path) -> None:
    write_profile(tmp_path, HEADER + "base: http://example.org/fhir/StructureDefinition/test\n")
    assert "a cycle" in load_error(tmp_path)


def test_a_base_must_be_one_of_our_profiles(tmp_path: Path) -> None:
    write_profile(tmp_path, HEADER + "base: http://example.org/elsewhere\n")
    message = load_error(tmp_path)
    assert str(tmp_path / "test.yaml") in message
    assert "base: http://example.org/elsewhere is not one of our profiles" in message


def test_lookups_ignore_a_version_suffix(ours: Registry) -> None:
    assert ours.get(PAS + "profile-claim|2.2.1") is ours.get(PAS + "profile-claim")


def test_an_unknown_canonical_raises(ours: Registry) -> None:
    with pytest.raises(UnknownProfile, match="profile-nothing"):
        ours.get(PAS + "profile-nothing")


def test_our_files_are_read_once_until_they_change() -> None:
    assert load_ours()[0] is load_ours()[0]


def test_unverifiable_bindings_are_noted_once_as_information(ours: Registry) -> None:
    notes = [i for i in ours.issues if "profile-claim-base: Claim.item.category" in i.diagnostics]
    assert len(notes) == 1
    assert notes[0].severity == "information"
    assert "X12 element 1365 is licensed" in notes[0].diagnostics


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ("elements:\n  Claim.item: {min: -1}\n", "elements.Claim.item.min", "greater than"),
        ("elements:\n  Claim.item: {mni: 1}\n", "elements.Claim.item.mni", "Unknown field"),
        ("elements:\n  Claim.item: {max: many}\n", "elements.Claim.item.max", '"*"'),
        ("elements:\n  Claim.item: {min: 2, max: 1}\n", "elements.Claim.item", "below min"),
        ("elements:\n  Patient.name: {min: 1}\n", "paths must start with Claim", "Patient"),
        (
            "elements:\n  Claim.type: {binding: {strength: required}}\n",
            "elements.Claim.type.binding",
            "lists its codes or systems",
        ),
        (
            "elements:\n  Claim.status: {fixed: active, pattern: active}\n",
            "elements.Claim.status",
            "fixed or pattern, not both",
        ),
        (
            "extensions:\n  Claim.item: [{url: 'http://x.org/e', value: string,"
            " extensions: [{url: a}]}]\n",
            "extensions.Claim.item.0",
            "a value or sub-extensions",
        ),
        ("name: [a\n", "not valid YAML", ""),
    ],
)
def test_a_broken_profile_file_names_the_file_and_the_field(
    tmp_path: Path, body: str, field: str, message: str
) -> None:
    write_profile(tmp_path, HEADER + body)
    text = load_error(tmp_path)
    assert text.startswith(f"{tmp_path / 'test.yaml'}: ")
    assert field in text and message in text


def test_an_invariant_that_is_not_fhirpath_is_refused_at_load(tmp_path: Path) -> None:
    write_profile(
        tmp_path,
        HEADER + "invariants:\n  - {key: broken, human: h, expression: 'item.where('}\n",
    )
    assert "invariant broken: is not valid FHIRPath" in load_error(tmp_path)


def test_an_invariant_using_a_function_fhirpathpy_lacks_is_refused_at_load(
    tmp_path: Path,
) -> None:
    write_profile(
        tmp_path,
        HEADER + "invariants:\n  - {key: k, human: h, expression: 'item.conformsTo(%x)'}\n",
    )
    assert "uses conformsTo(), which fhirpathpy does not implement" in load_error(tmp_path)


def test_a_slice_needs_slicing_on_its_element(tmp_path: Path) -> None:
    write_profile(tmp_path, HEADER + "elements:\n  Claim.item:first: {max: 1}\n")
    assert "Claim.item:first: a slice of Claim.item, which has no slicing" in load_error(tmp_path)


def test_two_files_may_not_define_one_canonical(tmp_path: Path) -> None:
    write_profile(tmp_path, HEADER, "a.yaml")
    write_profile(tmp_path, HEADER, "b.yaml")
    assert "is also defined in" in load_error(tmp_path)


def test_a_folder_without_profiles_is_an_error(tmp_path: Path) -> None:
    assert "no profile files" in load_error(tmp_path)


def test_a_catalogue_extension_with_a_value_requires_it(ours: Registry) -> None:
    value = ours.get(PAS + "extension-authorizationNumber").root.children["value[x]"]
    assert (value.min, value.max, value.type_codes()) == (1, 1, {"string"})


def test_a_complex_catalogue_extension_has_no_value(ours: Registry) -> None:
    root = ours.get(PAS + "extension-reviewAction").root
    assert root.children["value[x]"].max == 0
    assert set(root.children["extension"].slices) == {
        "code",
        "number",
        "reasonCode",
        "secondSurgicalOpinionFlag",
    }
    assert root.children["extension"].slices["number"].children["url"].fixed == "number"
