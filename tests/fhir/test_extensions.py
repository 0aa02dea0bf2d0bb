"""fhirauth.fhir.extensions: reading PAS extensions and codings from JSON as sent."""

from __future__ import annotations

from fhirauth.fhir.extensions import PAS, codings, extension_value


def test_the_first_pas_extension_of_that_name_gives_its_value() -> None:
    node = {
        "extension": [
            {"url": "http://example.org/other", "valueString": "no"},
            {"url": PAS + "extension-authorizationNumber", "valueString": "PA-1"},
            {"url": PAS + "extension-authorizationNumber", "valueString": "PA-2"},
        ]
    }
    assert extension_value(node, "extension-authorizationNumber", "valueString") == "PA-1"
    assert extension_value(node, "extension-authorizationNumber", "valueCode") is None


def test_no_or_misshapen_extensions_give_none() -> None:
    assert extension_value({}, "extension-infoChanged", "valueCode") is None
    assert extension_value({"extension": ["x", None]}, "extension-infoChanged", "valueCode") is None


def test_codings_of_anything_but_a_codeable_concept_are_none() -> None:
    assert codings({"coding": [{"code": "1"}, "x"]}) == [{"code": "1"}]
    assert codings([{"coding": []}]) == [] and codings(None) == []
