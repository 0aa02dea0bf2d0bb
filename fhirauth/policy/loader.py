"""Policy files → compiled :class:`Policy` objects, indexed by code."""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from marshmallow import ValidationError

from fhirauth.policy.codes import canonical_system
from fhirauth.policy.conditions import Condition, ConditionError, compile_condition
from fhirauth.policy.duration import Duration
from fhirauth.policy.schema import PolicySchema


class NoPolicy(LookupError):
    """No policy decides for this insurer, plan and date: the payer cannot process it."""


class PolicyError(Exception):
    """A policy file that cannot be used; the message names the file, the rule and the field."""


@dataclass(frozen=True)
class Documentation:
    description: str
    code: str | None = None
    questionnaire: str | None = None

    @property
    def key(self) -> str:
        return self.code or str(self.questionnaire)


@dataclass(frozen=True)
class Criteria:
    conditions: tuple[Condition, ...]
    period_days: int | None = None
    reason_code: str | None = None
    reason: str | None = None
    administrative: bool = False


@dataclass(frozen=True)
class Limit:
    quantity: Decimal | None
    days: int | None
    action: str
    reason: str
    reason_code: str | None
    administrative: bool


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    outcome: str
    priority: int
    order: int
    modifiers: frozenset[str] = frozenset()
    places: frozenset[str] = frozenset()
    when: tuple[Condition, ...] = ()
    documentation: tuple[Documentation, ...] = ()
    authorization_url: str | None = None
    approve: Criteria | None = None
    deny: Criteria | None = None
    limit: Limit | None = None
    reason_code: str | None = None
    reason: str | None = None
    valid_for: Duration | None = None
    max_units: Decimal | None = None
    # What it matches, as written: (system, code, range "A-B" or prefix "A*").
    codes: tuple[tuple[str, str], ...] = ()


@dataclass
class _Spans:
    """Same-length code ranges cut into elementary segments at every range end, each segment
    holding the rules that cover it: a lookup is one binary search however many ranges
    overlap (a catch-all range costs nothing extra per lookup)."""

    items: list[tuple[str, str, Rule]] = field(default_factory=list)
    bounds: list[str] = field(default_factory=list)
    segments: list[tuple[Rule, ...]] = field(default_factory=list)

    def freeze(self) -> None:
        # For codes of one length, code > hi exactly when code >= hi + "\x00".
        self.bounds = sorted({p for lo, hi, _ in self.items for p in (lo, hi + "\x00")})
        at = {b: n for n, b in enumerate(self.bounds)}
        cover: list[list[Rule]] = [[] for _ in self.bounds]
        for lo, hi, rule in sorted(self.items, key=lambda s: s[2].order):
            for n in range(at[lo], at[hi + "\x00"]):
                cover[n].append(rule)
        self.segments = [tuple(c) for c in cover]

    def containing(self, code: str) -> list[Rule]:
        n = bisect_right(self.bounds, code) - 1
        return list(self.segments[n]) if n >= 0 else []


def span(code: str) -> tuple[str, str]:
    """'70551-70553' is a range; a code with no hyphen, or with two (an NDC such as
    '0074-4339-02'), is exact."""
    if code.count("-") != 1:
        return code, code
    lo, hi = code.split("-")
    if len(lo) != len(hi) or lo > hi:
        raise ValueError(f"range {code!r} needs two codes of one length, low to high")
    return lo, hi


