"""Remembering what was checked: digests of inputs that passed a check, most recent last.

Senders repeat themselves. An EHR polls ``$inquire`` with the same bytes until a pended
request is decided, retries a ``$submit`` it got no answer to, and sends the same Patient,
Coverage and Organization with request after request. Each check remembered here is a pure
function of its input, so a digest seen to pass needs no second look; only passes are kept,
so no refusal is ever replayed."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict


def digest(*parts: bytes) -> bytes:
    """A 128-bit digest of ``parts``, kept apart by a separator."""
    return hashlib.blake2b(b"\0".join(parts), digest_size=16).digest()


class RecentDigests:
    """The last ``size`` digests added, safe across a worker's threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, key: bytes) -> bool:
        with self._lock:
            if key in self._seen:
                self._seen.move_to_end(key)
                return True
            return False

    def add(self, key: bytes) -> None:
        with self._lock:
            self._seen[key] = None
            if len(self._seen) > self.size:
                self._seen.popitem(last=False)
