"""Every shell command in README.md and examples/README.md, run as written against a real
``fhirauth serve --demo`` (issue 11, "the first hour").

The ```sh blocks of both files are run in document order, each by ``bash -euo pipefail`` in one
temporary folder laid out like a checkout (``examples/``, ``.venv/bin/fhirauth``), so the state
a reader builds up carries over as it would in their terminal: variables a block sets (``TOKEN``,
``FHIRAUTH_CLIENT_ID``...) and files it writes. Each block must exit 0 and print what the text
around it promises (``EXPECT``).

Handled specially, and why:
- A block that starts a server (``fhirauth serve``) is not run in the foreground: the test
  starts that command in the background (stopping the previous server, same data folder) and
  waits for ``/fhir/metadata``. In the Quick start line, the parts before it that make the
  virtualenv and install the package (``python3 -m venv``, ``pip install``) are skipped: the
  test runs this checkout, and ``.venv/bin/fhirauth`` is a shim for the Python running the tests.
- ``SKIPPED`` blocks are not run: installing and running this very suite, linting the checkout,
  and downloading FHIR packages from the internet.
- The server listens on 127.0.0.1:8080, as the documents say, when that port is free; otherwise
  on a free port, and then ``127.0.0.1:8080`` in the commands, the ``serve`` line's port and
  the client commands' default URL (``FHIRAUTH_URL``) are the only things changed.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT

DOCS = (ROOT / "README.md", ROOT / "examples" / "README.md")
FENCE = re.compile(r"^```sh\n(.*?)^```$", re.S | re.M)
DOC_PORT = 8080

# Blocks not run (a marker they contain: why).
SKIPPED = {
    "pip install -e '.[test]' && .venv/bin/pytest": "installs the package and runs this suite",
    ".venv/bin/ruff check .": "lints the checkout; CI runs ruff on the checkout itself",
    "fhirauth packages install": "downloads FHIR packages from packages.fhir.org and a made-up "
    "registry (no network in tests); tests/test_cli_packages.py runs these commands against a "
    "local registry",
    "bench/submit.py --quick": "installs wrk and benchmarks for minutes, which needs the "
    "machine to itself",
}
# Parts of a server line that are not run (the test uses this checkout's package).
INSTALL_STEPS = ("python3 -m venv", "/pip install")

# What a block's output must hold: every rule whose marker the block contains applies.
EXPECT: dict[str, list[str]] = {
    # README: The console (issue 15)
    "fhirauth users add rita": ["rita (reviewer) can sign in at /console/login"],
    # README: After the decision (issue 14)
    "fhirauth check examples/billing/matches.json": [
        "ok: no mismatch",
        "units-exceeded: Billed 45",
    ],
    "fhirauth report expiring": ["90837"],
    "deny-cosmetic-hair-transplant-appeal.json | awk": [
        "denied by rule:cosmetic-hair-transplant",
        "item 1: A4",
        "item 1: A1",
        "# Prior authorization metrics",
        "| approved after appeal |",
        "code,system,description,applies_when,documentation,policy",
    ],
    "/extend": ['"reviewExtendedAt"', '"dueAt"'],
    "fhirauth check examples/billing/*.json": ["units-exceeded", "place-differs", "code-differs"],
    # README: Quick start, Try it, Endpoints
    "submit examples/*.json": [
        "examples/mixed-outcomes.json: HTTP 200",
        "item 4: A3  reason NC",
        "awaits: a reviewer's decision",
        "awaits: LOINC 11506-3",
    ],
    "--data-binary @examples/mixed-outcomes.json\n": ['"preAuthRef":"PA'],
    'jq \'{resourceType: "Parameters"': ['"resourceType":"ClaimResponse"'],
    '"entry": []}\'': ['"code":"required"', '"expression":["Bundle.entry"]'],
    "jq -r '.submissions[0].claim'": ['"resourceType":"ClaimResponse"', '"resourceType":"Claim"'],
    "pend-mri-brain-cancel.json": ["item 1: A4", "item 1: A1", "item 1: C"],
    "fhir/Claim/\\$inquire": ['"resourceType":"Parameters"', '"name":"return"'],
    "fhir/\\$submit-attachment": ["decided now: item 1: A1"],
    "$submit-attachment": ["document(s) attached to authorization PA"],
    "fhirauth eligibility eligibility.json": [
        "item 1 (72148): authorization required",
        "item 3 (15775): not covered",
    ],
    "/fhir/Subscription": ['"resourceType":"Subscription"', '"status":"requested"'],
    "pas/v2.0.1/Claim/$submit": ['"resourceType":"Bundle"', '"resourceType":"CapabilityStatement"'],
    "curl -s http://127.0.0.1:8080/fhir/metadata": ['"resourceType":"CapabilityStatement"'],
    "curl -s http://127.0.0.1:8080/\n": [
        '"name":"fhirauth"',
        '"resourceType":"CapabilityStatement"',
    ],
    "/decisions": ['"submissions"', '"resourceType":"Bundle"'],
    "fhirauth clients add": [],  # its own check: prints a client id (see _check)
    "AuditEvent?agent=fhirauth-demo": ["POST /fhir/Claim/$submit"],
    # examples/README.md
    "fhirauth submit examples/approve-ct-head.json\n": ["examples/approve-ct-head.json: HTTP 200"],
    "--data-binary @examples/approve-ct-head.json\n": ['"preAuthRef":"PA'],
    "submit examples/errors/error-coverage-ended.json": [
        "outcome error",
        "error 78: The coverage period does not include",
        "at Bundle.entry[3].resource.period",
    ],
    "eligibility examples/eligibility/auth-requirements.json": [
        "item 2 (27447): authorization required",
        '"resourceType":"CoverageEligibilityResponse"',
    ],
    "'http://127.0.0.1:8080/fhir/Claim/$inquire'": ['"name":"return"'],
    "sandbox next A3": ["pending: A3", "item 1: A3", "pending: none"],
}
# Blocks whose answer is meant to be an error OperationOutcome.
ERROR_SHOWN = ('"entry": []}\'',)
# Never acceptable in any block's output.
FORBIDDEN = ("Traceback", "cannot reach", "no access token:", "Usage:", "Error: ")
_CLI_STATUS = re.compile(r"^\S+: HTTP (\d{3})$", re.M)
_ASSIGNMENT = re.compile(r"^(export\s+)?[A-Za-z_][A-Za-z0-9_]*=")
_SHELL_STATE = {"_", "SHLVL", "PWD", "OLDPWD", "BASH_EXECUTION_STRING"}


@dataclass(frozen=True)
class Block:
    doc: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}"


def sh_blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    return [
        Block(path.relative_to(ROOT).as_posix(), text.count("\n", 0, m.start()) + 1, m.group(1))
        for m in FENCE.finditer(text)
    ]


def all_blocks() -> list[Block]:
    return [b for doc in DOCS for b in sh_blocks(doc)]


def skip_reason(block: Block) -> str | None:
    return next((why for marker, why in SKIPPED.items() if marker in block.text), None)


def server_command(block: Block) -> str | None:
    """The ``fhirauth serve`` command of a block that starts a server, install steps dropped."""
    lines = [ln for ln in block.text.splitlines() if ln.strip() and not ln.startswith("#")]
    if len(lines) != 1 or " serve" not in lines[0] or "fhirauth" not in lines[0]:
        return None
    steps = [s.strip() for s in lines[0].split("&&")]
    kept = [s for s in steps if not any(marker in s for marker in INSTALL_STEPS)]
    assert len(kept) == 1 and "fhirauth serve" in kept[0], f"{block}: {lines[0]}"
    return kept[0]


def assignments_only(block: Block) -> bool:
    lines = [ln for ln in block.text.splitlines() if ln.strip() and not ln.startswith("#")]
    return all(_ASSIGNMENT.match(ln) for ln in lines)


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Workspace:
    """A folder laid out like a checkout, the shell state the blocks share, and the server."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port
        self.url = f"http://127.0.0.1:{port}/fhir"
        (folder / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
        shim = folder / ".venv" / "bin" / "fhirauth"
        shim.parent.mkdir(parents=True)
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m fhirauth "$@"\n')
        shim.chmod(0o755)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FHIRAUTH_")}
        self.env["HOME"] = str(folder)  # nothing of the user's (gunicorn, package cache)
        self.env["FHIR_PACKAGE_CACHE"] = str(folder / "fhir-packages")
        if port != DOC_PORT:
            self.env["FHIRAUTH_URL"] = self.url
        self.server: subprocess.Popen[bytes] | None = None
        self.log = folder / "server.log"

    def adapt(self, text: str) -> str:
        """The command as written, on the test's port when it is not 8080."""
        if self.port == DOC_PORT:
            return text
        return text.replace(f"127.0.0.1:{DOC_PORT}", f"127.0.0.1:{self.port}")

    def start(self, command: str) -> None:
        self.stop()
        if self.port != DOC_PORT:
            command += f" --port {self.port}"
        with self.log.open("ab") as log:
            self.server = subprocess.Popen(
                ["bash", "-c", f"exec {command}"],
                cwd=self.folder,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{self.url}/metadata", timeout=2).ok:
                    return
            except (requests.ConnectionError, requests.Timeout):  # workers still booting
                pass
            if self.server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"`{command}` did not serve:\n{self.log.read_text()}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.server is not None and self.server.poll() is None:
            os.killpg(self.server.pid, signal.SIGTERM)
            self.server.wait(timeout=30)
        self.server = None

    def run(self, block: Block) -> tuple[int, str]:
        """Run a block in bash with the shared state; keep the variables it sets."""
        state = self.folder / ".block-env"
        script = (
            f"trap 'env -0 > {state}' EXIT\n"
            "set -a\n"  # every assignment is exported, so the next block sees it
            "set -euo pipefail\n" + self.adapt(block.text)
        )
        proc = subprocess.run(
            ["bash", "-c", script],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if state.exists():
            pairs = state.read_bytes().split(b"\0")
            found = dict(p.decode().split("=", 1) for p in pairs if b"=" in p)
            self.env = {k: v for k, v in found.items() if k not in _SHELL_STATE}
        return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    for tool in ("curl", "jq", "openssl"):
        if shutil.which(tool) is None:
            pytest.skip(f"the README's commands use {tool}, which this machine lacks")
    port = DOC_PORT if port_free(DOC_PORT) else free_port()
    space = Workspace(tmp_path, port)
    try:
        yield space
    finally:
        space.stop()


def _check(block: Block, status: int, output: str) -> list[str]:
    """What is wrong with a block's result (empty: nothing)."""
    problems = []
    if status != 0:
        problems.append(f"exit status {status}")
    if not output.strip() and not assignments_only(block):
        problems.append("printed nothing")
    for bad in FORBIDDEN:
        if bad in output:
            problems.append(f"printed {bad!r}")
    for code in _CLI_STATUS.findall(output):
        if code != "200":
            problems.append(f"a file got HTTP {code}")
    error_oo = '"resourceType":"OperationOutcome"' in output and '"severity":"error"' in output
    if error_oo and not any(m in block.text for m in ERROR_SHOWN):
        problems.append("answered an error OperationOutcome")
    for marker, needles in EXPECT.items():
        if marker in block.text:
            problems += [f"missing {n!r}" for n in needles if n not in output]
    if "fhirauth clients add" in block.text and not re.search(r"\b[0-9a-f]{32}$", output, re.M):
        problems.append("printed no client id")
    return problems


def test_every_readme_command_works_against_a_demo_server(workspace: Workspace) -> None:
    failures = []
    ran = []
    for block in all_blocks():
        if skip_reason(block):
            continue
        command = server_command(block)
        if command:
            workspace.start(command)
            continue
        assert workspace.server is not None, f"{block} runs before any server was started"
        status, output = workspace.run(block)
        ran.append(block)
        problems = _check(block, status, output)
        if problems:
            failures.append(f"{block}: {'; '.join(problems)}\n{block.text}\n--- output:\n{output}")
    assert not failures, "\n\n".join(failures)
    unused = [m for m in EXPECT if not any(m in b.text for b in ran)]
    assert not unused, f"EXPECT markers no block contains any more: {unused}"


def test_the_skipped_blocks_are_still_there_and_only_they_are_skipped() -> None:
    blocks = all_blocks()
    for marker in SKIPPED:
        assert sum(marker in b.text for b in blocks) == 1, marker
    servers = [b for b in blocks if server_command(b)]
    assert [b.doc for b in servers] == ["README.md", "examples/README.md"]


def _settings_in_code() -> set[str]:
    """Every FHIRAUTH_* (and FHIR_*) variable the package reads."""
    from dataclasses import fields

    from fhirauth.notifications.settings import NotificationSettings

    found = set()
    for path in (ROOT / "fhirauth").rglob("*.py"):
        found |= set(re.findall(r"\b(FHIR(?:AUTH)?_[A-Z0-9_]*[A-Z0-9])\b", path.read_text()))
    found.discard("FHIRAUTH_NOTIFY")  # the prefix of the names below
    found |= {f"FHIRAUTH_NOTIFY_{f.name.upper()}" for f in fields(NotificationSettings)}
    return {name for name in found if name != "FHIR_JSON"}  # a constant, not a setting


def test_the_configuration_table_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`(FHIR(?:AUTH)?_[A-Z0-9_]+)`", table))
    missing = sorted(_settings_in_code() - documented)
    assert not missing, f"README's Configuration table lacks {missing}"
