"""The administration application (/admin): server-rendered pages on the JSON API.

Pages read through the API's own handlers (called with the signed-in user's context, so the
same permission checks and data scopes apply) and the browser writes through the JSON API
(``static/js/admin.js``: session cookie + X-CSRF-Token, problem details shown next to the field
they name). Entering the area needs one of :data:`ADMIN_PERMS`; each section needs its read
permission (else a 403 page, audited) and shows edit controls only with its write permission.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args, get_origin

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from pydantic import BaseModel

from hotline.auth.policy import DEFAULT_SCOPE, TENANT_PATH, Perm, Resource, Role, Scope, allows
from hotline.cti.queues import QueueSettings
from hotline.errors import Forbidden, HotlineError, NotFound
from hotline.ivr.graph import flow_svg
from hotline.ivr.loader import parse_flow
from hotline.ivr.model import FLOW_NAME_PATTERN
from hotline.org.service import UNIT_KINDS
from hotline.store.types import valid_id
from hotline.web.api import agents as agents_api
from hotline.web.api import codes as codes_api
from hotline.web.api import extensions as ext_api
from hotline.web.api import ivr as ivr_api
from hotline.web.api import org as org_api
from hotline.web.api import profiles as profiles_api
from hotline.web.api import users as users_api
from hotline.web.ui.i18n import pick_lang, translator
from hotline.web.ui.pages import PageUser, page_user, render_page, script_strings, to_login

router = APIRouter(include_in_schema=False)

#: holding any of these opens the administration area
ADMIN_PERMS = (
    Perm.USER_WRITE,
    Perm.UNIT_WRITE,
    Perm.EXTENSION_WRITE,
    Perm.QUEUE_WRITE,
    Perm.IVR_WRITE,
    Perm.AUDIT_READ,
    Perm.TARIFF_WRITE,
    Perm.OUTAGE_WRITE,
)


@dataclass(frozen=True)
class Section:
    key: str
    path: str
    read: Perm
    write: Perm | None
    #: the records are tenant-wide (flows, numbers, codes): editing needs the write permission
    #: at tenant scope, so a city administrator sees them read-only
    tenant_wide: bool = False


SECTIONS = (
    Section("users", "/admin/users", Perm.USER_READ, Perm.USER_WRITE),
    Section("units", "/admin/units", Perm.UNIT_READ, Perm.UNIT_WRITE),
    Section("extensions", "/admin/extensions", Perm.EXTENSION_READ, Perm.EXTENSION_WRITE),
    Section("agents", "/admin/agents", Perm.USER_READ, Perm.USER_WRITE),
    Section("queues", "/admin/queues", Perm.QUEUE_READ, Perm.QUEUE_WRITE),
    Section("codes", "/admin/codes", Perm.QUEUE_READ, Perm.QUEUE_WRITE, tenant_wide=True),
    Section("ivr", "/admin/ivr", Perm.IVR_READ, Perm.IVR_WRITE, tenant_wide=True),
    Section("numbers", "/admin/numbers", Perm.IVR_READ, Perm.IVR_WRITE, tenant_wide=True),
    Section("customers", "/admin/customers", Perm.CUSTOMER_READ, Perm.CUSTOMER_WRITE),
    Section("tariffs", "/admin/tariffs", Perm.BILLING_READ, Perm.TARIFF_WRITE, tenant_wide=True),
    Section("outages", "/admin/outages", Perm.BILLING_READ, Perm.OUTAGE_WRITE),
    Section("audit", "/admin/audit", Perm.AUDIT_READ, None),
)
BY_KEY = {s.key: s for s in SECTIONS}

#: strings the admin scripts need besides those of the shared modules (pages.script_strings)
JS_STRINGS = (
    "adm_saved",
    "adm_saving",
    "adm_invalid_json",
    "adm_confirm_activate",
    "adm_no_issues",
    "adm_line",
    "adm_column",
    "adm_node",
    "adm_issues_found",
    "adm_unlocked",
    "adm_password_set",
    "adm_remove",
)


def _sections_for(page: PageUser) -> list[Section]:
    return [s for s in SECTIONS if page.can(s.read)]


async def _enter(request: Request, key: str | None) -> tuple[PageUser, bool] | Response:
    """The signed-in admin user and whether they may edit this section; or a redirect / 403."""
    page = await page_user(request)
    if page is None:
        return to_login(request)
    section = BY_KEY.get(key) if key else None
    allowed = any(page.can(p) for p in ADMIN_PERMS) and (section is None or page.can(section.read))
    if not allowed:
        perm = section.read if section else Perm.USER_WRITE
        try:
            await page.ctx.deny(perm, "admin_page", request.url.path)
        except Forbidden as exc:
            return _error_page(request, page, 403, exc.detail)
    can_edit = False
    if section is not None and section.write is not None:
        can_edit = tenant_wide(page, section.write) if section.tenant_wide else page.can(section.write)
    return page, can_edit


def tenant_wide(page: PageUser, perm: Perm) -> bool:
    """``perm`` over the tenant's tenant-wide records (calendars, flows, the number plan, codes)."""
    return allows(page.ctx.principal, perm, Resource("admin", page.ctx.tenant_id, TENANT_PATH))


