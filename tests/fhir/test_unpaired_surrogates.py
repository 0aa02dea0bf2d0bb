"""``strict_json.unpaired_surrogate``: where JSON text holds what no UTF-8 text can."""

from __future__ import annotations

from fhirauth.fhir.strict_json import load_json, unpaired_surrogate


def test_the_first_string_with_an_unpaired_surrogate_is_found_by_its_path() -> None:
    data = load_json(b'{"a": [{"b": "ok"}, {"c": "x\\ud800"}], "d": "\\udfff"}')
    assert unpaired_surrogate(data, "Bundle") == "Bundle.a[1].c"


def test_a_key_with_one_is_reported_at_its_object() -> None:
    assert unpaired_surrogate(load_json(b'{"a": {"\\ud800": 1}}'), "Bundle") == "Bundle.a"


def test_paired_surrogates_and_plain_text_are_fine() -> None:
    data = load_json(b'{"a": ["\\ud83d\\ude00", "\xc3\xa9", 1, null, true]}')
    assert unpaired_surrogate(data, "Bundle") is None
