"""The request shapes a row sends (one per endpoint), and the data fhirauth must hold first."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import orjson

from .servers import FHIR_JSON, ROOT, Server, call

EXAMPLES = ROOT / "examples"
PLACEHOLDER = "__BENCH_ID__"


@dataclass(frozen=True)
class Spec:
    """One request shape; ``varies``: every request replaces PLACEHOLDER in the body."""

    name: str
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    varies: bool = False

    def one(self, tag: str) -> bytes | None:
        if self.body is None or not self.varies:
            return self.body
        return self.body.replace(PLACEHOLDER.encode(), tag.encode())


def example(name: str) -> bytes:
    return (EXAMPLES / name).read_bytes()


def varying_submit() -> bytes:
    """mixed-outcomes.json with a placeholder in Bundle.identifier and Claim.identifier: what
    the duplicate check hashes changes with them, and the Claim's identifier is what an update
    would be matched by, so each request stays a new one."""
    bundle = orjson.loads(example("mixed-outcomes.json"))
    bundle["identifier"]["value"] = f"RMC-SUB-{PLACEHOLDER}"
    bundle["entry"][0]["resource"]["identifier"][0]["value"] = f"RMC-PA-{PLACEHOLDER}"
    return orjson.dumps(bundle)


def post(name: str, path: str, body: bytes, headers: dict[str, str], varies: bool = False) -> Spec:
    return Spec(name, "POST", path, body, {**headers, "Content-Type": FHIR_JSON}, varies)


def expect(server: Server, spec: Spec, status: int = 200) -> bytes:
    got, body = call(server.base, spec.method, spec.path, spec.one(uuid.uuid4().hex), spec.headers)
    if got != status:
        raise RuntimeError(f"{server.label}: {spec.name} answered {got}: {body[:500]!r}")
    return body


def fhirauth_specs(server: Server, headers: dict[str, str]) -> list[Spec]:
    """Store what the rows need (an authorization to inquire about, one to replay and read)
    and check each request shape once before it is timed."""
    mixed = example("mixed-outcomes.json")
    expect(server, post("seed", "/fhir/Claim/$submit", example("approve-ct-head.json"), headers))
    stored = orjson.loads(expect(server, post("seed", "/fhir/Claim/$submit", mixed, headers)))
    claim_response = stored["entry"][0]["resource"]["id"]
    specs = [
        post("submit new", "/fhir/Claim/$submit", varying_submit(), headers, varies=True),
        post("submit duplicate", "/fhir/Claim/$submit", mixed, headers),
        post("inquire", "/fhir/Claim/$inquire", example("inquiry/inquire-ct-head.json"), headers),
        Spec("metadata", "GET", "/fhir/metadata", headers=headers),
        Spec("read ClaimResponse", "GET", f"/fhir/ClaimResponse/{claim_response}", None, headers),
    ]
    for spec in specs:
        body = expect(server, spec)
        if spec.name == "inquire" and not orjson.loads(body).get("parameter"):
            raise RuntimeError(f"{server.label}: the inquiry matched no authorization")
    return specs