def _error_page(request: Request, page: PageUser, status: int, detail: str) -> HTMLResponse:
    t = translator(pick_lang(request))
    title = t["adm_forbidden"] if status == 403 else t["adm_not_found"]
    return render_page(
        request,
        page,
        "admin/error.html",
        status,
        status_code=status,
        title=title,
        detail=detail,
        sections=_sections_for(page) if any(page.can(p) for p in ADMIN_PERMS) else [],
        section_key="",
    )


def _render(
    request: Request, page: PageUser, name: str, key: str, can_edit: bool, **ctx: Any
) -> HTMLResponse:
    t = translator(pick_lang(request))
    return render_page(
        request,
        page,
        name,
        sections=_sections_for(page),
        section_key=key,
        can_edit=can_edit,
        js_strings=script_strings(t, keys=JS_STRINGS),
        **ctx,
    )


async def _guard(request: Request, key: str | None, fn: Any) -> Response:
    entered = await _enter(request, key)
    if isinstance(entered, Response):
        return entered
    page, can_edit = entered
    try:
        result: Response = await fn(page, can_edit)
        return result
    except Forbidden as exc:
        return _error_page(request, page, 403, exc.detail)
    except NotFound as exc:
        return _error_page(request, page, 404, exc.detail)


def _dump(m: BaseModel | list[Any]) -> Any:
    if isinstance(m, list):
        return [_dump(x) for x in m]
    return m.model_dump(mode="json")


async def _units(page: PageUser) -> list[dict[str, Any]]:
    if not page.can(Perm.UNIT_READ):
        return []
    return _dump((await org_api.list_units(page.ctx, limit=1000, offset=0)).items)  # type: ignore[no-any-return]


async def _calendars(page: PageUser) -> list[dict[str, Any]]:
    if not page.can(Perm.UNIT_READ):
        return []
    return _dump(await org_api.list_calendars(page.ctx))  # type: ignore[no-any-return]


async def _users(page: PageUser) -> list[dict[str, Any]]:
    if not page.can(Perm.USER_READ):
        return []
    return _dump((await users_api.list_users(page.ctx, unit=None, limit=1000, offset=0)).items)  # type: ignore[no-any-return]


async def _queue_names(page: PageUser) -> list[str]:
    if not page.can(Perm.QUEUE_READ):
        return []
    return [q.name for q in await agents_api.list_queues(page.ctx)]


# -- overview ---------------------------------------------------------------------------------


@router.get("/admin", response_class=HTMLResponse)
async def overview(request: Request) -> Response:
    async def view(page: PageUser, _can_edit: bool) -> Response:
        return _render(request, page, "admin/overview.html", "", False)

    return await _guard(request, None, view)


# -- users ------------------------------------------------------------------------------------


def _grant_choices() -> dict[str, Any]:
    return {
        "roles": [r.value for r in Role],
        "scopes": [s.value for s in Scope],
        "default_scope": {r.value: DEFAULT_SCOPE[r].value for r in Role},
    }


