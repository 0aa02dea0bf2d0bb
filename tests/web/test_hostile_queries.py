"""What a URL carries never breaks a page: a NUL, a lone surrogate or a huge value in any
query parameter or path segment gets a page below 500 (PostgreSQL refuses a NUL in a query)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.web.conftest import Console

HOSTILE = ["%00", "a%00b", "%ED%A0%80", "x" * 5000, "%3Cscript%3E", "-1", "9" * 40]
PAGES = [
    "/console/queue?service={v}",
    "/console/queue?provider={v}",
    "/console/queue?reviewer={v}",
    "/console/queue?expedited={v}",
    "/console/cases/{v}",
    "/console/cases/{v}/documents/1",
    "/console/policies?code={v}",
    "/console/policies?code=70551&system={v}",
    "/console/metrics?year={v}",
    "/console/metrics?policy={v}",
    "/console/metrics?on={v}",
    "/console/metrics.csv?year={v}",
    "/console/pa-list.csv?on={v}",
]


@pytest.mark.parametrize("url", PAGES)
def test_hostile_values_get_a_page_not_a_fault(console: Callable[..., Console], url: str) -> None:
    rita = console()
    for value in HOSTILE:
        answer = rita.get(url.format(v=value))
        assert answer.status_code < 500, (url, value)


def test_the_admin_api_answers_a_key_no_authorization_could_have_with_404(
    client: object,
) -> None:
    for key in ("%00", "a%00b", "x" * 65, "%ED%A0%80"):
        for url in (f"/admin/review/{key}", f"/admin/authorizations/{key}"):
            answer = client.get(url)  # type: ignore[attr-defined]
            assert answer.status_code == 404, (url, answer.status_code)
            assert answer.get_json()["resourceType"] == "OperationOutcome"
