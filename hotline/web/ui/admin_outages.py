"""Outage administration (/admin/outages): the list (filter by status), a form to announce an
outage with its areas, and activate / restore / cancel buttons. Reads and writes go through the
outages API (:mod:`hotline.web.api.outages`), so its permission checks apply: the section needs
``billing.read``; the controls show with ``outage.write``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from hotline.web.api import outages as outages_api
from hotline.web.ui.admin import JS_STRINGS, _dump, _guard, _sections_for, _units
from hotline.web.ui.i18n import pick_lang, translator
from hotline.web.ui.pages import PageUser, render_page, script_strings

router = APIRouter(include_in_schema=False)

STATUSES = ("scheduled", "active", "restored", "cancelled")
#: the confirmation questions of the restore / cancel buttons (admin.js asks with data-confirm)
PAGE_STRINGS = (*JS_STRINGS, "ado_confirm_restore", "ado_confirm_cancel")


def _render(request: Request, page: PageUser, name: str, can_edit: bool, **ctx: Any) -> HTMLResponse:
    t = translator(pick_lang(request))
    return render_page(
        request,
        page,
        name,
        sections=_sections_for(page),
        section_key="outages",
        can_edit=can_edit,
        js_strings=script_strings(t, keys=PAGE_STRINGS),
        **ctx,
    )


@router.get("/admin/outages", response_class=HTMLResponse)
async def outages_page(request: Request, status: str = "") -> Response:
    async def view(page: PageUser, can_edit: bool) -> Response:
        chosen = status if status in STATUSES else None
        result = await outages_api.list_outages(
            page.ctx,
            status=chosen,  # type: ignore[arg-type]
            kind=None,
            unit=None,
            at=None,
            feeder=None,
            limit=200,
            offset=0,
        )
        rows: list[dict[str, Any]] = _dump(result.items)
        return _render(
            request,
            page,
            "admin/outages.html",
            can_edit,
            outages=rows,
            statuses=STATUSES,
            status_filter=chosen or "",
            units=await _units(page),
        )

    return await _guard(request, "outages", view)


@router.get("/admin/outages/{outage_id}", response_class=HTMLResponse)
async def outage_page(request: Request, outage_id: int) -> Response:
    async def view(page: PageUser, can_edit: bool) -> Response:
        outage = _dump(await outages_api.read_outage(outage_id, page.ctx))
        return _render(request, page, "admin/outage_edit.html", can_edit, outage=outage)

    return await _guard(request, "outages", view)
