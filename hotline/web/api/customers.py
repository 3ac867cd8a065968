"""Customer records (户): search, read, create, change, PIN, timeline, notes, import.

Private data (ID number in full, full addresses, phones, e-mail) is shown only to a principal
holding ``customer.private`` over the customer, or on a call whose caller was verified as this
customer (``?call_id=``: the IVR PIN or an agent-recorded verification); otherwise the masked ID
number, the district part of the address and masked phones. Every read is written to the audit
log (``customer.read``, or ``customer.private.read`` when private fields were shown;
``customer.search``; ``customer.timeline``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline import audit
from hotline.auth.policy import Perm, Resource, allows, data_scope
from hotline.crm import customers as crm
from hotline.crm import timeline as tl
from hotline.crm.importer import import_customers
from hotline.crm.protect import IdProtector, canonical_id, mask_address, mask_id
from hotline.errors import Invalid
from hotline.org import service as org
from hotline.store.db import transaction
from hotline.store.lookup import unit_path
from hotline.store.models import Customer, CustomerPhone, Unit
from hotline.web.api.org import scope_filter
from hotline.web.api.schemas import MAX_OFFSET, Page, Strict
from hotline.web.context import Ctx, CtxDep

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])

MAX_IMPORT_BYTES = 50 * 1024 * 1024


class AddressIn(Strict):
    kind: str = Field("other", examples=["mailing"], description="home, mailing, billing, work or other")
    text: str = Field(examples=["南京市鼓楼区中山北路 101 号"])


class CustomerIn(Strict):
    account_no: str = Field(examples=["3201001234"])
    name: str = Field(examples=["王芳"])
    unit: str | int = Field(examples=["js.nj.jn"], description="supply unit code or id")
    customer_class: str = Field("urban_resident", examples=["urban_resident"])
    voltage: str = Field("220V", examples=["220V"], description="220V 380V 10kV 20kV 35kV 110kV 220kV")
    phone: str = Field("", examples=["13912345678"], description="the primary phone (or give phones)")
    phones: list[str] = Field(default_factory=list, examples=[["13912345678", "025-52100001"]], max_length=5)
    address: str = Field("", examples=["南京市江宁区东山街道金宝路 8 号"])
    addresses: list[AddressIn] = Field(default_factory=list, max_length=10)
    id_number: str = Field("", examples=["11010519491231002X"], description="stored encrypted, shown masked")
    vip: bool = False
    dedicated_agent_id: int | None = None
    preferred_channel: str = Field("sms", examples=["sms"], description="sms, voice, email, wechat or none")
    email: str = ""
    blacklisted: bool = False
    blacklist_reason: str = ""
    tags: list[str] = Field(default_factory=list, examples=[["低保"]])
    feeder: str = Field("", examples=["F-101"])
    transformer_area: str = Field("", examples=["TA-7"])
    tariff_code: str = ""
    capacity_kva: str = Field("0", examples=["630"], description="contracted capacity (合同容量), kVA")
    status: str = Field("active", examples=["active"], description="active, suspended or closed")


class CustomerPatch(Strict):
    account_no: str | None = None
    name: str | None = None
    unit: str | int | None = Field(None, description="move to another supply unit (code or id)")
    customer_class: str | None = None
    voltage: str | None = None
    phone: str | None = Field(None, description="replaces all phones by this one (or use phones)")
    phones: list[str] | None = Field(None, max_length=5)
    address: str | None = None
    addresses: list[AddressIn] | None = Field(None, max_length=10)
    id_number: str | None = Field(None, description='"" removes it')
    vip: bool | None = None
    dedicated_agent_id: int | None = Field(None, description="null removes the dedicated agent")
    preferred_channel: str | None = None
    email: str | None = None
    blacklisted: bool | None = None
    blacklist_reason: str | None = None
    tags: list[str] | None = None
    feeder: str | None = None
    transformer_area: str | None = None
    tariff_code: str | None = None
    capacity_kva: str | None = None
    status: str | None = None


class CustomerOut(BaseModel):
    id: int
    account_no: str
    name: str
    unit_id: int
    customer_class: str
    voltage: str = "220V"
    #: the primary phone (masked unless private)
    phone: str
    phones: list[str] = []
    #: the supply address (only its district part, "南京市江宁区…", unless private)
    address: str
    masked_address: str = ""
    addresses: list[dict[str, str]] = []
    #: masked ("320102********1234") unless private
    id_number: str = ""
    vip: bool = False
    dedicated_agent_id: int | None
    preferred_channel: str = "sms"
    email: str = ""
    blacklisted: bool = False
    blacklist_reason: str = ""
    tags: list[str] = []
    feeder: str = ""
    transformer_area: str = ""
    tariff_code: str = ""
    #: contracted capacity in kVA, a decimal string ("630.00")
    capacity_kva: str = "0.00"
    status: str = "active"
    has_pin: bool = False
    #: whether the private fields are shown in full
    private: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None


def customer_out(
    c: Customer,
    *,
    phones: list[str] | None = None,
    private: bool = False,
    protector: IdProtector | None = None,
) -> CustomerOut:
    """The API form of a customer; without ``private`` the private fields are masked or left out."""
    phones = phones if phones is not None else ([c.phone] if c.phone else [])
    id_number = c.id_number_mask
    if private and protector is not None and c.id_number_enc:
        id_number = crm.reveal_id_number(c, protector)
    return CustomerOut(
        id=c.id,
        account_no=c.account_no,
        name=c.name,
        unit_id=c.unit_id,
        customer_class=c.customer_class,
        voltage=c.voltage,
        phone=c.phone if private else crm.mask_phone(c.phone) if c.phone else "",
        phones=phones if private else [crm.mask_phone(p) for p in phones],
        address=c.address if private else mask_address(c.address),
        masked_address=mask_address(c.address),
        addresses=list(c.addresses or []) if private else [],
        id_number=id_number,
        vip=c.vip,
        dedicated_agent_id=c.dedicated_agent_id,
        preferred_channel=c.preferred_channel,
        email=c.email if private else "",
        blacklisted=c.blacklisted,
        blacklist_reason=c.blacklist_reason,
        tags=list(c.tags or []),
        feeder=c.feeder,
        transformer_area=c.transformer_area,
        tariff_code=c.tariff_code,
        capacity_kva=str(c.capacity_kva),
        status=c.status,
        has_pin=bool(c.pin_hash),
        private=private,
        created_at=c.created_at,
        updated_at=c.updated_at,
    )


async def customer_resource(s: AsyncSession, c: Customer) -> Resource:
    path = await unit_path(s, c.unit_id)
    return Resource("customer", c.tenant_id, path or "", c.dedicated_agent_id, str(c.id))


def protector_of(ctx: Ctx) -> IdProtector:
    return IdProtector.for_settings(ctx.state.settings)


async def _phones_by_customer(s: AsyncSession, customers: list[Customer]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {c.id: [] for c in customers}
    if not out:
        return out
    rows = await s.execute(
        select(CustomerPhone.customer_id, CustomerPhone.phone)
        .where(CustomerPhone.customer_id.in_(list(out)))
        .order_by(CustomerPhone.id)
    )
    for cid, p in rows:
        out[cid].append(p)
    for c in customers:
        if c.phone in out[c.id]:
            out[c.id].remove(c.phone)
            out[c.id].insert(0, c.phone)
    return out


async def _may_see_private(
    ctx: Ctx, s: AsyncSession, c: Customer, res: Resource, call_id: str | None
) -> bool:
    if allows(ctx.principal, Perm.CUSTOMER_PRIVATE, res):
        return True
    return bool(call_id) and await crm.verified_on_call(s, c, call_id or "")


@router.get("", response_model=Page[CustomerOut], summary="Search customers you may see (audited)")
async def search(
    ctx: CtxDep,
    phone: str | None = Query(None, examples=["13912345678"], description="any of the customer's phones"),
    account_no: str | None = Query(None, examples=["3201001001"]),
    name: str | None = Query(None, examples=["周"], description="name prefix"),
    id_number: str | None = Query(None, examples=["11010519491231002X"], description="exact ID number"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> Page[CustomerOut]:
    await ctx.require_any(Perm.CUSTOMER_READ, "customer")
    protector = protector_of(ctx)
    id_hash = protector.search_hash(id_number) if id_number else None
    q = crm.search_query(ctx.tenant_id, phone=phone, account_no=account_no, name=name, id_hash=id_hash)
    q = q.add_columns(Unit.path)
    scoped = scope_filter(
        q, data_scope(ctx.principal, Perm.CUSTOMER_READ), Unit.path, Customer.dedicated_agent_id
    )
    async with transaction(ctx.db) as s:
        rows = (
            []
            if scoped is None
            else (await s.execute(scoped.order_by(Customer.id).limit(limit).offset(offset))).all()
        )
        customers = [r[0] for r in rows]
        phones = await _phones_by_customer(s, customers)
        items = []
        private_ids = []
        for c, path in rows:
            res = Resource("customer", c.tenant_id, path or "", c.dedicated_agent_id, str(c.id))
            private = allows(ctx.principal, Perm.CUSTOMER_PRIVATE, res)
            if private:
                private_ids.append(c.id)
            items.append(customer_out(c, phones=phones[c.id], private=private, protector=protector))
        audit.record(
            s,
            "customer.search",
            principal=ctx.principal,
            resource_type="customer",
            resource_id=",".join(str(c.id) for c in customers[:10]),
            detail={
                "phone": phone,
                "account_no": account_no,
                "name": name,
                "id_number": mask_id(canonical_id(id_number)) if id_number else None,
                "returned": len(customers),
                "ids": [c.id for c in customers],
                "private_ids": private_ids,
            },
        )
    return Page(items=items, limit=limit, offset=offset)


def _changes(body: BaseModel) -> dict[str, Any]:
    out = {
        k: v
        for k, v in body.model_dump(exclude_unset=True).items()
        if k not in ("unit", "dedicated_agent_id")
    }
    return {k: v for k, v in out.items() if v is not None}


@router.post("", response_model=CustomerOut, status_code=201, summary="Create a customer record")
async def create(body: CustomerIn, ctx: CtxDep) -> CustomerOut:
    protector = protector_of(ctx)
    async with transaction(ctx.db) as s:
        unit = await org.get_unit(s, ctx.tenant_id, body.unit)
        res = Resource("customer", ctx.tenant_id, unit.path, body.dedicated_agent_id)
        await ctx.authorize(Perm.CUSTOMER_WRITE, res)
        if body.dedicated_agent_id is not None:
            from hotline.auth.users import get_user

            await get_user(s, ctx.tenant_id, body.dedicated_agent_id)
        fields = body.model_dump(exclude={"unit", "account_no", "name", "customer_class", "phone", "address",
                                          "dedicated_agent_id"})  # fmt: skip
        c = await crm.add_customer(
            s,
            ctx.tenant_id,
            unit=unit,
            account_no=body.account_no,
            name=body.name,
            customer_class=body.customer_class,
            phone=body.phone,
            address=body.address,
            dedicated_agent_id=body.dedicated_agent_id,
            protector=protector,
            **fields,
        )
        audit.record(
            s, "customer.create", principal=ctx.principal, resource_type="customer", resource_id=c.id
        )
        private = allows(ctx.principal, Perm.CUSTOMER_PRIVATE, res)
        return customer_out(c, phones=await crm.phones_of(s, c), private=private, protector=protector)


@router.get("/{customer_id}", response_model=CustomerOut, summary="One customer record (audited)")
async def read(
    customer_id: int,
    ctx: CtxDep,
    call_id: str | None = Query(
        None,
        max_length=64,
        description="the call being served: private fields show once its caller was verified",
    ),
) -> CustomerOut:
    async with transaction(ctx.db) as s:
        c = await crm.get_customer(s, ctx.tenant_id, customer_id)
        res = await customer_resource(s, c)
        await ctx.authorize(Perm.CUSTOMER_READ, res)
        private = await _may_see_private(ctx, s, c, res, call_id)
        audit.record(
            s,
            "customer.private.read" if private else "customer.read",
            principal=ctx.principal,
            resource_type="customer",
            resource_id=c.id,
            detail={"call_id": call_id} if call_id else None,
        )
        return customer_out(c, phones=await crm.phones_of(s, c), private=private, protector=protector_of(ctx))


@router.patch("/{customer_id}", response_model=CustomerOut, summary="Change a customer record")
async def patch(customer_id: int, body: CustomerPatch, ctx: CtxDep) -> CustomerOut:
    protector = protector_of(ctx)
    async with transaction(ctx.db) as s:
        c = await crm.get_customer(s, ctx.tenant_id, customer_id)
        res = await customer_resource(s, c)
        await ctx.authorize(Perm.CUSTOMER_WRITE, res)
        unit = None
        agent: int | crm.Keep | None = crm.KEEP
        if "dedicated_agent_id" in body.model_fields_set:
            agent = body.dedicated_agent_id
            if agent is not None:
                from hotline.auth.users import get_user

                await get_user(s, ctx.tenant_id, agent)
        if body.unit is not None:
            unit = await org.get_unit(s, ctx.tenant_id, body.unit)
        if unit is not None or not isinstance(agent, crm.Keep):
            new_owner = c.dedicated_agent_id if isinstance(agent, crm.Keep) else agent
            new_path = unit.path if unit is not None else res.unit_path
            await ctx.authorize(
                Perm.CUSTOMER_WRITE, Resource("customer", ctx.tenant_id, new_path, new_owner, str(c.id))
            )
        changes = _changes(body)
        if "addresses" in changes:
            changes["addresses"] = [dict(a) for a in changes["addresses"]]
        if "phone" in changes and "phones" not in changes:
            changes["phones"] = []  # the one number replaces all
        changed = await crm.update_customer(
            s, c, changes, unit=unit, dedicated_agent_id=agent, protector=protector
        )
        audit.record(
            s,
            "customer.update",
            principal=ctx.principal,
            resource_type="customer",
            resource_id=c.id,
            detail={"fields": changed},
        )
        res = await customer_resource(s, c)
        private = allows(ctx.principal, Perm.CUSTOMER_PRIVATE, res)
        return customer_out(c, phones=await crm.phones_of(s, c), private=private, protector=protector)


class PinIn(Strict):
    pin: str | None = Field(examples=["123456"], description="4-8 digits; null removes the PIN")


@router.put("/{customer_id}/pin", status_code=204, summary="Set or remove the customer's authorisation PIN")
async def set_pin(customer_id: int, body: PinIn, ctx: CtxDep) -> Response:
    async with transaction(ctx.db) as s:
        c = await crm.get_customer(s, ctx.tenant_id, customer_id)
        await ctx.authorize(Perm.CUSTOMER_WRITE, await customer_resource(s, c))
        await crm.set_pin(s, c, body.pin)
        audit.record(
            s,
            "customer.pin",
            principal=ctx.principal,
            resource_type="customer",
            resource_id=c.id,
            detail={"set": bool(body.pin)},
        )
    return Response(status_code=204)


class CallFacts(BaseModel):
    id: str
    direction: str
    caller: str
    started_at: datetime | None
    ended_at: datetime | None
    duration_seconds: float | None
    talk_seconds: float | None
    queue: str
    disposition: str
    agent_id: int | None


class EntryOut(BaseModel):
    id: int
    at: datetime
    kind: str
    channel: str
    ref: str
    summary: str
    agent_id: int | None
    agent_name: str
    detail: dict[str, Any]
    call: CallFacts | None = None


class TimelineOut(BaseModel):
    items: list[EntryOut]
    #: pass as ``before`` for the next (older) page; null at the end
    next: str | None


def entry_out(e: tl.Entry) -> EntryOut:
    return EntryOut(
        id=e.id,
        at=e.at,
        kind=e.kind,
        channel=e.channel,
        ref=e.ref,
        summary=e.summary,
        agent_id=e.agent_id,
        agent_name=e.agent_name,
        detail=e.detail,
        call=CallFacts(**e.call) if e.call else None,
    )


@router.get(
    "/{customer_id}/timeline", response_model=TimelineOut, summary="Contact history, newest first (audited)"
)
async def timeline(
    customer_id: int,
    ctx: CtxDep,
    limit: int = Query(50, ge=1, le=200),
    before: str | None = Query(None, max_length=80, description="the `next` cursor of the previous page"),
    kind: list[str] | None = Query(None, description="only these kinds (call, note, ticket, …)"),
) -> TimelineOut:
    async with transaction(ctx.db) as s:
        c = await crm.get_customer(s, ctx.tenant_id, customer_id)
        await ctx.authorize(Perm.CUSTOMER_READ, await customer_resource(s, c))
        items, nxt = await tl.entries(
            s, ctx.tenant_id, c.id, limit, before, kinds=tuple(kind) if kind else None
        )
        audit.record(
            s,
            "customer.timeline",
            principal=ctx.principal,
            resource_type="customer",
            resource_id=c.id,
            detail={"returned": len(items)},
        )
    return TimelineOut(items=[entry_out(e) for e in items], next=nxt)


class NoteIn(Strict):
    text: str = Field(
        min_length=1, max_length=tl.MAX_SUMMARY, examples=["客户来电询问电费，已解释阶梯电价。"]
    )
    ref: str = Field("", max_length=64, description="a call or work-order id the note is about")


@router.post(
    "/{customer_id}/notes", response_model=EntryOut, status_code=201, summary="Add a note to the timeline"
)
async def add_note(customer_id: int, body: NoteIn, ctx: CtxDep) -> EntryOut:
    async with transaction(ctx.db) as s:
        c = await crm.get_customer(s, ctx.tenant_id, customer_id)
        await ctx.authorize(Perm.CUSTOMER_WRITE, await customer_resource(s, c))
        if not body.text.strip():
            raise Invalid("text must not be empty", field="text")
        e = await tl.add_entry(
            s,
            ctx.tenant_id,
            c.id,
            kind="note",
            channel="system",
            ref=body.ref,
            summary=body.text,
            agent_id=ctx.principal.user_id,
        )
        audit.record(
            s,
            "customer.note",
            principal=ctx.principal,
            resource_type="customer",
            resource_id=c.id,
            detail={"entry": e.id},
        )
        return EntryOut(
            id=e.id,
            at=e.at,
            kind=e.kind,
            channel=e.channel,
            ref=e.ref,
            summary=e.summary,
            agent_id=e.agent_id,
            agent_name=ctx.principal.username,
            detail=e.detail,
        )


class RowErrorOut(BaseModel):
    line: int
    field: str
    reason: str
    account_no: str


class RowChangeOut(BaseModel):
    line: int
    account_no: str
    action: str
    fields: list[str]


class ImportOut(BaseModel):
    file: str
    dry_run: bool
    strict: bool
    written: bool
    total: int
    created: int
    updated: int
    unchanged: int
    rejected: int
    ignored_columns: list[str]
    errors: list[RowErrorOut]
    #: the first 2,000 rows' outcome (create, update with the fields, unchanged)
    changes: list[RowChangeOut]
    seconds: float


@router.post(
    "/import",
    response_model=ImportOut,
    summary="Import customers from CSV or XLSX (customer.write at each row's unit; audited)",
)
async def import_file(
    ctx: CtxDep,
    file: Annotated[UploadFile, File(description="CSV (UTF-8 or GBK) or XLSX; see hotline/crm/importer.py")],
    dry_run: Annotated[bool, Form()] = False,
    strict: Annotated[bool, Form()] = True,
    unit_default: Annotated[str | None, Form(max_length=64)] = None,
) -> ImportOut:
    await ctx.require_any(Perm.CUSTOMER_WRITE, "customer")
    data = await file.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise Invalid(f"the file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB", field="file")
    principal = ctx.principal

    def may_write(path: str, owner: int | None) -> bool:
        return allows(principal, Perm.CUSTOMER_WRITE, Resource("customer", principal.tenant_id, path, owner))

    r = await import_customers(
        ctx.db,
        ctx.tenant_id,
        data,
        file.filename or "upload.csv",
        protector=protector_of(ctx),
        dry_run=dry_run,
        strict=strict,
        default_unit=unit_default or None,
        principal=principal,
        authorize=may_write,
    )
    return ImportOut(
        file=r.file,
        dry_run=r.dry_run,
        strict=r.strict,
        written=r.written,
        total=r.total,
        created=r.created,
        updated=r.updated,
        unchanged=r.unchanged,
        rejected=r.rejected,
        ignored_columns=r.ignored_columns,
        errors=[
            RowErrorOut(line=e.line, field=e.field, reason=e.reason, account_no=e.account_no)
            for e in r.errors
        ],
        changes=[
            RowChangeOut(line=c.line, account_no=c.account_no, action=c.action, fields=list(c.fields))
            for c in r.changes
        ],
        seconds=round(r.seconds, 3),
    )
