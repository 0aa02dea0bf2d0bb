"""fhirauth.config: the limits on one request (FHIRAUTH_MAX_*) come from the environment."""

from __future__ import annotations

import pytest

from fhirauth.config import Settings
from fhirauth.fhir.limits import Limits


def test_unset_limits_keep_their_defaults() -> None:
    assert Settings.from_env({}).limits == Limits()


def test_each_limit_is_read_from_its_variable() -> None:
    env = {
        "FHIRAUTH_MAX_ENTRIES": "300",
        "FHIRAUTH_MAX_ITEMS": "50",
        "FHIRAUTH_MAX_STRING": "65536",
        "FHIRAUTH_MAX_DEPTH": "40",
        "FHIRAUTH_MAX_VALUES": "20000",
    }
    assert Settings.from_env(env).limits == Limits(300, 50, 65536, 40, 20000)


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("FHIRAUTH_MAX_ITEMS", "many", "whole number"),
        ("FHIRAUTH_MAX_ENTRIES", "0", "at least 1"),
        ("FHIRAUTH_MAX_DEPTH", "1000", "between 2 and"),
    ],
)
def test_a_limit_that_cannot_be_used_stops_the_server_naming_its_variable(
    name: str, value: str, says: str
) -> None:
    with pytest.raises(ValueError, match=name) as caught:
        Settings.from_env({name: value})
    assert says in str(caught.value)
