"""fhirauth.fhir.extensions: reading PAS extensions and codings from JSON as sent."""

from __future__ import annotations

from fhirauth.fhir.extensions import (
    PAS,
    TRANSMISSION_IDENTIFIERS,
    codings,
    extension_value,
    extensions,
    interchange_sender_ids,
)


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
    assert codings({"coding": 5}) == [] and codings({"coding": {"code": "1"}}) == []


def test_extensions_of_a_url_skip_what_is_not_an_extension() -> None:
    wanted = {"url": "http://example.org/a", "valueString": "1"}
    node = {"extension": ["x", None, wanted, {"url": "http://example.org/b"}]}
    assert extensions(node, "http://example.org/a") == [wanted]
    assert extensions({"extension": {"url": "x"}}, "x") == [] and extensions("x", "x") == []
    flagged = {"modifierExtension": [wanted]}
    assert extensions(flagged, "http://example.org/a", "modifierExtension") == [wanted]


def test_interchange_sender_ids_are_trimmed_and_kept_once_in_order() -> None:
    def sender(*values: object) -> dict[str, object]:
        subs = [{"url": "interchangeSenderID", "valueString": v} for v in values]
        return {"url": TRANSMISSION_IDENTIFIERS, "extension": [*subs, {"url": "other"}]}

    node = {"extension": [sender(" B2 ", "A1"), sender("B2", "", 7)]}
    assert interchange_sender_ids(node) == ["B2", "A1"]
    assert interchange_sender_ids({}) == []
