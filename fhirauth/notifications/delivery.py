"""Rest-hook delivery: one POST of one notification, with timeouts and no redirects."""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

import requests

from fhirauth.notifications import headers as channel_headers
from fhirauth.notifications.settings import NotificationSettings
from fhirauth.outbound import GuardedSession

# Read at most this much of an endpoint's answer: we only need its status.
_MAX_ANSWER = 64 * 1024


def _user_agent() -> str:
    try:
        return f"fhirauth/{version('fhirauth')}"
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "fhirauth"


USER_AGENT = _user_agent()


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int | None = None
    error: str | None = None


def new_http(settings: NotificationSettings | None = None) -> requests.Session:
    """A session that follows no redirects and connects to no private, link-local or (unless
    allowed) loopback address, checked on the address actually dialled (fhirauth.outbound)."""
    s = settings or NotificationSettings()
    return GuardedSession(allow_loopback=s.allow_loopback, allow_http=s.allow_http)


def post(
    http: requests.Session,
    endpoint: str,
    body: bytes,
    content_type: str,
    headers: tuple[str, ...] | list[str],
    settings: NotificationSettings,
) -> Outcome:
    """POST ``body`` to ``endpoint``: Content-Type is ``channel.payload`` and every
    ``channel.header`` is sent. Any 2xx is success; anything else, redirects included, fails,
    and so do headers that break the rules (stored before they were checked): nothing is sent.
    """
    bad = channel_headers.problems(headers)
    if bad:
        return Outcome(
            False,
            None,
            f"channel.header[{bad[0].index}] cannot be sent: {bad[0].message}; "
            "update the subscription to correct it",
        )
    sent = {"Content-Type": content_type, "User-Agent": USER_AGENT}
    for name, value in channel_headers.pairs(headers):
        sent[name] = value
    deadline = time.monotonic() + settings.connect_timeout + settings.read_timeout
    try:
        with http.post(
            endpoint,
            data=body,
            headers=sent,
            timeout=(settings.connect_timeout, settings.read_timeout),
            allow_redirects=False,
            stream=True,
        ) as answer:
            read = 0
            for chunk in answer.iter_content(8192):
                read += len(chunk)
                if read >= _MAX_ANSWER or time.monotonic() > deadline:
                    break
            if 200 <= answer.status_code < 300:
                return Outcome(True, answer.status_code)
            return Outcome(
                False, answer.status_code, f"endpoint answered HTTP {answer.status_code}"
            )
    except requests.RequestException as exc:
        # The class says what happened (timeout, refused, TLS); the text names only the endpoint.
        return Outcome(False, None, f"{type(exc).__name__}: {str(exc)[:300]}")
