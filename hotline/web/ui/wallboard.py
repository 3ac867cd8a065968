"""The supervisor wallboard page (``/wallboard``): live queues and agents, charts, supervisor actions.

The page is a shell: the numbers come from the statistics API and the event stream, drawn by
``static/js/wallboard.js``. The server renders the header (the user's data scope), the strings of
``strings/wallboard.toml`` as a JSON block, and what the user may do (the API checks again).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from hotline.auth.policy import Perm, Scope
from hotline.store.models import Extension, Unit
from hotline.web.ui.i18n import area_keys, pick_lang, translator
from hotline.web.ui.pages import PageUser, page_user, render_page, script_strings, to_login

router = APIRouter(include_in_schema=False)

#: the keys the page's script needs (all strings of the wallboard area)
WALLBOARD_KEYS: tuple[str, ...] = area_keys("wallboard")


async def scope_label(page: PageUser, t: dict[str, str]) -> str:
    """The units whose statistics the user sees (from the grants carrying stats.read)."""
    grants = page.ctx.principal.grants_for(Perm.STATS_READ)
    if any(g.scope is Scope.TENANT for g in grants):
        return t["wb_scope_all"]
    ids = sorted({g.unit_id for g in grants})
    async with page.ctx.db() as s:
        names = {
            u.id: u.name
            for u in (
                await s.scalars(select(Unit).where(Unit.tenant_id == page.ctx.tenant_id, Unit.id.in_(ids)))
            ).all()
        }
    parts = []
    for g in grants:
        name = names.get(g.unit_id)
        if name is None:
            continue
        label = t["wb_scope_subtree"].format(unit=name) if g.scope is Scope.SUBTREE else name
        if label not in parts:
            parts.append(label)
    return "; ".join(parts) or t["wb_scope_own"]


@router.get("/wallboard", response_class=HTMLResponse)
async def wallboard(request: Request, kiosk: int = 0) -> Response:
    page = await page_user(request)
    if page is None:
        return to_login(request)
    if not page.can(Perm.STATS_READ):
        return render_page(request, page, "wallboard.html", status=403, forbidden=True)
    lang = pick_lang(request)
    t = translator(lang)
    async with page.ctx.db() as s:
        phones = list(
            (
                await s.scalars(
                    select(Extension.number)
                    .where(Extension.tenant_id == page.ctx.tenant_id, Extension.user_id == page.user.id)
                    .order_by(Extension.number)
                )
            ).all()
        )
    config: dict[str, Any] = {
        "lang": lang,
        "user_id": page.user.id,
        "kiosk": bool(kiosk),
        "phones": phones,
        "can": {
            "supervise": not kiosk and page.can(Perm.CALL_SUPERVISE),
            "control": not kiosk and page.can(Perm.AGENT_CONTROL),
            "message": not kiosk and page.can(Perm.MESSAGE_SEND),
            "settings": not kiosk and page.can(Perm.QUEUE_WRITE),
        },
    }
    return render_page(
        request,
        page,
        "wallboard.html",
        forbidden=False,
        kiosk=bool(kiosk),
        scope=await scope_label(page, t),
        wb_strings=script_strings(t, "wallboard"),
        wb_config=config,
        phones=phones,
    )
