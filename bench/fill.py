"""Fill a fhirauth store with N stored authorizations, straight into the database (issue 13).

Run from the repository root::

    .venv/bin/python bench/fill.py 250000 --data-dir /tmp/big     # SQLite under /tmp/big
    .venv/bin/python bench/fill.py 1000 --database-url postgresql://127.0.0.1:5432/test

or from a test::

    from bench.fill import fill        # or with bench/ on sys.path: from fill import fill
    result = fill(services.sessions, 250_000, seed=1)

A stored authorization is what ``decide_new`` writes for one request: an ``authorization`` row,
its ``authorization_item`` rows, the ``submission`` (the raw request, its content hash and the
identifiers an update or an inquiry is matched by), the ``claim_response_version`` (the exact
response Bundle every read replays) and the ``decision_event`` rows. Rather than imitate that,
the script submits every bundle under ``examples/`` once, in-process, through
``fhirauth.operations.claim_submit.submit`` into a scratch SQLite database (authentication off, the
clock at 2026-12-01 as in the tests), and reads those rows back as templates. Each of the N
authorizations is a clone of one template, inserted with SQLAlchemy Core ``insert()``
executemany, ``--batch`` authorizations per transaction, with:

- new ids everywhere (authorization, ClaimResponse, submission, Claim, response Bundle, Tasks,
  CommunicationRequests), a new ``preAuthRef`` (and so item authorization numbers), and new
  Bundle.identifier and Claim.identifier values;
- a member out of N/4 (so a member has about four authorizations, as an inquiry finds them),
  each with its provider out of N/100 (valid NPIs, none of the examples');
- item codes varied in their last two digits (CPT, HCPCS; short codes such as X12 service types
  are kept); every date moved by one random shift of up to two years back, so received times
  spread over two years and each clone stays consistent with itself.

The substitutions are made in every stored value, the raw request and the response Bundle
bytes included (the values are cut once per template at each token to replace, so a clone is a
join, not a search), and the content hash is recomputed from the new raw request as
``$submit`` computes it: a read, an inquiry or a resubmission of a clone behaves as for a
submitted request. ``--seed`` fixes the members, providers, codes, dates and templates chosen;
ids always come from the system's randomness, so two fills into one database do not collide.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import JSON, Column, Engine, MetaData, Table, Text, insert, select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import TypeDecorator, TypeEngine

from fhirauth.clock import fixed_clock
from fhirauth.config import Settings
from fhirauth.operations.claim_submit import content_hash, submit
from fhirauth.principal import ANONYMOUS
from fhirauth.services import Services
from fhirauth.store.db import make_engine, migrate
from fhirauth.store.models import (
    Authorization,
    AuthorizationItem,
    ClaimResponseVersion,
    DecisionEvent,
    Submission,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
NOW = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)
BASE_URL = "http://127.0.0.1:8080/fhir"
# Insertion order: each table after those its foreign keys point to.
TABLES: tuple[Table, ...] = tuple(
    m.__table__  # type: ignore[misc]
    for m in (Authorization, Submission, ClaimResponseVersion, AuthorizationItem, DecisionEvent)
)
_REF_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # as fhirauth.services: no 0/O, 1/I
_HEX_ID = re.compile(r"(?<![0-9a-zA-Z])[0-9a-f]{32}(?![0-9a-zA-Z])")
_DATE = r"(?<!\d)\d{4}-\d{2}-\d{2}(?!\d)"
MAX_SHIFT_DAYS = 730


class JSONText(TypeDecorator[Any]):
    """A JSON column bound as JSON text made here: a clone's JSON is a join of cut text, so it
    is not parsed and serialized again (PostgreSQL still gets its ``::JSON`` cast)."""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None


# --- templates --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cut:
    """A text cut at its tokens: even places literal, odd places tokens to replace."""

    parts: tuple[str, ...]
    binary: bool  # bytes in the database (raw request, response Bundle)

    def render(self, subs: dict[str, str]) -> str | bytes:
        out = list(self.parts)
        out[1::2] = [subs[t] for t in self.parts[1::2]]
        text = "".join(out)
        return text.encode() if self.binary else text


@dataclass(frozen=True)
class Shift:
    """A date or time moved by the clone's shift."""

    value: date | datetime


