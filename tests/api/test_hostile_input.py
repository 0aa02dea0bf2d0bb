"""Hostile input never costs a 5xx, a hang or data: 10,000 generated malformed bundles.

Each is a sample bundle broken in a generated way (keys dropped, values replaced by JSON of
other shapes, entries duplicated or reordered, references scrambled) or raw bytes. Every one must
get a 2xx or a 4xx with one OperationOutcome, and no exception other than our own FhirError may
reach the error handler (it would log "unhandled"): a catch-all turning faults into 400s fails.
"""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import EXAMPLES

SEEDS = [json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("*.json"))]

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(
        [
            "Claim",
            "Bundle",
            "urn:uuid:x",
            "Patient/1",
            "#x",
            "",
            "preauthorization",
            "http://a/b/Claim/1",
            "1.5",
            "2026-13-45",
            "true",
        ]
    ),
)
json_values = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(doc: Any, path: tuple[Any, ...], how: str, value: Any) -> Any:
    if not path:
        return value if how != "keep" else doc
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if how == "drop":
        del parent[last]
    elif how == "duplicate" and isinstance(parent, list):
        parent.append(copy.deepcopy(parent[last]))
    elif how == "wrap":
        parent[last] = [parent[last], value]
    else:
        parent[last] = value
    return doc


@st.composite
def malformed(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 19)) == 0:
        return draw(st.binary(max_size=200))
    doc = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        how = draw(st.sampled_from(["replace", "drop", "duplicate", "wrap"]))
        doc = _mutate(doc, path, how, draw(json_values))
    return json.dumps(doc).encode()


@pytest.mark.filterwarnings("ignore")
def test_ten_thousand_malformed_bundles_get_no_5xx_and_no_unhandled_exception(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    seen = {"n": 0}

    @settings(
        max_examples=10_000,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(body=malformed())
    def check(body: bytes) -> None:
        seen["n"] += 1
        resp = client.post("/fhir/Claim/$submit", data=body, content_type="application/fhir+json")
        assert resp.status_code < 500, body[:300]
        if resp.status_code >= 400:
            outcome = resp.get_json()
            assert outcome["resourceType"] == "OperationOutcome"
            assert outcome["issue"]
        unhandled = [r for r in caplog.records if "unhandled" in r.getMessage()]
        assert not unhandled, unhandled[0].getMessage()

    with caplog.at_level(logging.ERROR, logger="fhirauth.api"):
        check()
    assert seen["n"] >= 10_000
