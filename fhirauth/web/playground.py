"""The playground (sandbox mode only; 404 otherwise): paste or upload a PAS request bundle and
see the issues found, with their FHIRPaths, and the answer ``$submit`` gives, item by item;
script the outcome of the next submissions, the playground's own or a client's (as
``/admin/sandbox/scripts`` does). Reviewers and administrators alike: in sandbox mode there
is no real patient to protect, and trying bundles is what the sandbox is for."""

from __future__ import annotations

import re
from typing import Any

from flask import abort, g, request
from marshmallow import Schema, ValidationError, fields, validate

from fhirauth import sandbox
from fhirauth.operations import playground
from fhirauth.web.blueprint import bp, page, services

_CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}\Z")
_CLIENT_WORDS = "a client id is 1 to 128 of A-Z a-z 0-9 . _ : -"
_CLIENT = validate.Regexp(_CLIENT_ID, error=_CLIENT_WORDS)


class ScriptForm(Schema):
    outcome = fields.String(required=True, validate=validate.OneOf(sandbox.OUTCOMES))
    count = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100))
    principal = fields.String(load_default=playground.PLAYGROUND.id, validate=_CLIENT)


def _sandbox_only() -> None:
    if not services().settings.sandbox:
        abort(404)


def _page(whose: str = playground.PLAYGROUND.id, **context: Any) -> str:
    """The page, with the scripts pending for ``whose``: the playground, or the client the
    last form named."""
    svc = services()
    return page(
        "playground.html",
        nav="playground",
        outcomes=sandbox.OUTCOMES,
        whose=whose,
        pending=playground.scripts(svc, whose),
        **context,
    )


@bp.get("/playground")
def playground_page() -> str:
    _sandbox_only()
    return _page()


@bp.post("/playground")
def playground_try() -> tuple[str, int]:
    _sandbox_only()
    upload = request.files.get("file")
    body = upload.read() if upload and upload.filename else b""
    text = request.form.get("bundle", "")
    if not body:
        body = text.encode()
    if not body.strip():
        return _page(error="Paste a bundle or choose a file."), 400
    tried = playground.try_bundle(body, services())
    g.audit_detail = f"playground: a bundle tried, HTTP {tried.status}"
    kept = text if not upload or not upload.filename else ""
    return _page(tried=tried, bundle=kept), 200


@bp.post("/playground/scripts")
def playground_script() -> tuple[str, int]:
    _sandbox_only()
    try:
        form = ScriptForm().load(
            {k: v for k, v in request.form.items() if k in ("outcome", "count", "principal") and v}
        )
    except ValidationError as exc:
        wrong = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in exc.messages.items())
        return _page(error=f"Not scripted: {wrong}"), 400
    pending = playground.script(services(), form["principal"], form["outcome"], form["count"])
    g.audit_detail = f"playground: {form['count']} x {form['outcome']} scripted"
    notice = (
        f"The next {form['count']} submission(s) of {form['principal']} will be answered "
        f"{form['outcome']} ({len(pending)} scripted in all)."
    )
    return _page(form["principal"], notice=notice), 200


@bp.post("/playground/scripts/clear")
def playground_clear() -> tuple[str, int]:
    _sandbox_only()
    whose = request.form.get("principal", "").strip() or playground.PLAYGROUND.id
    if not _CLIENT_ID.match(whose):
        return _page(error=f"Not cleared: {_CLIENT_WORDS}"), 400
    playground.clear(services(), whose)
    return _page(whose, notice=f"The scripts of {whose} are cleared."), 200
