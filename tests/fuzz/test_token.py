"""Generated inputs for the token endpoint (``POST /auth/token``, SMART Backend Services): the
form broken field by field, the client assertion's claims and header broken at every path and
signed with the client's real key (so the breakage reaches the checks behind the signature),
whole bodies of the wrong kind, and random combinations. Every answer is below 500, and every
400 is an RFC 6749 error object."""

from __future__ import annotations

import base64
import json
import urllib.parse
import uuid
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhirauth.auth import clients
from fhirauth.auth.assertion import ASSERTION_TYPE
from fhirauth.auth.keys import public_jwk
from tests.auth.helpers import ALL_SCOPES, ORG, TOKEN_URL
from tests.conftest import NOW
from tests.fuzz.conftest import AppFactory, Probe
from tests.fuzz.mutations import mutated, sweep

FORM_TYPE = "application/x-www-form-urlencoded"
JTI = "jti-to-be-replaced"
KEY = rsa.generate_private_key(65537, 2048)
KID = str(public_jwk(KEY)["kid"])
HEADER = {"alg": "RS384", "typ": "JWT", "kid": KID}
ODD_VALUES = {
    "empty": "",
    "huge": "x" * 100_000,
    "unicode": "\u00e9\u4e2d\U0001f600",
    "nul": "a\x00b",
    "spaces": "   ",
}


@pytest.fixture(scope="module")
def client_id(make_app: AppFactory, probe_for: Any) -> tuple[Probe, str]:
    app, services = make_app(auth_mode="required")
    new = clients.NewClient("fuzz client", (ORG,), ALL_SCOPES, jwks={"keys": [public_jwk(KEY)]})
    with services.sessions.begin() as session:
        registered = clients.add(session, new, NOW).id
    return probe_for(app), registered


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def signed(header: bytes, payload: bytes) -> str:
    """A JWS over exactly these header and payload texts, RS384 with the client's key."""
    signing_input = _b64(header) + b"." + _b64(payload)
    signature = KEY.sign(signing_input, padding.PKCS1v15(), hashes.SHA384())
    return (signing_input + b"." + _b64(signature)).decode()


def claims(client: str) -> dict[str, Any]:
    return {
        "iss": client,
        "sub": client,
        "aud": TOKEN_URL,
        "exp": int((NOW + timedelta(minutes=4)).timestamp()),
        "iat": int(NOW.timestamp()),
        "jti": JTI,
    }


def fresh(payload: bytes) -> bytes:
    """Each assertion its own jti, or all but the first would be refused as replays."""
    return payload.replace(JTI.encode(), uuid.uuid4().hex.encode())


def good_assertion(client: str) -> str:
    return signed(json.dumps(HEADER).encode(), fresh(json.dumps(claims(client)).encode()))


def form(client: str, **changes: Any) -> list[tuple[str, str]]:
    fields = {
        "grant_type": "client_credentials",
        "scope": " ".join(ALL_SCOPES),
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": good_assertion(client),
        "client_id": client,
        **changes,
    }
    return [(k, v) for k, v in fields.items() if v is not None]


def post(probe: Probe, pairs: list[tuple[str, str]] | bytes, label: str, **kw: Any) -> Any:
    body = pairs if isinstance(pairs, bytes) else urllib.parse.urlencode(pairs).encode()
    kw.setdefault("content_type", FORM_TYPE)
    return probe.send("POST", "/auth/token", body, label=label, errors="oauth", **kw)


def test_a_good_request_gets_a_token(client_id: tuple[Probe, str]) -> None:
    probe, client = client_id
    assert post(probe, form(client), "good").status_code == 200


def test_every_claim_every_variant_signed(client_id: tuple[Probe, str]) -> None:
    probe, client = client_id
    start = probe.sent
    for case in sweep([claims(client)], every_variant=True):
        assertion = signed(json.dumps(HEADER).encode(), fresh(case.body))
        post(probe, form(client, client_assertion=assertion), case.label)
    for case in sweep([HEADER], every_variant=True):
        assertion = signed(case.body, fresh(json.dumps(claims(client)).encode()))
        post(probe, form(client, client_assertion=assertion), f"header {case.label}")
    probe.check(at_least=start + 100)


def test_every_form_field_every_variant(client_id: tuple[Probe, str]) -> None:
    probe, client = client_id
    start = probe.sent
    for name, _ in form(client):
        post(probe, form(client, **{name: None}), f"{name} dropped")
        pairs = form(client)
        post(probe, pairs + [p for p in pairs if p[0] == name], f"{name} twice")
        for label, value in ODD_VALUES.items():
            post(probe, form(client, **{name: value}), f"{name} {label}")
        raw = urllib.parse.urlencode(form(client, **{name: "VALUE"})).encode()
        post(probe, raw.replace(b"VALUE", b"%FF%FE%C3"), f"{name} not UTF-8")
    for assertion in ("a.b", "a.b.c.d", "..", "%%%.%%%.%%%", "eyJhbGciOiJub25lIn0.e30."):
        post(probe, form(client, client_assertion=assertion), f"assertion {assertion}")
    probe.check(at_least=start + 40)


@pytest.mark.parametrize(
    ("label", "body", "content_type"),
    [
        ("json", json.dumps({"grant_type": "client_credentials"}).encode(), "application/json"),
        ("empty", b"", FORM_TYPE),
        ("text", b"grant_type=client_credentials", "text/plain"),
        ("latin-1", b"grant_type=client_credentials&scope=\xe9", f"{FORM_TYPE}; charset=latin-1"),
        ("many fields", b"&".join(b"f%d=v" % i for i in range(20_000)), FORM_TYPE),
        ("multipart", b"--x\r\n\r\n--x--\r\n", "multipart/form-data; boundary=x"),
        ("no boundary", b"--x\r\n\r\n--x--\r\n", "multipart/form-data"),
    ],
)
def test_bodies_of_the_wrong_kind(
    client_id: tuple[Probe, str], label: str, body: bytes, content_type: str
) -> None:
    probe, _ = client_id
    post(probe, body, label, content_type=content_type)
    probe.check(at_least=1)


def test_random_combinations(client_id: tuple[Probe, str]) -> None:
    probe, client = client_id
    names = st.sampled_from([n for n, _ in form(client)] + ["audience", ""])

    @settings(
        max_examples=150,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        payload=mutated([claims(client)]),
        header=mutated([HEADER]),
        extra=st.lists(st.tuples(names, st.text(max_size=30)), max_size=3),
        drop=st.sets(names, max_size=2),
    )
    def run(payload: bytes, header: bytes, extra: list[tuple[str, str]], drop: set[str]) -> None:
        pairs = form(client, client_assertion=signed(header, fresh(payload)))
        pairs = [p for p in pairs if p[0] not in drop] + extra
        body = urllib.parse.urlencode(pairs).encode()
        probe.send("POST", "/auth/token", body, content_type=FORM_TYPE, errors="oauth", raise_=True)

    run()
