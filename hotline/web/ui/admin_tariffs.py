"""Tariff administration (/admin/tariffs): the tariffs with their version in force, one version's
tiers, time windows and charges as tables, and an editor (YAML or JSON text) whose errors the
server reports with their paths.

Reading goes through the API handlers of :mod:`hotline.web.api.tariffs` with the signed-in
user's context (same permission checks); the editor is a plain form posted to this page
(CSRF token of the session), so validation and saving work without scripts, and saving calls
the API's ``PUT`` handler (same validation, 409 rule and audit).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import yaml
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hotline.auth import sessions
from hotline.errors import HotlineError, NotFound
from hotline.utility import tariffs as T
from hotline.web.api import tariffs as tariffs_api
from hotline.web.ui import admin
from hotline.web.ui.i18n import pick_lang, translator
from hotline.web.ui.pages import PageUser

router = APIRouter(include_in_schema=False)

NEW_TARIFF = """\
# {code}: a new tariff (see the built-in examples for every kind)
code: {code}
name: ""
kind: flat
customer_class: agriculture
voltage: "*"
effective_from: "{today}"
price: "0.5090"
"""


def _hours(spans: list[str]) -> str:
    total = 0
    for text in spans:
        m = T.WINDOW_RE.match(text.strip())
        if not m:
            continue
        start = int(m.group(1)) * 60 + int(m.group(2))
        end = int(m.group(3)) * 60 + int(m.group(4))
        total += (end - start) % (24 * 60)
    return f"{total / 60:g}"


def _window_rows(block: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not block:
        return []
    windows = block.get("windows", {})
    prices = block.get("prices", {})
    return [
        {
            "register": reg,
            "windows": windows[reg],
            "hours": _hours(windows[reg]),
            "price": prices.get(reg, ""),
        }
        for reg in T.REGISTERS
        if reg in windows
    ]


def _tier_rows(spec: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    lo = "0"
    for i, tier in enumerate(spec.get("tiers", [])):
        rows.append({"n": i + 1, "from": lo, "upto": tier.get("upto"), "price": tier["price"]})
        lo = tier.get("upto") or lo
    return rows


def _source(spec: dict[str, Any]) -> str:
    return yaml.safe_dump(spec, allow_unicode=True, sort_keys=False, default_flow_style=None, width=100)


async def _show(
    request: Request,
    page: PageUser,
    can_edit: bool,
    code: str,
    version: str | None,
    *,
    source: str | None = None,
    issues: list[dict[str, str]] | None = None,
    checked: bool = False,
    saved: bool = False,
    status: int = 200,
) -> Response:
    try:
        versions = [v.model_dump(mode="json") for v in await tariffs_api.get_tariff(code, page.ctx)]
    except NotFound:
        if not can_edit or not T.CODE_RE.match(code):
            raise
        versions = []
    shown: dict[str, Any] | None = None
    if versions:
        shown = next((v for v in versions if v["effective_from"] == version), None)
        if shown is None:
            if version:
                raise NotFound(f"tariff {code} has no version from {version}")
            shown = next((v for v in versions if v["in_force"]), versions[-1])
    spec = shown["spec"] if shown else {}
    if source is None:
        source = _source(spec) if shown else NEW_TARIFF.format(code=code, today=date.today().isoformat())
    return admin._render(
        request,
        page,
        "admin/tariff_edit.html",
        "tariffs",
        can_edit,
        status=status,
        code=code,
        versions=versions,
        shown=shown,
        spec=spec,
        tier_rows=_tier_rows(spec),
        tou_rows=_window_rows(spec.get("tou")),
        energy_rows=_window_rows(spec.get("energy")) if spec.get("energy", {}).get("kind") == "tou" else [],
        source=source,
        issues=issues or [],
        checked=checked,
        saved=saved,
    )


@router.get("/admin/tariffs", response_class=HTMLResponse)
async def tariffs_page(request: Request) -> Response:
    async def view(page: PageUser, can_edit: bool) -> Response:
        tariffs = [t.model_dump(mode="json") for t in await tariffs_api.list_tariffs(page.ctx)]
        return admin._render(request, page, "admin/tariffs.html", "tariffs", can_edit, tariffs=tariffs)

    return await admin._guard(request, "tariffs", view)


@router.get("/admin/tariffs/{code}", response_class=HTMLResponse)
async def tariff_page(request: Request, code: str, version: str | None = None, saved: int = 0) -> Response:
    async def view(page: PageUser, can_edit: bool) -> Response:
        return await _show(request, page, can_edit, code, version, saved=bool(saved))

    return await admin._guard(request, "tariffs", view)


@router.post("/admin/tariffs/{code}", response_class=HTMLResponse)
async def tariff_post(
    request: Request,
    code: str,
    source: str = Form(""),
    action: str = Form("validate"),
    csrf_token: str = Form(""),
) -> Response:
    async def view(page: PageUser, can_edit: bool) -> Response:
        t = translator(pick_lang(request))
        if not sessions.csrf_ok(page.ctx.session, csrf_token):
            issues = [{"field": "", "reason": t["tar_bad_form"]}]
            return await _show(request, page, can_edit, code, None, source=source, issues=issues, status=403)
        try:
            docs = T.read_documents(source, source="text")
            if len(docs) != 1:
                raise HotlineError("give exactly one tariff document")
            doc = {**docs[0]}
            if isinstance(doc.get("effective_from"), date):
                doc["effective_from"] = doc["effective_from"].isoformat()
        except HotlineError as exc:
            issues = [{"field": "", "reason": exc.detail}]
            return await _show(request, page, can_edit, code, None, source=source, issues=issues, status=422)
        if action != "save":
            doc.setdefault("code", code)
            spec, found = T.check(doc)
            issues = [{"field": i.path, "reason": i.reason} for i in found]
            if spec is not None and spec.code != code:
                issues.append({"field": "code", "reason": f"differs from this tariff's code {code!r}"})
            return await _show(
                request,
                page,
                can_edit,
                code,
                None,
                source=source,
                issues=issues,
                checked=True,
                status=422 if issues else 200,
            )
        try:
            saved = await tariffs_api.put_tariff(code, page.ctx, Response(), doc)
        except HotlineError as exc:
            if exc.status == 403:
                raise
            issues = getattr(exc, "errors", None) or [{"field": exc.field or "", "reason": exc.detail}]
            return await _show(
                request, page, can_edit, code, None, source=source, issues=issues, status=exc.status
            )
        return RedirectResponse(
            f"/admin/tariffs/{code}?version={saved.effective_from.isoformat()}&saved=1", status_code=303
        )

    # A plain form cannot send the X-CSRF-Token header the API's cookie authentication wants for
    # unsafe methods: the session is resolved as for a page view and the form's csrf_token is
    # checked against the session above (sessions.csrf_ok) before anything is validated or saved.
    scope = dict(request.scope)
    scope["method"] = "GET"
    return await admin._guard(Request(scope, request.receive), "tariffs", view)
