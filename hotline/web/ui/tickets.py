"""Work-order pages: the unit handler's queue, the center reviewer's page, the overdue board.

Each page is a server-rendered shell around the tickets REST API (``/api/v1/tickets…``):
``static/js/tickets.js`` lists, shows and acts on orders through ``api.js`` and follows the
``ticket`` / ``ticket_deadline`` events (``events.js``). The server renders the layout, the
strings of ``strings/tickets.toml`` as a JSON block and what the user may do (the API checks
again on every request). A signed-out browser is sent to the login page; a user without the
page's permission gets a 403 page (the refusal is audited like an API refusal).

| page | permission |
|------|------------|
| ``/tickets/queue`` | ``ticket.handle`` |
| ``/tickets/review`` | ``ticket.review`` |
| ``/tickets/overdue`` | ``ticket.review`` |
| ``/tickets/stats`` | ``ticket.read`` or ``stats.read`` (the API counts what the reader may see) |

The desk's "new work order" panel (``templates/tickets_desk.html``, ``static/js/desk-tickets.js``)
is part of ``/desk``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hotline.auth.policy import Perm
from hotline.errors import Forbidden
from hotline.web.ui.i18n import pick_lang, translator
from hotline.web.ui.pages import PageUser, page_user, render_page, script_json, script_strings, to_login

router = APIRouter(include_in_schema=False)

#: an open order due within this many minutes counts as "due soon" on the overdue board
SOON_MINUTES = 60


@dataclass(frozen=True)
class TicketPage:
    key: str
    #: any of these opens the page
    perms: tuple[Perm, ...]
    template: str
    title: str


PAGES: dict[str, TicketPage] = {
    "queue": TicketPage("queue", (Perm.TICKET_HANDLE,), "tickets_queue.html", "tk_queue_title"),
    "review": TicketPage("review", (Perm.TICKET_REVIEW,), "tickets_review.html", "tk_review_title"),
    "overdue": TicketPage("overdue", (Perm.TICKET_REVIEW,), "tickets_overdue.html", "tk_overdue_title"),
    "stats": TicketPage("stats", (Perm.TICKET_READ, Perm.STATS_READ), "tickets_stats.html", "tk_stats_title"),
}


def page_config(page: PageUser, key: str, lang: str) -> dict[str, Any]:
    """What the page's script needs to know about the user (the API decides again)."""
    return {
        "page": key,
        "lang": lang,
        "user_id": page.user.id,
        "username": page.user.username,
        "unit_id": page.user.unit_id,
        "soon_minutes": SOON_MINUTES,
        "can": {
            "read": page.can(Perm.TICKET_READ),
            "write": page.can(Perm.TICKET_WRITE),
            "handle": page.can(Perm.TICKET_HANDLE),
            "review": page.can(Perm.TICKET_REVIEW),
        },
    }


async def _show(request: Request, key: str) -> Response:
    spec = PAGES[key]
    page = await page_user(request)
    if page is None:
        return to_login(request)
    lang = pick_lang(request)
    t = translator(lang)
    if not any(page.can(p) for p in spec.perms):
        try:
            await page.ctx.deny(spec.perms[0], "ticket_page", request.url.path)
        except Forbidden as exc:
            return render_page(
                request,
                page,
                "tickets_forbidden.html",
                status=403,
                title_key=spec.title,
                perm=" / ".join(str(p) for p in spec.perms),
                detail=exc.detail,
            )
    return render_page(
        request,
        page,
        spec.template,
        title_key=spec.title,
        page_key=key,
        strings_json=script_strings(t, "tickets"),
        config_json=script_json(page_config(page, key, lang)),
    )


@router.get("/tickets", response_class=HTMLResponse)
async def tickets_home(request: Request) -> Response:
    """The first work-order page the user may open (queue, review, overdue board, statistics)."""
    page = await page_user(request)
    if page is None:
        return to_login(request)
    for spec in PAGES.values():
        if any(page.can(p) for p in spec.perms):
            return RedirectResponse(f"/tickets/{spec.key}", status_code=303)
    return await _show(request, "queue")


@router.get("/tickets/queue", response_class=HTMLResponse)
async def queue_page(request: Request) -> Response:
    return await _show(request, "queue")


@router.get("/tickets/review", response_class=HTMLResponse)
async def review_page(request: Request) -> Response:
    return await _show(request, "review")


@router.get("/tickets/overdue", response_class=HTMLResponse)
async def overdue_page(request: Request) -> Response:
    return await _show(request, "overdue")


@router.get("/tickets/stats", response_class=HTMLResponse)
async def stats_page(request: Request) -> Response:
    return await _show(request, "stats")
