"""What differs between a Subscription made through the PAS 2.2.1 base (``/fhir``) and one
made through the PAS 2.0.1 base (``/fhir/pas/v2.0.1``); REQUIREMENTS.md §3 and Appendix B.

PAS 2.2.1 (spec-62): payload content ``full-resource`` only, filter ``org-identifier=``, the PAS
``profile-subscription``. PAS 2.0.1: payload content ``id-only`` (SHALL) or ``full-resource``
(MAY), filter ``identifier=<requesting provider organization id>``, and no PAS Subscription
profile (the backport's). Every filter spelling is accepted and matched alike on both bases.
"""

from __future__ import annotations

from dataclasses import dataclass

from fhirauth.notifications.topic import BACKPORT, FULL_RESOURCE, ID_ONLY


@dataclass(frozen=True)
class Rules:
    """One PAS version's Subscription rules."""

    version: str
    contents: tuple[str, ...]  # backport-payload-content codes honoured
    content_message: str  # why a payload content is refused
    filter_name: str  # the filter spelling messages suggest
    profile: str  # what meta.profile claims


V221 = Rules(
    version="2.2.1",
    contents=(FULL_RESOURCE,),
    content_message=(
        "PAS notifications carry the full response Bundle: the payload needs exactly "
        "one backport-payload-content extension with the code full-resource"
    ),
    filter_name="org-identifier",
    profile="http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-subscription",
)
V201 = Rules(
    version="2.0.1",
    contents=(ID_ONLY, FULL_RESOURCE),
    content_message=(
        "PAS 2.0.1 notifications are id-only (full-resource is also offered): the payload "
        "needs exactly one backport-payload-content extension with the code id-only or "
        "full-resource"
    ),
    filter_name="identifier",
    profile=BACKPORT + "backport-subscription",
)
RULES = {r.version: r for r in (V221, V201)}


def rules(pas_version: str) -> Rules:
    try:
        return RULES[pas_version]
    except KeyError:
        raise ValueError(f"unknown PAS version {pas_version!r}") from None
