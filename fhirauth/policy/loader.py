"""Policy files → compiled :class:`Policy` objects, indexed by code."""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from marshmallow import ValidationError

from fhirauth.policy.codes import canonical_system
from fhirauth.policy.schema import PolicySchema


class PolicyError(Exception):
    """A policy file that cannot be used; the message names the file, the rule and the field."""


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    outcome: str
    priority: int
    period_days: int | None
    reason_code: str | None
    reason: str | None
    order: int


@dataclass
class CodeIndex:
    """Rules by code: exact codes, ranges ``A-B`` (same length, compared as text) and prefixes."""

    exact: dict[tuple[str, str], list[Rule]] = field(default_factory=lambda: defaultdict(list))
    prefixes: dict[tuple[str, str], list[Rule]] = field(default_factory=lambda: defaultdict(list))
    ranges: dict[tuple[str, int], list[tuple[str, str, Rule]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def add(self, system: str, code: str, rule: Rule) -> None:
        if code.endswith("*"):
            self.prefixes[(system, code[:-1])].append(rule)
        elif "-" in code:
            lo, hi = code.split("-", 1)
            if len(lo) != len(hi) or lo > hi:
                raise ValueError(f"range {code!r} needs two codes of one length, low to high")
            self.ranges[(system, len(lo))].append((lo, hi, rule))
        else:
            self.exact[(system, code)].append(rule)

    def freeze(self) -> None:
        for spans in self.ranges.values():
            spans.sort(key=lambda s: s[0])

    def lookup(self, system: str, code: str) -> list[Rule]:
        found = list(self.exact.get((system, code), ()))
        for n in range(len(code), 0, -1):
            found += self.prefixes.get((system, code[:n]), ())
        spans = self.ranges.get((system, len(code)), ())
        if spans:
            for _lo, hi, rule in spans[: bisect_right(spans, code, key=lambda s: s[0])]:
                if code <= hi:
                    found.append(rule)
        return found


@dataclass
class Policy:
    id: str
    name: str
    default: bool
    insurers: frozenset[tuple[str, str]]
    unlisted: str
    approval_period_days: int
    index: CodeIndex
    source: Path | None = None


@dataclass
class PolicySet:
    policies: list[Policy]

    def for_insurer(self, identifiers: list[dict[str, Any]]) -> Policy:
        keys = {(i.get("system"), i.get("value")) for i in identifiers if isinstance(i, dict)}
        for policy in self.policies:
            if policy.insurers & keys:
                return policy
        for policy in self.policies:
            if policy.default:
                return policy
        raise LookupError("no policy names this insurer and none is the default")


def compile_policy(data: Any, source: Path | None = None) -> Policy:
    where = str(source) if source else "<policy>"
    try:
        doc = PolicySchema().load(data if isinstance(data, dict) else {})
    except ValidationError as exc:
        raise PolicyError(f"{where}: {_describe(exc.messages, data)}") from None
    index = CodeIndex()
    ids = [r["id"] for r in doc["rules"]]
    for rule_id in sorted({i for i in ids if ids.count(i) > 1}):
        raise PolicyError(
            f"{where}: rule {rule_id}: id: used by {ids.count(rule_id)} rules; "
            "rule ids name one rule each (traces cite them)"
        )
    for order, r in enumerate(doc["rules"]):
        rule = Rule(
            r["id"],
            r["description"],
            r["outcome"],
            r["priority"],
            r["period_days"],
            r["reason_code"],
            r["reason"],
            order,
        )
        for m in r["match"]:
            for code in m["codes"]:
                try:
                    index.add(canonical_system(m["system"]), code, rule)
                except ValueError as exc:
                    raise PolicyError(f"{where}: rule {rule.id}: match.codes: {exc}") from None
    index.freeze()
    return Policy(
        id=doc["id"],
        name=doc["name"],
        default=doc["default"],
        insurers=frozenset((i["system"], i["value"]) for i in doc["insurers"]),
        unlisted=doc["unlisted"],
        approval_period_days=doc["approval_period_days"],
        index=index,
        source=source,
    )


def _describe(messages: Any, data: Any) -> str:
    """Flatten marshmallow's nested messages into 'rule <id>: field: message'."""
    parts = []
    if isinstance(messages, dict):
        rules = messages.get("rules")
        if isinstance(rules, dict):
            raw_rules = data.get("rules") if isinstance(data, dict) else None
            for i, errs in rules.items():
                rule_id = i
                if isinstance(raw_rules, list) and isinstance(i, int) and i < len(raw_rules):
                    rule_id = (raw_rules[i] or {}).get("id", f"#{i + 1}")
                parts.append(f"rule {rule_id}: {_flat(errs)}")
        parts += [f"{k}: {_flat(v)}" for k, v in messages.items() if k != "rules"]
    return "; ".join(parts) or _flat(messages)


def _flat(messages: Any, prefix: str = "") -> str:
    if isinstance(messages, dict):
        return "; ".join(
            _flat(v, f"{prefix}{k}." if not isinstance(k, int) else prefix)
            for k, v in messages.items()
        )
    if isinstance(messages, list):
        return "; ".join(f"{prefix.rstrip('.')}: {m}" if prefix else str(m) for m in messages)
    return f"{prefix.rstrip('.')}: {messages}" if prefix else str(messages)


def load_policies(dirs: list[Path]) -> PolicySet:
    policies = []
    for folder in dirs:
        if not folder.is_dir():
            raise PolicyError(f"{folder}: not a folder of policy files")
        for path in sorted(folder.glob("*.y*ml")):
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except yaml.YAMLError as exc:
                raise PolicyError(f"{path}: not valid YAML: {exc}") from None
            policies.append(compile_policy(data, path))
    if not policies:
        raise PolicyError(f"no policy files (*.yaml) in {', '.join(map(str, dirs))}")
    defaults = [f"{p.source} ({p.id})" for p in policies if p.default]
    if len(defaults) > 1:
        raise PolicyError(
            f"only one policy may be the default; these all are: {', '.join(defaults)}"
        )
    return PolicySet(policies)
