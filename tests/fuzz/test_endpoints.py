"""Every endpoint that takes a request body is in the generated-input suite: a new one fails
here until it has seeds in tests/fuzz/."""

from __future__ import annotations

from tests.fuzz.conftest import AppFactory

FUZZED = {
    ("POST", "/fhir/Claim/$submit"),  # test_claim.py
    ("POST", "/fhir/Claim/$inquire"),
    ("POST", "/fhir/pas/v2.0.1/Claim/$submit"),
    ("POST", "/fhir/pas/v2.0.1/Claim/$inquire"),
    ("POST", "/fhir/Claim/$check-authorization"),  # test_billing.py
    ("POST", "/fhir/pas/v2.0.1/Claim/$check-authorization"),
    ("POST", "/fhir/$submit-attachment"),  # test_documents.py
    ("POST", "/fhir/CoverageEligibilityRequest/$submit"),
    ("POST", "/fhir/Subscription"),  # test_subscription.py
    ("PUT", "/fhir/Subscription/<sub_id>"),
    ("POST", "/fhir/pas/v2.0.1/Subscription"),
    ("PUT", "/fhir/pas/v2.0.1/Subscription/<sub_id>"),
    ("POST", "/fhir/Subscription/$status"),
    ("POST", "/fhir/pas/v2.0.1/Subscription/$status"),
    ("POST", "/fhir/Subscription/<sub_id>/$status"),
    ("POST", "/fhir/pas/v2.0.1/Subscription/<sub_id>/$status"),
    ("POST", "/admin/review/<key>/decisions"),  # test_admin.py
    ("POST", "/admin/review/<key>/reopen"),
    ("POST", "/admin/review/<key>/extend"),
    ("POST", "/admin/sandbox/scripts"),
    ("POST", "/auth/token"),  # test_token.py
    ("POST", "/console/login"),  # test_console.py
    ("POST", "/console/logout"),
    ("POST", "/console/cases/<auth_id>/items/<int:sequence>/decide"),
    ("POST", "/console/cases/<auth_id>/items/<int:sequence>/reopen"),
    ("POST", "/console/cases/<auth_id>/assign"),
    ("POST", "/console/playground"),
    ("POST", "/console/playground/scripts"),
    ("POST", "/console/playground/scripts/clear"),
}


def test_every_endpoint_that_reads_a_body_is_fuzzed(make_app: AppFactory) -> None:
    app, _ = make_app(sandbox=True)
    with_body = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if method in ("POST", "PUT", "PATCH")
    }
    assert with_body - FUZZED == set(), "give these endpoints seeds in tests/fuzz/"