@dataclass
class Template:
    name: str
    rows: dict[str, list[dict[str, Any]]]  # table name -> rows of constants, Cuts and Shifts
    hex_ids: list[str]
    dates: list[str]
    pre_auth_ref: str | None
    member: str
    npi: str
    claim_value: str
    bundle_value: str
    codes: list[str]  # item codes varied per clone


def example_files() -> list[Path]:
    return sorted(EXAMPLES.glob("*.json")) + sorted((EXAMPLES / "errors").glob("*.json"))


def make_templates(base_url: str = BASE_URL) -> list[Template]:
    """Submit every example once into a scratch database and read back what was stored."""
    with tempfile.TemporaryDirectory(prefix="fhirauth-fill-") as tmp:
        settings = Settings(data_dir=Path(tmp), base_url=base_url, auth_mode="off")
        services = Services.build(settings, clock=fixed_clock(NOW))
        try:
            made = []
            for path in example_files():
                result = submit(path.read_bytes(), ANONYMOUS, services)
                assert result.authorization_id is not None, path
                with services.engine.connect() as conn:
                    rows = stored_rows(conn, result.authorization_id)
                made.append(template(path.stem, rows))
            return made
        finally:
            services.engine.dispose()


def stored_rows(conn: Any, auth_id: str) -> dict[str, list[dict[str, Any]]]:
    """An authorization's rows, JSON columns as the JSON text stored (or SQL NULL)."""
    out = {}
    for table in text_tables(Text).values():
        key = table.c.id if table.name == "authorization" else table.c.authorization_id
        query = select(table).where(key == auth_id)
        out[table.name] = [dict(r) for r in conn.execute(query).mappings()]
    return out


def template(name: str, rows: dict[str, list[dict[str, Any]]]) -> Template:
    auth, sub = rows["authorization"][0], rows["submission"][0]
    # The raw request compacted: a clone's raw is what an EHR could have sent, smaller.
    sub["raw"] = orjson.dumps(orjson.loads(sub["raw"]))
    joined = "\n".join(filter(None, (_as_text(col, v) for col, v in _cells(rows))))
    t = Template(
        name=name,
        rows={},
        hex_ids=sorted(set(_HEX_ID.findall(joined))),
        dates=sorted(d for d in set(re.findall(_DATE, joined)) if _is_date(d)),
        pre_auth_ref=auth["pre_auth_ref"],
        member=str(sub["member_id"]),
        npi=str(sub["provider_identifier"]).split("|", 1)[1],
        claim_value=str(sub["claim_identifier"]).split("|", 1)[1],
        bundle_value=str(sub["bundle_identifier"]).split("|", 1)[1].removeprefix("urn:uuid:"),
        codes=sorted({str(i["code"]) for i in rows["authorization_item"] if _varies(i["code"])}),
    )
    cutter = _cutter(t)
    t.rows = {
        table: [{col: _cell(col, value, cutter) for col, value in row.items()} for row in trows]
        for table, trows in rows.items()
    }
    for row in t.rows["decision_event"]:
        row.pop("id")  # the database numbers events
    return t


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _varies(code: Any) -> bool:
    return isinstance(code, str) and len(code) >= 5 and code[-2:].isdigit()


def _cells(rows: dict[str, list[dict[str, Any]]]) -> Iterable[tuple[str, Any]]:
    for trows in rows.values():
        for row in trows:
            yield from row.items()


def _as_text(col: str, value: Any) -> str | None:
    if col == "content_hash":
        return None
    if isinstance(value, bytes):
        return value.decode()
    return value if isinstance(value, str) else None


def _cutter(t: Template) -> re.Pattern[str]:
    """One pattern for every token of the template: ids, numbers, member, provider and codes,
    each whole (not inside a longer word), and dates (also the date of a dateTime)."""
    words = [*t.hex_ids, t.member, t.npi, t.claim_value, t.bundle_value, *t.codes]
    words += [t.pre_auth_ref] if t.pre_auth_ref else []
    alternatives = "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))
    dates = "|".join(re.escape(d) for d in t.dates) or "(?!)"
    return re.compile(
        f"((?<![0-9A-Za-z])(?:{alternatives})(?![0-9A-Za-z])|(?<!\\d)(?:{dates})(?!\\d))"
    )