@router.get("/admin/users", response_class=HTMLResponse)
async def users_page(request: Request) -> Response:
    async def view(page: PageUser, can_edit: bool) -> Response:
        units = await _units(page)
        return _render(
            request,
            page,
            "admin/users.html",
            "users",
            can_edit,
            users=await _users(page),
            unit_names={u["id"]: u["name"] for u in units},
            now=datetime.now().astimezone(),
        )

    return await _guard(request, "users", view)


@router.get("/admin/users/new", response_class=HTMLResponse)
async def user_new(request: Request) -> Response:
    async def view(page: PageUser, can_edit: bool) -> Response:
        if not can_edit:
            raise Forbidden("permission user.write is not granted")
        return _render(
            request,
            page,
            "admin/user_edit.html",
            "users",
            can_edit,
            edit_user=None,
            units=await _units(page),
            **_grant_choices(),
        )

    return await _guard(request, "users", view)


@router.get("/admin/users/{user_id}", response_class=HTMLResponse)
async def user_edit(request: Request, user_id: int) -> Response:
    async def view(page: PageUser, can_edit: bool) -> Response:
        user = _dump(await users_api.get_one(user_id, page.ctx))
        return _render(
            request,
            page,
            "admin/user_edit.html",
            "users",
            can_edit,
            edit_user=user,
            units=await _units(page),
            **_grant_choices(),
        )

    return await _guard(request, "users", view)


# -- units and calendars ---------------------------------------------------------------------

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@router.get("/admin/units", response_class=HTMLResponse)
async def units_page(request: Request) -> Response:
    async def view(page: PageUser, can_edit: bool) -> Response:
        return _render(
            request,
            page,
            "admin/units.html",
            "units",
            can_edit,
            units=await _units(page),
            calendars=await _calendars(page),
            kinds=UNIT_KINDS,
            can_edit_calendars=tenant_wide(page, Perm.UNIT_WRITE),
        )

    return await _guard(request, "units", view)


def _hours_text(intervals: list[Any]) -> str:
    return ", ".join(f"{a}-{b}" for a, b in intervals)


def _day_lines(items: list[Any], extra: str) -> str:
    out = []
    for item in items:
        if isinstance(item, dict):
            out.append(f"{item.get('date', '')} {item.get(extra, '')}".strip())
        else:
            out.append(str(item))
    return "\n".join(out)


@router.get("/admin/calendars/{cal_id}", response_class=HTMLResponse)
async def calendar_edit(request: Request, cal_id: str) -> Response:
    async def view(page: PageUser, can_edit: bool) -> Response:
        if cal_id == "new":
            if not tenant_wide(page, Perm.UNIT_WRITE):
                raise Forbidden("permission unit.write is not granted")
            cal: dict[str, Any] | None = None
        else:
            if not cal_id.isdecimal():
                raise NotFound(f"no calendar {cal_id!r}")
            cal = _dump(await org_api.get_calendar(int(cal_id), page.ctx))
        week = (cal or {}).get("week", {})
        return _render(
            request,
            page,
            "admin/calendar_edit.html",
            "units",
            tenant_wide(page, Perm.UNIT_WRITE),
            cal=cal,
            weekdays=WEEKDAYS,
            hours={d: _hours_text(week.get(d, [])) for d in WEEKDAYS},
            holidays=_day_lines((cal or {}).get("holidays", []), "name"),
            workdays=_day_lines((cal or {}).get("workdays", []), "as"),
        )

    return await _guard(request, "units", view)


# -- extensions -------------------------------------------------------------------------------


@router.get("/admin/extensions", response_class=HTMLResponse)
async def extensions_page(request: Request) -> Response:
    async def view(page: PageUser, can_edit: bool) -> Response:
        exts = _dump((await ext_api.list_extensions(page.ctx, limit=1000, offset=0)).items)
        units = await _units(page)
        return _render(
            request,
            page,
            "admin/extensions.html",
            "extensions",
            can_edit,
            extensions=exts,
            units=units,
            unit_names={u["id"]: u["name"] for u in units},
            users=await _users(page),
        )

    return await _guard(request, "extensions", view)


# -- agents (résumés) -------------------------------------------------------------------------