@dataclass
class CodeIndex:
    """Rules by code: exact codes, ranges ``A-B`` (same length, compared as text) and prefixes
    ``A*``. A lookup costs the same with ten rules or ten thousand."""

    exact: dict[tuple[str, str], list[Rule]] = field(default_factory=lambda: defaultdict(list))
    prefixes: dict[tuple[str, str], list[Rule]] = field(default_factory=lambda: defaultdict(list))
    ranges: dict[tuple[str, int], _Spans] = field(default_factory=lambda: defaultdict(_Spans))
    # The lengths of the prefixes rules name, longest first. A lookup tries only these: trying
    # every prefix of the code made a code of n characters cost n slices of up to n characters,
    # O(n²) (a 1 MB code took minutes).
    prefix_lengths: tuple[int, ...] = ()

    def add(self, system: str, code: str, rule: Rule) -> None:
        if code.endswith("*"):
            self.prefixes[(system, code[:-1])].append(rule)
        else:
            lo, hi = span(code)
            if lo == hi:
                self.exact[(system, code)].append(rule)
            else:
                self.ranges[(system, len(lo))].items.append((lo, hi, rule))

    def freeze(self) -> None:
        for spans in self.ranges.values():
            spans.freeze()
        self.prefix_lengths = tuple(sorted({len(p) for _, p in self.prefixes}, reverse=True))

    def lookup(self, system: str, code: str) -> list[Rule]:
        found = list(self.exact.get((system, code), ()))
        for n in self.prefix_lengths:
            if 0 < n <= len(code):
                found += self.prefixes.get((system, code[:n]), ())
        spans = self.ranges.get((system, len(code)))
        if spans is not None:
            found += spans.containing(code)
        return found


@dataclass
class Policy:
    id: str
    name: str
    default: bool
    insurers: frozenset[tuple[str, str]]
    plans: tuple[tuple[str | None, str], ...]
    effective: tuple[date | None, date | None]
    unlisted: str
    approval_period_days: int
    adverse_decisions: str
    index: CodeIndex
    rules: tuple[Rule, ...]
    source: Path | None = None

    def applies_on(self, on: date) -> bool:
        start, end = self.effective
        return (start is None or start <= on) and (end is None or on <= end)

    def covers_plan(self, coverage: dict[str, Any] | None) -> bool:
        if not self.plans:
            return True
        classes = (coverage or {}).get("class") or []
        for c in classes:
            kinds = {k.get("code") for k in (c.get("type") or {}).get("coding") or []}
            for kind, value in self.plans:
                if c.get("value") == value and (kind is None or kind in kinds):
                    return True
        return False


@dataclass
class PolicySet:
    policies: list[Policy]

    def select(
        self, insurer_identifiers: list[dict[str, Any]], coverage: dict[str, Any] | None, on: date
    ) -> Policy:
        """The policy for this insurer, plan and date; the default policy otherwise."""
        keys = {
            (i.get("system"), i.get("value")) for i in insurer_identifiers if isinstance(i, dict)
        }
        for policy in self.policies:
            if policy.insurers & keys and policy.covers_plan(coverage) and policy.applies_on(on):
                return policy
        for policy in self.policies:
            if policy.default and policy.covers_plan(coverage) and policy.applies_on(on):
                return policy
        raise NoPolicy("no policy applies to this insurer, plan and date of service")


def _conditions(texts: list[str], where: str) -> tuple[Condition, ...]:
    out = []
    for text in texts:
        try:
            out.append(compile_condition(text))
        except ConditionError as exc:
            raise PolicyError(f"{where}: {text!r}: {exc}") from None
    return tuple(out)


def _rule(r: dict[str, Any], order: int, where: str) -> Rule:
    at = f"{where}: rule {r['id']}"
    approve = deny = limit = None
    if r["approve"]:
        a = r["approve"]
        approve = Criteria(_conditions(a["when"], f"{at}: approve.when"), a["period_days"])
    if r["deny"]:
        d = r["deny"]
        deny = Criteria(
            _conditions(d["when"], f"{at}: deny.when"),
            None,
            d["reason_code"],
            d["reason"],
            d["administrative"],
        )
    if r["limit"]:
        lim = r["limit"]
        limit = Limit(
            lim["quantity"],
            lim["days"],
            lim["action"],
            lim["reason"],
            lim["reason_code"],
            lim["administrative"],
        )
    return Rule(
        id=r["id"],
        description=r["description"],
        outcome=r["outcome"],
        priority=r["priority"],
        order=order,
        modifiers=frozenset(r["modifiers"]),
        places=frozenset(r["place_of_service"]),
        when=_conditions(r["when"], f"{at}: when"),
        documentation=tuple(
            Documentation(d["description"], d["code"], d["questionnaire"])
            for d in r["documentation"]
        ),
        authorization_url=r["authorization_url"],
        approve=approve,
        deny=deny,
        limit=limit,
        reason_code=r["reason_code"],
        reason=r["reason"],
        valid_for=r["valid_for"],
        max_units=r["max_units"],
        codes=tuple(
            (canonical_system(m["system"]), code) for m in r["match"] for code in m["codes"]
        ),
    )


