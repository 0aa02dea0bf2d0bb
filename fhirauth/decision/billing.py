"""A billed service line against what was authorized: which authorization it falls under, and
every way it does not fit (``Claim/$check-authorization``).

Which authorization a line is checked against: the authorized items of the member's
authorizations (those the caller may see), narrowed to the numbers the claim names
(``Claim.insurance.preAuthRef``, or ``extension-authorizationNumber`` on the line) when it
names any. Among those whose code fits the line's (the same code, or a code inside an
authorized range ``productOrService`` to ``productOrServiceCodeEnd``), the one with the fewest
mismatches, the most recent first on a tie. A line whose code no item fits is
``code-differs`` when it names an authorization for another service, or when an item
certified under the same policy rule covers its date (90834 billed on a 90837
authorization); else ``no-authorization`` when the policy requires authorization for it, and
fine (no number) when none is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from fhirauth.decision.decide import CERTIFIED
from fhirauth.decision.lifecycle import CANCELLED, EXPIRED, remaining
from fhirauth.fhir.billing import BilledLine

# Our mismatch codes (system MISMATCH_SYSTEM): one kind of misfit each.
NO_AUTHORIZATION = "no-authorization"
CODE_DIFFERS = "code-differs"
UNITS_EXCEEDED = "units-exceeded"
DATE_OUTSIDE_PERIOD = "date-outside-period"
PROVIDER_DIFFERS = "provider-differs"
PLACE_DIFFERS = "place-differs"
AUTHORIZATION_CANCELLED = "authorization-cancelled"
AUTHORIZATION_EXPIRED = "authorization-expired"
AUTHORIZATION_DENIED = "authorization-denied"
MISMATCHES = {
    NO_AUTHORIZATION: "No authorization where the policy requires one",
    CODE_DIFFERS: "Code or modifier differs from what was authorized",
    UNITS_EXCEEDED: "More units than remain on the authorization",
    DATE_OUTSIDE_PERIOD: "Service date outside the certified period",
    PROVIDER_DIFFERS: "Rendering provider differs from the authorized one",
    PLACE_DIFFERS: "Place of service differs from the authorized one",
    AUTHORIZATION_CANCELLED: "The authorization was cancelled",
    AUTHORIZATION_EXPIRED: "The authorization expired before the service date",
    AUTHORIZATION_DENIED: "The service was denied",
}


@dataclass(frozen=True)
class Authorized:
    """One item of a stored authorization, as a billed line is checked against it."""

    authorization_id: str
    pre_auth_ref: str
    sequence: int
    number: str | None
    action: str
    status: str | None  # lifecycle status as of today (decision/lifecycle.py)
    system: str | None
    code: str | None
    code_end: str | None
    modifiers: frozenset[str]
    period: tuple[date, date] | None
    authorized: Decimal | None
    used: Decimal
    places: frozenset[str]
    providers: frozenset[str]
    order: int  # higher is more recent
    rule_id: str | None = None

    @property
    def name(self) -> str:
        return self.number or self.pre_auth_ref

    @property
    def service(self) -> str:
        return f"{self.code}-{self.code_end}" if self.code_end else str(self.code)


@dataclass(frozen=True)
class Policy:
    """What the payer's policy says of a billed line: does it need authorization, and which
    rule decides it."""

    required: bool
    rule_id: str | None = None


@dataclass(frozen=True)
class Mismatch:
    code: str
    text: str


@dataclass(frozen=True)
class LineCheck:
    sequence: int
    match: Authorized | None
    mismatches: tuple[Mismatch, ...]

    @property
    def number(self) -> str | None:
        if self.match is None or self.match.action not in CERTIFIED | {"C"}:
            return None
        return self.match.number


def _fits(line: BilledLine, item: Authorized) -> bool:
    for system, code in line.codes:
        if system != item.system or item.code is None:
            continue
        if code == item.code:
            return True
        end = item.code_end
        if end and len(end) == len(item.code) == len(code) and item.code <= code <= end:
            return True
    return False


def _billed(line: BilledLine) -> str:
    codes = ", ".join(c for _, c in line.codes) or "no code"
    if line.modifiers:
        codes += f" with modifier {', '.join(sorted(line.modifiers))}"
    return codes


def _units(value: Decimal) -> str:
    return f"{value.normalize():f}"


def misfits(
    line: BilledLine, item: Authorized, today: date, pending: Decimal = Decimal(0)
) -> list[Mismatch]:
    """Every way ``line`` does not fit ``item`` (whose code fits it); ``pending`` units of the
    item are already taken by earlier lines of the same claim."""
    name = item.name
    if item.action == "A3":
        return [Mismatch(AUTHORIZATION_DENIED, f"{_billed(line)} was denied under {name}.")]
    if item.action == "C" or item.status == CANCELLED:
        return [
            Mismatch(
                AUTHORIZATION_CANCELLED,
                f"Authorization {name} was cancelled; nothing can be billed under it.",
            )
        ]
    if item.action not in CERTIFIED:
        state = "is pended, not decided yet" if item.action == "A4" else "certifies nothing"
        return [Mismatch(NO_AUTHORIZATION, f"The request for {_billed(line)} ({name}) {state}.")]
    out = []
    if item.modifiers and line.modifiers != item.modifiers:
        out.append(
            Mismatch(
                CODE_DIFFERS,
                f"Billed {_billed(line)}; {name} authorizes {item.code} with modifier "
                f"{', '.join(sorted(item.modifiers))}.",
            )
        )
    if line.dates and item.period:
        (first, last), (start, end) = line.dates, item.period
        if last > end and (item.status == EXPIRED or end < today):
            out.append(
                Mismatch(
                    AUTHORIZATION_EXPIRED,
                    f"Authorization {name} expired on {end}; the service on {last} is after it.",
                )
            )
        elif first < start or last > end:
            served = str(first) if first == last else f"{first} to {last}"
            out.append(
                Mismatch(
                    DATE_OUTSIDE_PERIOD,
                    f"The service on {served} is outside {name}'s certified period "
                    f"{start} to {end}.",
                )
            )
    left = remaining(item.authorized, item.used + pending)
    if left is not None and line.quantity > left:
        out.append(
            Mismatch(
                UNITS_EXCEEDED,
                f"Billed {_units(line.quantity)} units; {_units(left)} of the "
                f"{_units(item.authorized or Decimal(0))} authorized under {name} remain.",
            )
        )
    if item.providers and line.providers and not item.providers & line.providers:
        out.append(
            Mismatch(
                PROVIDER_DIFFERS,
                f"Rendered by NPI {', '.join(sorted(line.providers))}; {name} authorizes "
                f"NPI {', '.join(sorted(item.providers))}.",
            )
        )
    if item.places and line.places and not item.places & line.places:
        out.append(
            Mismatch(
                PLACE_DIFFERS,
                f"Place of service {', '.join(sorted(line.places))}; {name} authorizes "
                f"place of service {', '.join(sorted(item.places))}.",
            )
        )
    return out


def _code_differs(line: BilledLine, item: Authorized) -> LineCheck:
    return LineCheck(
        line.sequence,
        item,
        (
            Mismatch(
                CODE_DIFFERS,
                f"Billed {_billed(line)}; authorization {item.name} is for {item.service}.",
            ),
        ),
    )


def _covers(item: Authorized, line: BilledLine) -> bool:
    if item.period is None or line.dates is None:
        return False
    return item.period[0] <= line.dates[0] and line.dates[1] <= item.period[1]


def check_line(
    line: BilledLine,
    candidates: list[Authorized],
    policy: Policy,
    today: date,
    taken: dict[tuple[str, int], Decimal] | None = None,
) -> LineCheck:
    """Which of ``candidates`` (the member's authorized items) ``line`` falls under, and how it
    does not fit. ``taken``: units earlier lines of the same claim took, by item."""
    taken = taken if taken is not None else {}
    pool = candidates
    if line.numbers:
        pool = [c for c in candidates if {c.number, c.pre_auth_ref} & line.numbers]
        if not pool:
            named = ", ".join(sorted(line.numbers))
            text = f"No authorization {named} is on file for this member."
            return LineCheck(line.sequence, None, (Mismatch(NO_AUTHORIZATION, text),))
    fitting = [c for c in pool if _fits(line, c)]
    if not fitting:
        if line.numbers:
            return _code_differs(line, max(pool, key=lambda c: c.order))
        if not policy.required:
            return LineCheck(line.sequence, None, ())
        kin = [
            c
            for c in pool
            if c.action in CERTIFIED and policy.rule_id and c.rule_id == policy.rule_id
        ]
        kin = [c for c in kin if _covers(c, line)]
        if kin:
            return _code_differs(line, max(kin, key=lambda c: c.order))
        text = f"{_billed(line)} needs prior authorization, and none is on file for this member."
        return LineCheck(line.sequence, None, (Mismatch(NO_AUTHORIZATION, text),))
    scored = [
        (c, misfits(line, c, today, taken.get((c.authorization_id, c.sequence), Decimal(0))))
        for c in fitting
    ]
    best, found = min(scored, key=lambda s: (len(s[1]), -s[0].order))
    if best.action == "NA":
        return LineCheck(line.sequence, None, ())
    return LineCheck(line.sequence, best, tuple(found))


def check_lines(
    lines: tuple[BilledLine, ...],
    candidates: list[Authorized],
    policies: dict[int, Policy],
    today: date,
) -> list[LineCheck]:
    """Every line of one claim, in order; a line that fits takes its units from its item
    before the next line is checked."""
    taken: dict[tuple[str, int], Decimal] = {}
    out = []
    for line in lines:
        policy = policies.get(line.sequence, Policy(True))
        result = check_line(line, candidates, policy, today, taken)
        if result.match is not None and not result.mismatches:
            key = (result.match.authorization_id, result.match.sequence)
            taken[key] = taken.get(key, Decimal(0)) + line.quantity
        out.append(result)
    return out
