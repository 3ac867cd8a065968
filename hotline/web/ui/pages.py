"""Browser pages: sign in (session cookie + CSRF), home, sign out, language switch."""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from hotline.auth import sessions
from hotline.errors import HotlineError
from hotline.store.db import transaction
from hotline.store.models import Unit
from hotline.web.context import SESSION_COOKIE, StateDep, app_state, sign_in
from hotline.web.ui.i18n import LANGS, pick_lang, translator

templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "hotline_login_csrf"


def render(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    lang = pick_lang(request)
    ctx.setdefault("csrf_token", "")
    return templates.TemplateResponse(
        request, name, {"lang": lang, "t": translator(lang), **ctx}, status_code=status
    )


def _login_form(request: Request, status: int = 200, **ctx: Any) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    resp = render(request, "login.html", status, login_csrf=token, **ctx)
    secure = app_state(request).settings.security.secure_cookies
    resp.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/login")
    return resp


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> HTMLResponse:
    return _login_form(request)


@router.post("/login")
async def login(
    request: Request,
    state: StateDep,
    username: str = Form(""),
    password: str = Form(""),
    tenant: str = Form(""),
    csrf_token: str = Form(""),
) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    t = translator(pick_lang(request))
    if not cookie or not hmac.compare_digest(cookie, csrf_token):
        return _login_form(request, 403, error=t["bad_form"], username=username, tenant=tenant)
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
        return _login_form(request, exc.status, error=exc.detail, username=username, tenant=tenant)
    resp = RedirectResponse("/", status_code=303)
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
async def home(request: Request, state: StateDep) -> Response:
    raw = request.cookies.get(SESSION_COOKIE, "")
    if not raw:
        return RedirectResponse("/login", status_code=303)
    async with state.db() as s:
        try:
            row, user = await sessions.resolve(s, raw, kind="browser")
        except HotlineError:
            return RedirectResponse("/login", status_code=303)
        unit = await s.get_one(Unit, user.unit_id)
    return render(request, "home.html", user=user, unit=unit, csrf_token=row.csrf_token)


@router.get("/lang")
async def switch_language(to: str = "zh-CN") -> Response:
    resp = RedirectResponse("/", status_code=303)
    resp.set_cookie("lang", to if to in LANGS else "zh-CN", samesite="lax", max_age=365 * 86400)
    return resp
