"""``fhirauth`` command line: every command group, registered on ``main``."""

from __future__ import annotations

import click

from fhirauth.cli import (
    audit,
    claims,
    clients,
    packages,
    policies,
    report,
    review,
    sandbox,
    serve,
    users,
)
from fhirauth.fhir.response_text import describe_response

__all__ = ["describe_response", "main"]


@click.group()
@click.version_option(package_name="fhirauth")
def main() -> None:
    """fhirauth: a payer-side Da Vinci PAS prior-authorization server."""


for _command in (
    serve.serve,
    serve.worker,
    clients.token,
    clients.clients,
    audit.audit_cmd,
    claims.submit,
    claims.validate,
    claims.eligibility,
    claims.explain,
    claims.check,
    packages.packages,
    policies.policy,
    review.trace,
    review.review,
    report.report,
    sandbox.sandbox_group,
    users.users,
):
    main.add_command(_command)
