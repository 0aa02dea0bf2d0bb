"""Who is calling: every operation receives one, and every submission records it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    id: str
    organizations: tuple[str, ...] = ()
    anonymous: bool = False
    senders: tuple[str, ...] = ()  # X12 interchange sender ids (ISA06) registered to it


ANONYMOUS = Principal("anonymous", anonymous=True)
