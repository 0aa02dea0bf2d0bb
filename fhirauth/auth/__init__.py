"""Security: SMART Backend Services, scopes, clients, rate limits and the audit trail.

- ``routes.ROUTE_SCOPES``: the one route-to-scope table; ``scopes``: v1/v2 scope matching.
- ``assertion`` and ``grant``: the token endpoint's checks; ``jwks`` and ``fetch``: clients'
  ``jwks_uri`` documents, fetched within a byte cap and one deadline, one fetch per URL at a
  time, failures remembered; ``tokens``: our access tokens and
  ``principal_for(client_id, organizations, senders)``, the Principal operations receive.
- ``clients``: the registry; ``demo``: the demo client of ``fhirauth serve --demo``.
- ``ratelimit``: per-client fixed windows in the database; ``audit``: one row per request,
  rendered as FHIR AuditEvents.

HTTP lives in ``fhirauth.api.auth`` (discovery, ``POST /auth/token``, the ``before_request``
and ``after_request`` hooks, ``current_principal()``) and ``fhirauth.api.audit``.
"""
