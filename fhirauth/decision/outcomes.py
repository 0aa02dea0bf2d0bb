"""What the CMS-0057-F metrics count, read off review actions (README "CMS-0057-F metrics"):
a request's determination, and an appeal's outcome.

A request's **determination** is what its review decided, over the items that needed a
decision (A1, A2, A3, A6; items answered NA need none, and items the provider withdrew, C,
are left out): ``approved`` when every one was certified in full (A1), ``denied`` when none
was certified (A3), else ``partial`` (a partial certification A2, a modification A6, or some
items approved and others denied). A request whose items needed no authorization at all is
``not-required``; one whose every item was withdrawn has none.

An **appeal** asks again for denied (A3) items. Each is ``overturned`` when it is now
certified in full (A1), ``partially-overturned`` when certified in part (A2, A6),
``upheld`` when still denied, ``withdrawn`` when the provider cancelled it during the appeal.
The appeal's outcome: ``overturned`` or ``upheld`` when every item that was not withdrawn
was, ``withdrawn`` when all were, else ``partially-overturned``.
"""

from __future__ import annotations

from collections.abc import Iterable

APPROVED = "approved"
PARTIAL = "partial"
DENIED = "denied"
NOT_REQUIRED = "not-required"
DETERMINATIONS = (APPROVED, PARTIAL, DENIED, NOT_REQUIRED)

OVERTURNED = "overturned"
PARTLY_OVERTURNED = "partially-overturned"
UPHELD = "upheld"
WITHDRAWN = "withdrawn"
APPEAL_OUTCOMES = (OVERTURNED, PARTLY_OVERTURNED, UPHELD, WITHDRAWN)

# The review actions that decide an item that needs authorization.
DECIDING = frozenset({"A1", "A2", "A3", "A6"})
# X12 1322 certificationType: 1 appeal (immediate), 2 appeal (standard).
APPEAL_TYPES = frozenset({"1", "2"})


def determination(actions: Iterable[str]) -> str | None:
    """The determination of a request whose items stand at ``actions`` (none pended)."""
    live = [a for a in actions if a != "C"]
    if not live:
        return None
    decided = [a for a in live if a in DECIDING]
    if not decided:
        return NOT_REQUIRED
    if all(a == "A1" for a in decided):
        return APPROVED
    if all(a == "A3" for a in decided):
        return DENIED
    return PARTIAL


def item_outcome(action: str) -> str | None:
    """What became of a denied item under appeal, now answered ``action``; None while it is
    still pended (A4)."""
    if action == "A4":
        return None
    if action == "C":
        return WITHDRAWN
    if action in ("A1", "NA"):
        return OVERTURNED
    if action in ("A2", "A6"):
        return PARTLY_OVERTURNED
    return UPHELD


def appeal_outcome(items: Iterable[str]) -> str:
    """The outcome of an appeal whose items came out as ``items`` (none undecided)."""
    live = [o for o in items if o != WITHDRAWN]
    if not live:
        return WITHDRAWN
    if all(o == OVERTURNED for o in live):
        return OVERTURNED
    if all(o == UPHELD for o in live):
        return UPHELD
    return PARTLY_OVERTURNED
