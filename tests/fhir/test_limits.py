"""fhirauth.fhir.limits: a request larger than the server takes is refused with 413 and one
too-costly issue at the offending element; a request at every limit passes."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from fhirauth.errors import Invalid, TooCostly
from fhirauth.fhir.limits import Limits, check, check_body
from fhirauth.fhir.strict_json import MAX_DEPTH
from tests.conftest import EXAMPLES

SMALL = Limits(entries=12, items=5, string=100, depth=20, values=2000)
CLAIM = "Bundle.entry[0].resource"


def example(name: str = "mixed-outcomes.json") -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


def with_items(n: int) -> dict[str, Any]:
    bundle = example()
    items = bundle["entry"][0]["resource"]["item"]
    bundle["entry"][0]["resource"]["item"] = [
        {**copy.deepcopy(items[i % len(items)]), "sequence": i + 1} for i in range(n)
    ]
    return bundle


def with_entries(n: int) -> dict[str, Any]:
    bundle = example()
    extra = n - len(bundle["entry"])
    bundle["entry"] += [
        {
            "fullUrl": f"http://emr.example.org/fhir/Practitioner/p{i}",
            "resource": {"resourceType": "Practitioner", "id": f"p{i}"},
        }
        for i in range(extra)
    ]
    return bundle


def nested(levels: int) -> dict[str, Any]:
    """A Claim extension holding extensions ``levels`` JSON objects and arrays deep in all."""
    bundle = example()
    ext: dict[str, Any] = {"url": "http://example.org/leaf", "valueString": "x"}
    # Bundle, entry[], entry, resource, extension[], extension: 6 levels to the first one.
    for _ in range((levels - 6) // 2):
        ext = {"url": "http://example.org/x", "extension": [ext]}
    bundle["entry"][0]["resource"]["extension"] = [ext]
    return bundle


def refused(data: Any, limits: Limits = SMALL) -> TooCostly:
    with pytest.raises(TooCostly) as caught:
        check(data, limits)
    assert caught.value.status == 413
    (issue,) = caught.value.issues
    assert issue.code == "too-costly"
    return caught.value


def test_the_examples_are_far_inside_the_default_limits() -> None:
    for path in EXAMPLES.rglob("*.json"):
        check_body(path.read_bytes(), Limits())


def test_more_entries_than_the_limit_are_refused_at_bundle_entry() -> None:
    error = refused(with_entries(SMALL.entries + 1))
    assert error.issues[0].expression == ("Bundle.entry",)
    assert "13 entries" in error.issues[0].diagnostics


def test_as_many_entries_as_the_limit_pass() -> None:
    check(with_entries(SMALL.entries), SMALL)


def test_more_claim_items_than_the_limit_are_refused_at_claim_item() -> None:
    error = refused(with_items(SMALL.items + 1))
    assert error.issues[0].expression == (f"{CLAIM}.item",)
    assert "The Claim has 6 items" in error.issues[0].diagnostics


def test_as_many_items_as_the_limit_pass() -> None:
    check(with_items(SMALL.items), SMALL)


def test_items_are_counted_inside_a_parameters_wrapper() -> None:
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "resource", "resource": with_items(SMALL.items + 1)}],
    }
    error = refused(body)
    path = "Parameters.parameter[0].resource.entry[0].resource.item"
    assert error.issues[0].expression == (path,)


def test_the_items_of_a_coverage_eligibility_request_on_its_own_are_counted() -> None:
    request = {"resourceType": "CoverageEligibilityRequest", "item": [{}] * (SMALL.items + 1)}
    assert refused(request).issues[0].expression == ("CoverageEligibilityRequest.item",)


def test_nested_items_of_a_supporting_resource_are_not_claim_items() -> None:
    bundle = example()
    answers = {"resourceType": "QuestionnaireResponse", "item": [{"linkId": "a"}] * 10}
    bundle["entry"].append({"fullUrl": "http://emr.example.org/fhir/QR/1", "resource": answers})
    check(bundle, SMALL)


def test_a_string_longer_than_the_limit_is_refused_at_its_fhirpath() -> None:
    bundle = example()
    bundle["entry"][0]["resource"]["item"][0]["productOrService"]["coding"][0]["code"] = "9" * 101
    error = refused(bundle)
    assert error.issues[0].expression == (f"{CLAIM}.item[0].productOrService.coding[0].code",)
    assert "101 characters" in error.issues[0].diagnostics


def test_a_string_as_long_as_the_limit_passes() -> None:
    bundle = example()
    bundle["entry"][0]["resource"]["item"][0]["productOrService"]["coding"][0]["code"] = "9" * 100
    check(bundle, SMALL)


def test_a_long_string_in_an_array_is_refused_at_its_index() -> None:
    bundle = example()
    bundle["entry"][4]["resource"]["name"] = [{"given": ["Ann", "x" * 101]}]
    assert refused(bundle).issues[0].expression == ("Bundle.entry[4].resource.name[0].given[1]",)


def test_attachment_data_is_bounded_by_the_body_size_only() -> None:
    bundle = example("supporting-document.json")
    documents = [e["resource"] for e in bundle["entry"] if "content" in e["resource"]]
    documents[0]["content"][0]["attachment"]["data"] = "QUJD" * 10_000
    check(bundle, SMALL)


def test_a_long_json_key_is_refused() -> None:
    bundle = example()
    bundle["entry"][0]["resource"]["k" * 101] = 1
    assert refused(bundle).issues[0].expression == (CLAIM,)


def test_nesting_deeper_than_the_limit_is_refused_where_it_goes_too_deep() -> None:
    error = refused(nested(SMALL.depth + 2))
    (path,) = error.issues[0].expression
    assert path.startswith(f"{CLAIM}.extension[0].extension[0].")
    assert "nests deeper than 20" in error.issues[0].diagnostics


def test_nesting_as_deep_as_the_limit_passes() -> None:
    check(nested(SMALL.depth), SMALL)


@pytest.mark.parametrize("name", ["diagnosis", "supportingInfo", "careTeam"])
def test_lists_every_item_reads_are_held_to_the_item_limit(name: str) -> None:
    # Each item is decided against (and answered with) these: work grows with the product.
    bundle = example()
    bundle["entry"][0]["resource"][name] = [{"sequence": i + 1} for i in range(SMALL.items + 1)]
    error = refused(bundle)
    assert error.issues[0].expression == (f"{CLAIM}.{name}",)
    assert f"6 {name} entries" in error.issues[0].diagnostics


def test_more_json_values_than_the_limit_are_refused() -> None:
    bundle = example()
    patient = bundle["entry"][4]["resource"]
    patient["identifier"] *= 1000  # values, not items or entries
    error = refused(bundle)
    assert "more than 2000 JSON values" in error.issues[0].diagnostics
    assert error.issues[0].expression == ("Bundle",)


def test_a_plain_json_body_is_bounded_too_with_paths_without_a_resource_type() -> None:
    error = refused({"reviewer": {"name": "x" * 101}})
    assert error.issues[0].expression == ("reviewer.name",)


def test_a_large_body_of_many_values_is_refused_from_its_bytes() -> None:
    body = json.dumps(with_items(10_000)).encode()
    with pytest.raises(TooCostly) as caught:
        check_body(body, Limits())
    assert "JSON values" in caught.value.issues[0].diagnostics


def test_a_large_body_of_few_values_is_read_and_measured() -> None:
    bundle = example("supporting-document.json")
    documents = [e["resource"] for e in bundle["entry"] if "content" in e["resource"]]
    documents[0]["content"][0]["attachment"]["data"] = "QUJD" * 1_000_000  # 4 MB of base64
    check_body(json.dumps(bundle).encode(), Limits())


def test_nesting_beyond_what_orjson_reads_is_too_costly() -> None:
    with pytest.raises(TooCostly):
        check_body(b"[" * 5000 + b"]" * 5000, Limits())


def test_a_body_that_is_not_json_is_left_to_the_strict_parser() -> None:
    with pytest.raises(Invalid) as caught:
        check_body(b'{"resourceType": "Bundle",', Limits())
    assert "not valid JSON" in caught.value.issues[0].diagnostics


def test_a_byte_order_mark_is_allowed() -> None:
    check_body(b"\xef\xbb\xbf" + json.dumps(example()).encode(), Limits())


@pytest.mark.parametrize("name", ["entries", "items", "string", "values"])
def test_a_limit_below_one_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match=f"FHIRAUTH_MAX_{name.upper()}"):
        Limits(**{name: 0})


@pytest.mark.parametrize("depth", [1, MAX_DEPTH + 1])
def test_a_depth_limit_beyond_what_the_parser_reads_is_refused(depth: int) -> None:
    with pytest.raises(ValueError, match="FHIRAUTH_MAX_DEPTH"):
        Limits(depth=depth)


def test_a_body_over_a_limit_is_refused_every_time_it_is_sent() -> None:
    body = json.dumps(with_items(SMALL.items + 1)).encode()
    for _ in range(3):
        with pytest.raises(TooCostly):
            check_body(body, SMALL)


def test_a_body_within_one_set_of_limits_is_still_measured_against_another() -> None:
    """Bodies found within the limits are remembered with the limits they were checked
    against (fhir/limits.py): a server restarted with lower limits refuses what it took."""
    body = json.dumps(with_items(SMALL.items + 1)).encode()
    check_body(body, Limits())
    check_body(body, Limits())
    with pytest.raises(TooCostly):
        check_body(body, SMALL)