def compile_policy(data: Any, source: Path | None = None) -> Policy:
    where = str(source) if source else "<policy>"
    try:
        doc = PolicySchema().load(data)
    except ValidationError as exc:
        raise PolicyError(f"{where}: {_describe(exc.messages, data)}") from None
    ids = [r["id"] for r in doc["rules"]]
    for rule_id in sorted({i for i in ids if ids.count(i) > 1}):
        raise PolicyError(
            f"{where}: rule {rule_id}: id: used by {ids.count(rule_id)} rules; "
            "rule ids name one rule each (traces cite them)"
        )
    index = CodeIndex()
    rules = []
    claims: dict[tuple[str, int], list[tuple[str, Rule]]] = defaultdict(list)
    for order, raw in enumerate(doc["rules"]):
        rule = _rule(raw, order, where)
        rules.append(rule)
        for m in raw["match"]:
            system = canonical_system(m["system"])
            for code in m["codes"]:
                try:
                    index.add(system, code, rule)
                except ValueError as exc:
                    raise PolicyError(f"{where}: rule {rule.id}: match.codes: {exc}") from None
                claims[(system, rule.priority)].append((code, rule))
    for (system, priority), codes in claims.items():
        clash = _overlap(codes)
        if clash:
            a, b, code = clash
            raise PolicyError(
                f"{where}: rule {b.id}: priority: {code!r} ({system}) is also matched by rule "
                f"{a.id} at the same priority {priority}; give one of them a higher priority"
            )
    index.freeze()
    effective = doc["effective"] or {}
    return Policy(
        id=doc["id"],
        name=doc["name"],
        default=doc["default"],
        insurers=frozenset((i["system"], i["value"]) for i in doc["insurers"]),
        plans=tuple((p["type"], p["value"]) for p in doc["plans"]),
        effective=(effective.get("start"), effective.get("end")),
        unlisted=doc["unlisted"],
        approval_period_days=doc["approval_period_days"],
        adverse_decisions=doc["adverse_decisions"],
        index=index,
        rules=tuple(rules),
        source=source,
    )


_LOW, _HIGH = "\x00", "\x7f"


def _overlap(codes: list[tuple[str, Rule]]) -> tuple[Rule, Rule, str] | None:
    """Two different rules claiming one code at one priority, found by a sweep over
    same-length spans (prefixes become spans for every length they reach)."""
    spans: dict[int, list[tuple[str, str, Rule, str]]] = defaultdict(list)
    prefixes: list[tuple[str, Rule]] = []
    lengths: set[int] = set()
    for code, rule in codes:
        if code.endswith("*"):
            prefixes.append((code[:-1], rule))
            continue
        lo, hi = span(code)
        spans[len(lo)].append((lo, hi, rule, code))
        lengths.add(len(lo))
    seen_prefix: dict[str, Rule] = {}
    for p, rule in sorted(prefixes, key=lambda x: len(x[0])):
        for n in range(1, len(p) + 1):
            other = seen_prefix.get(p[:n])
            if other is not None and other is not rule:
                return other, rule, p + "*"
        seen_prefix[p] = rule
        for length in lengths:
            if length >= len(p):
                pad = length - len(p)
                spans[length].append((p + _LOW * pad, p + _HIGH * pad, rule, p + "*"))
    for items in spans.values():
        items.sort(key=lambda s: s[0])
        best: tuple[str, str, Rule, str] | None = None
        for item in items:
            if best is not None and item[0] <= best[1] and item[2] is not best[2]:
                return best[2], item[2], item[3]
            if best is None or item[1] > best[1]:
                best = item
    return None


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
                    raw = raw_rules[i]
                    rule_id = raw.get("id", f"#{i + 1}") if isinstance(raw, dict) else f"#{i + 1}"
                parts.append(f"rule {rule_id}: {_flat(errs)}")
        parts += [f"{k}: {_flat(v)}" for k, v in messages.items() if k != "rules"]
    return "; ".join(parts) or _flat(messages)


def _flat(messages: Any, prefix: str = "") -> str:
    prefix = prefix.replace("_schema.", "")  # marshmallow's name for whole-object errors
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
