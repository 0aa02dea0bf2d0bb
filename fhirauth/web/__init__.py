"""The payer console at ``/console``: server-rendered pages for reviewers and administrators.

Importing the page modules registers their routes on ``bp``.
"""

from fhirauth.web import case, dashboard, login, metrics, playground, policies, queue, staff
from fhirauth.web.blueprint import bp

__all__ = [
    "bp",
    "case",
    "dashboard",
    "login",
    "metrics",
    "playground",
    "policies",
    "queue",
    "staff",
]