@router.get("/admin/agents", response_class=HTMLResponse)
async def agents_page(request: Request) -> Response:
    async def view(page: PageUser, can_edit: bool) -> Response:
        profiles = _dump(await profiles_api.list_profiles(page.ctx))
        have = {p["user_id"] for p in profiles}
        others = [u for u in await _users(page) if u["id"] not in have]
        return _render(
            request, page, "admin/agents.html", "agents", can_edit, profiles=profiles, others=others
        )

    return await _guard(request, "agents", view)


@router.get("/admin/agents/{user_id}", response_class=HTMLResponse)
async def agent_edit(request: Request, user_id: int) -> Response:
    async def view(page: PageUser, can_edit: bool) -> Response:
        profile = _dump(await profiles_api.get_profile(user_id, page.ctx))
        skills = "\n".join(f"{k} {v}" for k, v in profile["skills"].items())
        return _render(
            request,
            page,
            "admin/agent_edit.html",
            "agents",
            can_edit,
            profile=profile,
            skills_text=skills,
            queues=await _queue_names(page),
        )

    return await _guard(request, "agents", view)


# -- queues -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SettingField:
    name: str
    kind: str  # bool | select | int | float | text | json
    nullable: bool
    default: Any
    choices: tuple[str, ...] = ()


def _setting_fields() -> list[SettingField]:
    """The queue settings form, derived from :class:`QueueSettings` (new settings show up by
    themselves: scalars as inputs, nested rules as JSON)."""
    out = []
    for name, info in QueueSettings.model_fields.items():
        ann = info.annotation
        args = [a for a in get_args(ann) if a is not type(None)] if get_origin(ann) is not None else [ann]
        nullable = get_origin(ann) is not None and type(None) in get_args(ann)
        base = args[0] if len(args) == 1 else None
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            default = default.model_dump(mode="json")
        elif isinstance(default, list):
            default = [d.model_dump(mode="json") if isinstance(d, BaseModel) else d for d in default]
        choices: tuple[str, ...] = ()
        if base is bool:
            kind = "bool"
        elif isinstance(base, type) and issubclass(base, str) and base is not str:
            kind, choices = "select", tuple(m.value for m in base)  # type: ignore[attr-defined]
        elif base is int:
            kind = "int"
        elif base is float:
            kind = "float"
        elif base is str:
            kind = "text"
        else:
            kind = "json"
        if name == "language":
            kind, choices = "select", ("zh-CN", "en")
        default = getattr(default, "value", default)  # enums as their value
        out.append(SettingField(name, kind, nullable, default, choices))
    return out


@router.get("/admin/queues", response_class=HTMLResponse)
async def queues_page(request: Request) -> Response:
    async def view(page: PageUser, can_edit: bool) -> Response:
        queues = _dump(await agents_api.list_queues(page.ctx))
        units = await _units(page)
        return _render(
            request,
            page,
            "admin/queues.html",
            "queues",
            can_edit,
            queues=queues,
            unit_names={u["id"]: u["name"] for u in units},
        )

    return await _guard(request, "queues", view)


@router.get("/admin/queues/{name}", response_class=HTMLResponse)
async def queue_edit(request: Request, name: str) -> Response:
    async def view(page: PageUser, can_edit: bool) -> Response:
        if name == "+new":
            if not can_edit:
                raise Forbidden("permission queue.write is not granted")
            queue: dict[str, Any] | None = None
            settings: dict[str, Any] = {}
        else:
            queue = _dump(await agents_api.get_queue(name, page.ctx))
            settings = (queue or {}).get("settings", {})
        fields = _setting_fields()
        values = {}
        for f in fields:
            v = settings.get(f.name, f.default)
            if f.kind == "json":  # objects on one line, lists of rules one item a line
                v = json.dumps(v, ensure_ascii=False, indent=1 if isinstance(v, list) and v else None)
            elif isinstance(v, float) and v.is_integer():
                v = int(v)  # 25 rather than 25.0 in the form
            values[f.name] = v
        return _render(
            request,
            page,
            "admin/queue_edit.html",
            "queues",
            can_edit,
            queue=queue,
            fields=fields,
            values=values,
            units=await _units(page),
            calendars=await _calendars(page),
        )

    return await _guard(request, "queues", view)


