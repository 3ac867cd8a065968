"""The agent desktop page (``/desk``): state bar, softphone, screen pop, wrap-up, history, messages.

The page is a shell around the public CTI API: ``static/js/desk.js`` calls the REST endpoints
(``api.js``) and follows the event stream (``events.js``). The server renders the layout, the
strings of ``strings/desk.toml`` (plus a few common ones) as a JSON block for the script, and
the agent's identity and default extension.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from hotline.auth.policy import Perm
from hotline.store.models import AgentProfile, Extension
from hotline.web.ui.i18n import pick_lang, translator
from hotline.web.ui.pages import page_user, render_page, script_json, script_strings, to_login

router = APIRouter(include_in_schema=False)

#: keyboard shortcuts: (key code for KeyboardEvent.code, action, string key of its description).
#: Alt+D/E/F are Chrome's address bar and menu on Windows/Linux, so they are not used.
SHORTCUTS: tuple[tuple[str, str, str], ...] = (
    ("KeyA", "answer", "desk_answer"),
    ("KeyX", "hangup", "desk_hangup"),
    ("KeyH", "hold", "desk_hold_resume"),
    ("KeyM", "mute", "desk_mute"),
    ("KeyT", "transfer", "desk_transfer"),
    ("KeyR", "ready", "desk_ready"),
    ("KeyN", "not_ready", "desk_not_ready"),
    ("KeyC", "dial", "desk_dial_focus"),
)


@router.get("/desk", response_class=HTMLResponse)
async def desk(request: Request) -> Response:
    page = await page_user(request)
    if page is None:
        return to_login(request)
    user = page.user
    async with page.ctx.db() as s:
        extension = await s.scalar(
            select(Extension.number)
            .where(Extension.tenant_id == user.tenant_id, Extension.user_id == user.id, Extension.enabled)
            .order_by(Extension.number)
            .limit(1)
        )
        is_agent = await s.scalar(select(AgentProfile.id).where(AgentProfile.user_id == user.id)) is not None
    lang = pick_lang(request)
    t = translator(lang)
    allowed = page.can(Perm.CALL_CONTROL) and is_agent
    config = {
        "user_id": user.id,
        "username": user.username,
        "name": user.display_name or user.username,
        "extension": extension or "",
        "lang": lang,
        "shortcuts": [{"code": code, "action": action} for code, action, _key in SHORTCUTS],
    }
    return render_page(
        request,
        page,
        "desk.html",
        status=200 if allowed else 403,
        allowed=allowed,
        extension=extension or "",
        shortcuts=SHORTCUTS,
        can_tickets=page.can(Perm.TICKET_WRITE),
        strings_json=script_strings(t, "desk", "customer", "tickets"),
        config_json=script_json(config),
    )
