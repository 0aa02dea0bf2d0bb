"""``Subscription.channel.header``: what a subscription may ask to be sent with each
notification, checked when it is written (``operations.subscription``) and again before every
delivery (``notifications.delivery``), since rows stored before these rules were checked by
nothing.

A header is one line ``Name: value``: the name an HTTP token, the value printable Latin-1 (no
control characters, so no CR, LF or NUL that could smuggle in another header or a second
request), at most ``MAX_BYTES`` long, at most ``MAX_COUNT`` per subscription, and none of the
headers the transport owns (``RESERVED``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

MAX_COUNT = 10
MAX_BYTES = 4096
# Headers that say what the body is and how the message is framed and carried: the server's.
RESERVED = frozenset(
    {
        "content-type",
        "content-length",
        "content-encoding",
        "host",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "expect",
    }
)
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Printable Latin-1: space to tilde, and no-break space to ÿ (no C0, DEL or C1 controls).
_VALUE = re.compile(r"[\x20-\x7e\xa0-\xff]*")


@dataclass(frozen=True)
class Problem:
    """Why ``channel.header[index]`` cannot be sent; ``code`` is an OperationOutcome issue
    type. The message never quotes the value (it is often a secret)."""

    index: int
    code: str
    message: str


def problem(line: object) -> tuple[str, str] | None:
    """Why one ``channel.header`` entry cannot be sent, as (issue code, message), or None."""
    if not isinstance(line, str):
        return "invalid", "A channel header is a string 'Name: value'"
    if len(line.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return "too-long", f"A channel header may be at most {MAX_BYTES} bytes long"
    name, sep, value = line.partition(":")
    name = name.strip()
    if not sep or not _TOKEN.fullmatch(name):
        return "invalid", "A channel header is written 'Name: value', the name an HTTP token"
    if not _VALUE.fullmatch(value):
        return (
            "invalid",
            f"The value of the {name} header may hold only printable Latin-1 characters "
            "(no control characters, line breaks or NUL)",
        )
    if name.lower() in RESERVED:
        return "not-supported", f"The {name} header is set by the server, not by the subscription"
    return None


def problems(headers: Sequence[object]) -> list[Problem]:
    """Every reason the ``channel.header`` list cannot be sent as it is."""
    found = [Problem(i, *p) for i, line in enumerate(headers) if (p := problem(line)) is not None]
    if len(headers) > MAX_COUNT:
        found.append(
            Problem(
                MAX_COUNT,
                "too-costly",
                f"At most {MAX_COUNT} channel headers per subscription ({len(headers)} given)",
            )
        )
    return found


def normalized(line: str) -> str:
    """``Name: value`` with the spaces around name and value trimmed."""
    name, _, value = line.partition(":")
    return f"{name.strip()}: {value.strip()}"


def pairs(headers: Sequence[str]) -> list[tuple[str, str]]:
    """Entries that passed ``problems`` as HTTP header (name, value) pairs."""
    out = []
    for line in headers:
        name, _, value = line.partition(":")
        out.append((name.strip(), value.strip()))
    return out