# -- codes ------------------------------------------------------------------------------------


@router.get("/admin/codes", response_class=HTMLResponse)
async def codes_page(request: Request) -> Response:
    async def view(page: PageUser, can_edit: bool) -> Response:
        rows = _dump(await codes_api.all_codes(page.ctx))
        return _render(
            request,
            page,
            "admin/codes.html",
            "codes",
            can_edit,
            kinds=codes_api.KINDS,
            codes={k: [r for r in rows if r["kind"] == k] for k in codes_api.KINDS},
        )

    return await _guard(request, "codes", view)


# -- IVR flows and the number plan ------------------------------------------------------------


@router.get("/admin/ivr", response_class=HTMLResponse)
async def flows_page(request: Request) -> Response:
    async def view(page: PageUser, can_edit: bool) -> Response:
        flows = _dump(await ivr_api.list_flows(page.ctx))
        return _render(request, page, "admin/flows.html", "ivr", can_edit, flows=flows)

    return await _guard(request, "ivr", view)


NEW_FLOW = """name: {name}
language: zh-CN
start: hello
nodes:
  hello: {{type: play, prompt: "您好。", next: agent}}
  agent: {{type: queue, queue: general}}
"""


@router.get("/admin/ivr/{name}", response_class=HTMLResponse)
async def flow_edit(request: Request, name: str, version: int | None = None) -> Response:
    async def view(page: PageUser, can_edit: bool) -> Response:
        try:
            flow = _dump(await ivr_api.get_flow(name, page.ctx, version=version))
        except NotFound:
            if version is not None or not can_edit or not re.match(FLOW_NAME_PATTERN, name):
                raise
            flow = {"name": name, "active_version": None, "source": None, "versions": []}
        source = flow.get("source")
        shown = version or flow.get("active_version")
        graph = ""
        if source:
            try:
                graph = flow_svg(parse_flow(source, source=name), pick_lang(request))
            except HotlineError:
                graph = ""
        return _render(
            request,
            page,
            "admin/flow_edit.html",
            "ivr",
            can_edit,
            flow=flow,
            source=source if source is not None else NEW_FLOW.format(name=name),
            shown_version=shown,
            graph=Markup(graph),  # noqa: S704 - flow_svg escapes every text it draws
            is_new=not flow["versions"],
        )

    return await _guard(request, "ivr", view)


@router.get("/admin/numbers", response_class=HTMLResponse)
async def numbers_page(request: Request) -> Response:
    async def view(page: PageUser, can_edit: bool) -> Response:
        numbers = _dump(await ivr_api.list_numbers(page.ctx))
        flows = _dump(await ivr_api.list_flows(page.ctx))
        return _render(
            request,
            page,
            "admin/numbers.html",
            "numbers",
            can_edit,
            numbers=numbers,
            flow_names=[f["name"] for f in flows if f["active_version"]],
            calendars=await _calendars(page),
        )

    return await _guard(request, "numbers", view)


# -- audit ------------------------------------------------------------------------------------


@router.get("/admin/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request,
    actor: str = "",
    action: str = "",
    resource_type: str = "",
    outcome: str = "",
    before_id: int | None = None,
) -> Response:
    async def view(page: PageUser, can_edit: bool) -> Response:
        entries = _dump(
            await users_api.list_audit(
                page.ctx,
                actor=actor or None,
                action=action or None,
                resource_type=resource_type or None,
                resource_id=None,
                outcome=outcome or None,
                since=None,
                until=None,
                before_id=before_id if before_id is not None and valid_id(before_id) else None,
                limit=100,
            )
        )
        for e in entries:
            e["detail_text"] = json.dumps(e["detail"], ensure_ascii=False) if e["detail"] else ""
        return _render(
            request,
            page,
            "admin/audit.html",
            "audit",
            can_edit,
            entries=entries,
            filters={"actor": actor, "action": action, "resource_type": resource_type, "outcome": outcome},
            older=entries[-1]["id"] if len(entries) == 100 else None,
        )

    return await _guard(request, "audit", view)


@router.get("/admin/", include_in_schema=False)
async def trailing_slash() -> RedirectResponse:
    return RedirectResponse("/admin", status_code=307)
