"""Payer coverage policies as data: load, compile, evaluate."""

from fhirauth.policy.context import ItemContext, claim_contexts, is_expedited
from fhirauth.policy.engine import RuleResult, evaluate_item
from fhirauth.policy.loader import Documentation, Policy, PolicyError, PolicySet, load_policies

__all__ = [
    "Documentation",
    "ItemContext",
    "Policy",
    "PolicyError",
    "PolicySet",
    "RuleResult",
    "claim_contexts",
    "evaluate_item",
    "is_expedited",
    "load_policies",
]
