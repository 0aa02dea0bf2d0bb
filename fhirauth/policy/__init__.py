"""Payer coverage policies as data: load, compile, evaluate."""

from fhirauth.policy.engine import RuleResult, evaluate_item
from fhirauth.policy.loader import PolicyError, PolicySet, load_policies

__all__ = ["PolicyError", "PolicySet", "RuleResult", "evaluate_item", "load_policies"]