def _cell(col: str, value: Any, cutter: re.Pattern[str]) -> Any:
    if col == "content_hash":
        return None  # recomputed from each clone's raw request
    if isinstance(value, date):  # datetime too
        return Shift(value)
    text = _as_text(col, value)
    parts = tuple(cutter.split(text)) if text is not None else ()
    return Cut(parts, isinstance(value, bytes)) if len(parts) > 1 else value


# --- clones -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One filled authorization, for a test to find: by member and provider NPI ($inquire),
    by ClaimResponse id (read) or by number."""

    template: str
    member_id: str
    provider_npi: str
    claim_response_id: str
    pre_auth_ref: str | None


@dataclass
class Population:
    """Who the clones are for: members, each with one provider (seeded)."""

    rng: random.Random
    members: list[str]
    npis: list[str]
    code_variants: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def make(cls, n: int, seed: int, avoid: set[str]) -> Population:
        rng = random.Random(seed)
        members = [f"DHF{k:09d}" for k in rng.sample(range(10**9), max(1, n // 4))]
        npis: list[str] = []
        for base in rng.sample(range(10**8, 3 * 10**8), max(1, n // 100) + len(avoid)):
            candidate = npi(base)
            if candidate not in avoid:
                npis.append(candidate)
        return cls(rng, members, npis[: max(1, n // 100)])

    def variant(self, code: str) -> str:
        if code not in self.code_variants:
            self.code_variants[code] = sorted({code, *(f"{code[:-2]}{k:02d}" for k in range(100))})
        return self.rng.choice(self.code_variants[code])


def npi(base9: int) -> str:
    """A valid NPI: nine digits and the Luhn check digit over the 80840 prefix."""
    digits = f"80840{base9:09d}"
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return f"{base9:09d}{(10 - total % 10) % 10}"


class Ids:
    """Fresh ids from the system's randomness (never the seed: two fills must not collide)."""

    def __init__(self) -> None:
        self.rng = random.Random(os.urandom(16))

    def hex(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def pre_auth_ref(self) -> str:
        return "PA" + "".join(self.rng.choices(_REF_ALPHABET, k=10))


def clone(t: Template, pop: Population, ids: Ids) -> tuple[dict[str, list[dict[str, Any]]], Sample]:
    m = pop.rng.randrange(len(pop.members))
    member, provider = pop.members[m], pop.npis[m % len(pop.npis)]
    shift = timedelta(days=-pop.rng.randrange(MAX_SHIFT_DAYS + 1))
    subs = {h: ids.hex() for h in t.hex_ids}
    subs |= {d: (date.fromisoformat(d) + shift).isoformat() for d in t.dates}
    subs |= {c: pop.variant(c) for c in t.codes}
    subs[t.member], subs[t.npi] = member, provider
    subs[t.claim_value] = f"FILL-{ids.hex()[:16]}"
    uuid_value = t.bundle_value.count("-") == 4
    subs[t.bundle_value] = ids.uuid() if uuid_value else f"FILL-SUB-{ids.hex()[:16]}"
    if t.pre_auth_ref:
        subs[t.pre_auth_ref] = ids.pre_auth_ref()
    rows = {name: [_row(r, subs, shift) for r in trows] for name, trows in t.rows.items()}
    for sub in rows["submission"]:
        sub["content_hash"] = content_hash(orjson.loads(sub["raw"]))
    auth = rows["authorization"][0]
    sample = Sample(t.name, member, provider, auth["claim_response_id"], auth["pre_auth_ref"])
    return rows, sample


def _row(trow: dict[str, Any], subs: dict[str, str], shift: timedelta) -> dict[str, Any]:
    out = {}
    for col, cell in trow.items():
        if isinstance(cell, Cut):
            out[col] = cell.render(subs)
        elif isinstance(cell, Shift):
            out[col] = cell.value + shift
        else:
            out[col] = cell
    return out


def text_tables(json_type: type[TypeEngine[Any]]) -> dict[str, Table]:
    """The tables with their JSON columns as ``json_type``: Text to read the stored JSON text,
    JSONText to insert a clone's."""
    meta = MetaData()
    return {
        t.name: Table(
            t.name,
            meta,
            *(
                Column(c.name, json_type() if isinstance(c.type, JSON) else c.type)
                for c in t.columns
            ),
        )
        for t in TABLES
    }


# --- fill -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FillResult:
    authorizations: int
    rows: int
    seconds: float
    samples: list[Sample]  # the first clones, one per template at most

    @property
    def rate(self) -> float:
        return self.authorizations / self.seconds if self.seconds else 0.0


Target = str | Engine | sessionmaker[Session]


def _engine(target: Target) -> tuple[Engine, bool]:
    """The engine behind a URL, an engine or a session factory; True when we made it."""
    if isinstance(target, str):
        return make_engine(target), True
    if isinstance(target, Engine):
        return target, False
    bind = target.kw.get("bind")
    if not isinstance(bind, Engine):
        raise TypeError("the session factory is bound to no engine")
    return bind, False


def fill(
    target: Target,
    n: int,
    seed: int = 0,
    *,
    batch: int = 5_000,
    base_url: str = BASE_URL,
    progress: Callable[[int, float], None] | None = None,
) -> FillResult:
    """Store ``n`` authorizations in the database of ``target`` (a SQLAlchemy URL, an engine,
    or a session factory such as ``Services.sessions``), migrating it first."""
    engine, owned = _engine(target)
    try:
        migrate(engine)
        templates = make_templates(base_url)
        avoid = {t.npi for t in templates}
        pop, ids, tables = Population.make(n, seed, avoid), Ids(), text_tables(JSONText)
        samples: dict[str, Sample] = {}
        started, done, rows = time.perf_counter(), 0, 0
        while done < n:
            size = min(batch, n - done)
            by_table: dict[str, list[dict[str, Any]]] = {t.name: [] for t in TABLES}
            for _ in range(size):
                cloned, sample = clone(pop.rng.choice(templates), pop, ids)
                samples.setdefault(sample.template, sample)
                for name, trows in cloned.items():
                    by_table[name].extend(trows)
            with engine.begin() as conn:
                for table in TABLES:
                    if by_table[table.name]:
                        conn.execute(insert(tables[table.name]), by_table[table.name])
            done += size
            rows += sum(len(v) for v in by_table.values())
            if progress:
                progress(done, time.perf_counter() - started)
        return FillResult(done, rows, time.perf_counter() - started, list(samples.values()))
    finally:
        if owned:
            engine.dispose()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("n", type=int, help="how many authorizations to store")
    p.add_argument("--data-dir", type=Path, help="SQLite folder (default as fhirauth serve)")
    p.add_argument("--database-url", help="SQLAlchemy URL (default the SQLite file in data-dir)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=5_000, help="authorizations per transaction")
    p.add_argument("--base-url", default=BASE_URL, help="FHIR base in the stored fullUrls")
    args = p.parse_args(argv)
    settings = Settings.from_env(data_dir=args.data_dir, database_url=args.database_url)
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.db_url

    def report(done: int, seconds: float) -> None:
        print(f"  {done:,} authorizations, {seconds:.0f} s, {done / seconds:,.0f}/s", flush=True)

    print(f"filling {url} with {args.n:,} authorizations (seed {args.seed})", flush=True)
    result = fill(url, args.n, args.seed, batch=args.batch, base_url=args.base_url, progress=report)
    print(
        f"{result.authorizations:,} authorizations ({result.rows:,} rows) in "
        f"{result.seconds:.1f} s: {result.rate:,.0f} authorizations/s, "
        f"{result.rows / result.seconds:,.0f} rows/s"
    )
    if url.startswith("sqlite:///"):
        size = sum(
            p.stat().st_size
            for p in Path(url.removeprefix("sqlite:///")).parent.glob("fhirauth.sqlite3*")
        )
        print(f"database size: {size / 2**20:,.0f} MiB")
    for s in result.samples[:3]:
        print(
            f"  e.g. {s.template}: member {s.member_id}, NPI {s.provider_npi}, "
            f"ClaimResponse/{s.claim_response_id}, {s.pre_auth_ref}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
