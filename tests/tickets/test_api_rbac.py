"""Who may do what to which work order through the API (docs/access.md): the handler sees his
unit's queue and cannot review, the agent creates but does not handle, QA only reads, an
own-scope handler sees the orders he handles, other tenants' orders are 404."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient
from sqlalchemy import select, update

from hotline.auth.policy import Role, Scope
from hotline.auth.users import GrantSpec, add_user
from hotline.org import service as org
from hotline.store.db import transaction
from hotline.store.models import AuditEntry, Ticket, TicketAttachment, Unit
from tests.conftest import token_for
from tests.tickets.test_api import T, act, consultation, create, fault

PW = "Rbac-tickets-1"


async def _ids(c: AsyncClient, h: dict[str, str], **params: Any) -> set[int]:
    r = await c.get(T, params={"limit": 200, **params}, headers=h)
    assert r.status_code == 200, r.text
    return {x["id"] for x in r.json()["items"]}


async def test_handler_agent_qa_viewer(app_client: AsyncClient) -> None:
    c = app_client
    admin = await token_for(c, "admin")
    agent = await token_for(c, "li.na")
    handler = await token_for(c, "liu.yang")
    qa = await token_for(c, "zhao.min")
    viewer = await token_for(c, "sun.li")

    ds = await create(c, agent, fault())  # js.nj.jn.ds: liu.yang's unit
    jn = await create(c, agent, consultation(unit="js.nj.jn"))
    sz = await create(c, admin, consultation(unit="js.sz"))

    # the handler: exactly his unit (unit scope: not the parent, not a sibling)
    r = await c.get(T, params={"limit": 200}, headers=handler)
    assert {x["unit"] for x in r.json()["items"]} == {"js.nj.jn.ds"}
    assert ds["id"] in await _ids(c, handler) and not {jn["id"], sz["id"]} & await _ids(c, handler)
    assert (await c.get(f"{T}/{ds['id']}", headers=handler)).status_code == 200
    assert (await c.get(f"{T}/{jn['id']}", headers=handler)).status_code == 403
    assert (await c.get(f"{T}/{jn['id']}/history", headers=handler)).status_code == 403
    assert (await c.post(T, json=consultation(unit="js.nj.jn.ds"), headers=handler)).status_code == 403
    r = await c.patch(
        f"{T}/{ds['id']}", json={"version": ds["version"], "contact_name": "x"}, headers=handler
    )
    assert r.status_code == 403
    await act(c, handler, jn, "acknowledge", status=403)
    ds = await act(c, handler, ds, "acknowledge")
    ds = await act(c, handler, ds, "start")
    ds = await act(c, handler, ds, "reply", note="已处理")
    await act(c, handler, ds, "review", status=403)
    await act(c, handler, ds, "urge", status=403)
    assert (await c.get("/api/v1/customers/3201001001/tickets", headers=handler)).status_code == 200

    # the agent (subtree js.nj): creates and urges, never handles or reviews; js.sz is outside
    assert await _ids(c, agent) >= {ds["id"], jn["id"]} and sz["id"] not in await _ids(c, agent)
    assert (await c.post(T, json=consultation(unit="js.sz"), headers=agent)).status_code == 403
    assert (await c.get(f"{T}/{sz['id']}", headers=agent)).status_code == 403
    await act(c, agent, jn, "acknowledge", status=403)
    await act(c, agent, ds, "review", status=403)
    jn = await act(c, agent, jn, "urge", note="催办")
    r = await c.patch(
        f"{T}/{jn['id']}", json={"version": jn["version"], "contact_name": "吴女士"}, headers=agent
    )
    assert r.status_code == 200, r.text
    jn = r.json()

    # QA (subtree js): reads everything in Jiangsu, changes nothing
    assert await _ids(c, qa) >= {ds["id"], jn["id"], sz["id"]}
    one = (await c.get(f"{T}/{jn['id']}", headers=qa)).json()
    assert one["allowed"] == []
    assert (await c.post(T, json=consultation(unit="js.nj"), headers=qa)).status_code == 403
    r = await c.patch(f"{T}/{jn['id']}", json={"version": jn["version"], "contact_name": "x"}, headers=qa)
    assert r.status_code == 403
    for action in ("urge", "acknowledge", "cancel"):
        await act(c, qa, jn, action, status=403, note="x")

    # the viewer holds no ticket permission at all
    assert (await c.get(T, headers=viewer)).status_code == 403
    assert (await c.get(f"{T}/{jn['id']}", headers=viewer)).status_code == 403
    assert (await c.get("/api/v1/customers/3201001001/tickets", headers=viewer)).status_code == 403

    # refusals are audited
    async with c.app.state.hotline.db() as s:  # type: ignore[attr-defined]
        denied = list(
            await s.scalars(
                select(AuditEntry.action).where(
                    AuditEntry.outcome == "denied", AuditEntry.actor == "liu.yang"
                )
            )
        )
    assert "ticket.review" in denied and "ticket.write" in denied


async def test_own_scope_handler_sees_what_he_handles(app_client: AsyncClient) -> None:
    c = app_client
    db = c.app.state.hotline.db  # type: ignore[attr-defined]
    async with transaction(db) as s:
        sz = await s.scalar(select(Unit).where(Unit.code == "js.sz"))
        assert sz is not None
        me = await add_user(s, sz.tenant_id, "own.handler", unit=sz, password=PW,
                            grants=[GrantSpec(Role.HANDLER, Scope.OWN)])  # fmt: skip
    admin = await token_for(c, "admin")
    a = await create(c, admin, consultation(unit="js.nj.jn"))
    b = await create(c, admin, consultation(unit="js.nj.jn"))
    async with db.begin() as s:
        await s.execute(update(Ticket).where(Ticket.id == a["id"]).values(handler_id=me.id))
    h = await token_for(c, "own.handler", PW)
    assert await _ids(c, h) == {a["id"]}
    assert (await c.get(f"{T}/{a['id']}", headers=h)).status_code == 200
    assert (await c.get(f"{T}/{b['id']}", headers=h)).status_code == 403
    a = (await c.get(f"{T}/{a['id']}", headers=h)).json()
    assert a["allowed"] == ["forward", "acknowledge", "hold"]
    await act(c, h, a, "acknowledge")


async def test_other_tenants_orders_are_not_found(app_client: AsyncClient) -> None:
    c = app_client
    db = c.app.state.hotline.db  # type: ignore[attr-defined]
    async with transaction(db) as s:
        t = await org.add_tenant(s, "bank", "Bank hotline")
        root = await org.add_unit(s, t.id, "hq", "HQ", kind="center")
        await add_user(
            s, t.id, "bank.admin", unit=root, password=PW, grants=[GrantSpec(Role.ADMIN, Scope.TENANT)]
        )
        row = Ticket(
            tenant_id=t.id, number="GD20261123-9999999", type_code="consultation", state="dispatched",
            unit_id=root.id, subject="bank secret", description="", search=" bank secret ",
        )  # fmt: skip
        s.add(row)
        await s.flush()
        s.add(
            TicketAttachment(
                id="b" * 32, tenant_id=t.id, ticket_id=row.id, filename="x.txt", content_type="text/plain",
                size=1, sha256="0" * 64,
            )
        )  # fmt: skip
    admin = await token_for(c, "admin")
    for url in (
        f"{T}/{row.id}",
        f"{T}/{row.number}",
        f"{T}/{row.id}/history",
        f"{T}/{row.id}/attachments/{'b' * 32}",
    ):
        assert (await c.get(url, headers=admin)).status_code == 404, url
    r = await c.post(f"{T}/{row.id}/actions", json={"action": "urge", "version": 1}, headers=admin)
    assert r.status_code == 404
    r = await c.patch(f"{T}/{row.id}", json={"version": 1, "subject": "hijacked"}, headers=admin)
    assert r.status_code == 404
    assert row.id not in await _ids(c, admin)
    assert row.id not in await _ids(c, admin, q="bank secret")
    # bodies naming the other tenant's unit are 404 too
    assert (await c.post(T, json=consultation(unit=root.id), headers=admin)).status_code == 404
    # and the bank's admin does not see the demo tenant's orders
    own = await create(c, admin, consultation())
    bank = await token_for(c, "bank.admin", PW, tenant="bank")
    assert (await c.get(f"{T}/{own['id']}", headers=bank)).status_code == 404
    assert await _ids(c, bank) == {row.id}
    async with db() as s:
        stored = await s.get(Ticket, row.id)
        assert stored is not None and stored.subject == "bank secret"
