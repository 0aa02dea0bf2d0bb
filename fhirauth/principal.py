"""Who is calling: every operation receives one, and every submission records it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    id: str
    organizations: tuple[str, ...] = ()
    anonymous: bool = False


ANONYMOUS = Principal("anonymous", anonymous=True)
