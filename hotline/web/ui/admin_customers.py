"""Customer administration (/admin/customers): search, a customer's record (edit phones, class,
voltage, VIP, blacklist with reason, tags, addresses, PIN), the timeline with notes, and the
import form with the dry-run result table.

Pages read through the customers API's handlers (:mod:`hotline.web.api.customers`) with the
signed-in user's context, so the same permission checks, data scopes, private-data masking and
audit entries apply; the browser writes through the JSON API (``static/js/admin-customers.js``).
The section needs ``customer.read``; edit controls show with ``customer.write``.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from hotline.auth.policy import Perm, allows
from hotline.crm import customers as crm
from hotline.crm import timeline as tl
from hotline.crm.importer import HEADER_ALIASES
from hotline.web.api import customers as customers_api
from hotline.web.ui.admin import JS_STRINGS, _dump, _guard, _sections_for, _units, _users
from hotline.web.ui.i18n import pick_lang, translator
from hotline.web.ui.pages import PageUser, render_page, script_strings

router = APIRouter(include_in_schema=False)

SEARCH_BY = ("auto", "phone", "account_no", "name", "id_number")
PAGE_STRINGS = (
    *JS_STRINGS,
    "adc_import_running",
    "adc_import_done",
    "adc_import_dry_done",
    "adc_import_nothing",
    "adc_line",
    "adc_account",
    "adc_field",
    "adc_reason",
    "adc_action",
    "adc_fields",
    "adc_act_create",
    "adc_act_update",
    "adc_act_unchanged",
    "adc_pin_set",
    "adc_pin_removed",
    "adc_choose_file",
)
_ID_RE = re.compile(r"^[0-9]{17}[0-9Xx]$")
_PHONE_RE = re.compile(r"^[+0-9 ()-]{7,}$")


def _render(request: Request, page: PageUser, name: str, can_edit: bool, **ctx: Any) -> HTMLResponse:
    t = translator(pick_lang(request))
    return render_page(
        request,
        page,
        name,
        sections=_sections_for(page),
        section_key="customers",
        can_edit=can_edit,
        js_strings=script_strings(t, keys=PAGE_STRINGS),
        **ctx,
    )


async def _search(page: PageUser, q: str, by: str) -> list[dict[str, Any]]:
    async def run(**kw: Any) -> list[dict[str, Any]]:
        args: dict[str, Any] = {"phone": None, "account_no": None, "name": None, "id_number": None}
        args.update(kw)
        result = await customers_api.search(page.ctx, limit=100, offset=0, **args)
        return _dump(result.items)  # type: ignore[no-any-return]

    q = q.strip()
    if not q:
        return await run()
    if by != "auto":
        return await run(**{by: q})
    if _ID_RE.match(q):
        return await run(id_number=q)
    found = await run(account_no=q)
    if not found and _PHONE_RE.match(q):
        found = await run(phone=q)
    if not found:
        found = await run(name=q)
    return found


@router.get("/admin/customers", response_class=HTMLResponse)
async def customers_page(request: Request, q: str = "", by: str = "auto") -> Response:
    async def view(page: PageUser, can_edit: bool) -> Response:
        chosen = by if by in SEARCH_BY else "auto"
        return _render(
            request,
            page,
            "admin/customers.html",
            can_edit,
            customers=await _search(page, q[:100], chosen),
            q=q[:100],
            by=chosen,
            search_by=SEARCH_BY,
            units=await _units(page),
            classes=crm.CUSTOMER_CLASSES,
            voltages=crm.VOLTAGES,
            header_aliases=HEADER_ALIASES,
        )

    return await _guard(request, "customers", view)


@router.get("/admin/customers/{customer_id}", response_class=HTMLResponse)
async def customer_page(request: Request, customer_id: int, before: str | None = None) -> Response:
    async def view(page: PageUser, can_edit: bool) -> Response:
        customer = _dump(await customers_api.read(customer_id, page.ctx, call_id=None))
        async with page.ctx.db() as s:  # edit controls only where the write permission covers it
            res = await customers_api.customer_resource(
                s, await crm.get_customer(s, page.ctx.tenant_id, customer_id)
            )
        may_write = can_edit and allows(page.ctx.principal, Perm.CUSTOMER_WRITE, res)
        tline = await customers_api.timeline(customer_id, page.ctx, limit=50, before=before, kind=None)
        units = await _units(page)
        return _render(
            request,
            page,
            "admin/customer_edit.html",
            may_write,
            customer=customer,
            entries=_dump(tline.items),
            older=tline.next,
            units=units,
            unit_names={u["id"]: u["name"] for u in units},
            users=await _users(page),
            classes=crm.CUSTOMER_CLASSES,
            voltages=crm.VOLTAGES,
            channels=crm.CHANNELS,
            statuses=crm.STATUSES,
            address_kinds=crm.ADDRESS_KINDS,
            phones_text="\n".join(customer["phones"]),
            tags_text=", ".join(customer["tags"]),
            addresses_text="\n".join(f"{a['kind']}: {a['text']}" for a in customer["addresses"]),
            entry_kinds=tl.KINDS,
        )

    return await _guard(request, "customers", view)
