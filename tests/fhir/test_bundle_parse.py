"""``request_bundle`` then ``parse_bundle`` is ``parse_request``; ``models=False`` only leaves
out the R4 model check."""

from __future__ import annotations

from pathlib import Path

import pytest

from fhirauth.errors import Invalid
from fhirauth.fhir import bundle
from fhirauth.fhir.bundle import parse_bundle, parse_request, request_bundle
from tests.conftest import EXAMPLES

REQUESTS = sorted(
    [
        *EXAMPLES.glob("*.json"),
        *(EXAMPLES / "errors").glob("*.json"),
        *(EXAMPLES / "updates").glob("*.json"),
    ]
)


@pytest.mark.parametrize("path", REQUESTS, ids=lambda p: p.name)
def test_without_the_models_a_valid_request_parses_the_same(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = path.read_bytes()
    full = parse_request(raw)

    def unused(*_: object) -> None:
        raise AssertionError("models=False checks no model")

    monkeypatch.setattr(bundle, "validate_models", unused)
    lean = parse_bundle(request_bundle(raw), models=False)
    assert lean == full


def test_the_models_are_what_models_false_leaves_out() -> None:
    data = request_bundle((EXAMPLES / "mixed-outcomes.json").read_bytes())
    data["entry"][0]["resource"]["item"][0]["sequence"] = "one"
    with pytest.raises(Invalid) as refused:
        parse_bundle(data)
    assert refused.value.issues[0].expression == ("Bundle.entry[0].resource.item[0].sequence",)
    assert parse_bundle(data, models=False).items[0]["sequence"] == "one"


def test_a_parameters_body_is_unwrapped_once() -> None:
    inner = {"resourceType": "Parameters", "parameter": []}
    outer = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": inner}]}
    assert request_bundle(outer) is inner
    with pytest.raises(Invalid) as refused:
        parse_request(outer)
    assert "Expected a Bundle, got 'Parameters'" in str(refused.value)
