"""Browser pages: sign in (session cookie + CSRF), home, sign out, language switch."""

from __future__ import annotations

import hmac
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from hotline.auth import sessions
from hotline.auth.policy import Perm, can_at_all
from hotline.errors import HotlineError
from hotline.store.db import transaction
from hotline.store.models import Unit, User
from hotline.web.context import SESSION_COOKIE, Ctx, StateDep, app_state, authenticated, sign_in
from hotline.web.ui.i18n import LANGS, area_keys, pick_lang, translator

templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "hotline_login_csrf"


def render(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    lang = pick_lang(request)
    ctx.setdefault("csrf_token", "")
    ctx.setdefault("nav", [])
    return templates.TemplateResponse(
        request, name, {"lang": lang, "t": translator(lang), **ctx}, status_code=status
    )


@dataclass(frozen=True)
class PageUser:
    """The signed-in browser user of a page: the API context (for permission checks) and CSRF."""

    ctx: Ctx
    user: User
    csrf_token: str

    def can(self, perm: Perm) -> bool:
        return can_at_all(self.ctx.principal, perm)


#: pages in the top bar: (path, string key, permission needed to see the link)
NAV: tuple[tuple[str, str, Perm], ...] = (
    ("/desk", "nav_desk", Perm.CALL_CONTROL),
    ("/wallboard", "nav_wallboard", Perm.STATS_READ),
    ("/tickets/queue", "nav_tickets_queue", Perm.TICKET_HANDLE),
    ("/tickets/review", "nav_tickets_review", Perm.TICKET_REVIEW),
    ("/tickets/overdue", "nav_tickets_overdue", Perm.TICKET_REVIEW),
    ("/tickets/stats", "nav_tickets_stats", Perm.TICKET_REVIEW),
    ("/admin", "nav_admin", Perm.USER_WRITE),
)


async def page_user(request: Request) -> PageUser | None:
    """The browser session's user, or None (the caller redirects to /login)."""
    if not request.cookies.get(SESSION_COOKIE):
        return None
    try:
        ctx = await authenticated(request)
    except HotlineError:
        return None
    async with ctx.db() as s:
        user = await s.get_one(User, ctx.principal.user_id)
    return PageUser(ctx, user, ctx.session.csrf_token)


def render_page(request: Request, page: PageUser, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    """A signed-in page: CSRF meta tag, the user, and the top-bar links the user may follow."""
    nav = [(path, key) for path, key, perm in NAV if page.can(perm)]
    return render(
        request,
        name,
        status,
        user=page.user,
        csrf_token=page.csrf_token,
        nav=nav,
        principal=page.ctx.principal,
        **ctx,
    )


def script_json(value: Any) -> Markup:
    """JSON safe inside a ``<script type="application/json">`` element (no tag can close it)."""
    text = json.dumps(value, ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)  # noqa: S704 (escaped above)


templates.env.filters["script_json"] = script_json


def script_strings(t: dict[str, str], *areas: str, keys: tuple[str, ...] = ()) -> Markup:
    """The ``page-strings`` block: the strings of the shared modules (api.js, events.js), of the
    given areas and the extra ``keys``, in the page's language."""
    return script_json({key: t[key] for key in (*area_keys("scripts", *areas), *keys)})


def to_login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


def _login_form(request: Request, status: int = 200, **ctx: Any) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    resp = render(request, "login.html", status, login_csrf=token, **ctx)
    secure = app_state(request).settings.security.secure_cookies
    resp.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/login")
    return resp


def safe_next(target: str) -> str:
    """Where to go after signing in: a path on this site only (never another host)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return _login_form(request, next=safe_next(next))


@router.post("/login")
async def login(
    request: Request,
    state: StateDep,
    username: str = Form(""),
    password: str = Form(""),
    tenant: str = Form(""),
    csrf_token: str = Form(""),
    next: str = Form("/"),
) -> Response:
    next = safe_next(next)
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    t = translator(pick_lang(request))
    if not cookie or not hmac.compare_digest(cookie, csrf_token):
        return _login_form(request, 403, error=t["bad_form"], username=username, tenant=tenant, next=next)
    try:
        issued = await sign_in(
            request,
            state,
            tenant=tenant.strip() or None,
            username=username.strip(),
            password=password,
            kind="browser",
        )
    except HotlineError as exc:
        return _login_form(request, exc.status, error=exc.detail, username=username, tenant=tenant, next=next)
    resp = RedirectResponse(next, status_code=303)
    resp.set_cookie(
        SESSION_COOKIE,
        issued.token,
        httponly=True,
        samesite="lax",
        secure=state.settings.security.secure_cookies,
        max_age=int(state.settings.security.session_hours * 3600),
    )
    resp.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return resp


@router.post("/logout")
async def logout(request: Request, state: StateDep, csrf_token: str = Form("")) -> Response:
    raw = request.cookies.get(SESSION_COOKIE, "")
    if raw:
        async with transaction(state.db) as s:
            try:
                row, _user = await sessions.resolve(s, raw, kind="browser")
            except HotlineError:
                row = None
            if row is not None:
                if not sessions.csrf_ok(row, csrf_token):
                    return Response("missing or wrong CSRF token", status_code=403)
                await sessions.revoke(s, row)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE)
    return resp


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    page = await page_user(request)
    if page is None:
        return RedirectResponse("/login", status_code=303)
    async with page.ctx.db() as s:
        unit = await s.get_one(Unit, page.user.unit_id)
    return render_page(request, page, "home.html", unit=unit)


@router.get("/lang")
async def switch_language(to: str = "zh-CN", back: str = "/") -> Response:
    resp = RedirectResponse(safe_next(back), status_code=303)
    resp.set_cookie("lang", to if to in LANGS else "zh-CN", samesite="lax", max_age=365 * 86400)
    return resp
