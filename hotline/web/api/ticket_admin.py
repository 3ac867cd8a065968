"""Work-order administration: the SLA policy, ticket types and dispatch rules of a tenant.

Reading needs ``ticket.read``; every change needs ``ticket.admin`` (tenant scope) and is audited.
Invalid documents are refused with 422 listing every problem with its path (``errors``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select

from hotline import audit
from hotline.auth.policy import TENANT_PATH, Perm, Resource
from hotline.errors import Invalid
from hotline.store.db import transaction
from hotline.store.models import TenantSetting, TicketTypeDef
from hotline.store.types import utcnow
from hotline.tickets import dispatch, sla
from hotline.tickets import service as tickets
from hotline.tickets.deadlines import AREA_CLASSES, STEPS, check_policy
from hotline.tickets.steps import DEFAULT_STEP_MAP, check_step_map
from hotline.tickets.workflow import DEFAULT_TYPES, TicketType
from hotline.web.api.schemas import Strict
from hotline.web.context import Ctx, CtxDep

router = APIRouter(tags=["tickets"])
PREFIX = "/api/v1/tickets"

POLICY_EXAMPLE: dict[str, Any] = {
    "rules": [
        {
            "type": "fault_repair",
            "urgency": "*",
            "steps": [
                {
                    "step": "dispatch",
                    "minutes": 10,
                    "warn": {"percent": 80},
                    "escalate": {"after_minutes": 0, "repeat_every_minutes": 60, "max_times": 3},
                },
                {"step": "arrive", "by_area": {"urban": 45, "rural": 90, "remote": 120}},
            ],
        },
        {
            "type": "complaint",
            "urgency": "*",
            "steps": [{"step": "reply", "working_days": 5, "clock": "working", "warn": {"percent": 80}}],
        },
    ]
}


def _invalid(what: str, issues: list[tuple[str, str]]) -> Invalid:
    exc = Invalid(
        f"invalid {what}: " + "; ".join(f"{p}: {r}" if p else r for p, r in issues),
        field=issues[0][0] or None,
    )
    exc.errors = [{"field": p or "body", "reason": r} for p, r in issues]  # type: ignore[attr-defined]
    return exc


async def _admin(ctx: Ctx, what: str, ident: str = "") -> None:
    await ctx.authorize(Perm.TICKET_ADMIN, Resource(what, ctx.tenant_id, TENANT_PATH, id=ident))


# -- SLA policy -----------------------------------------------------------------------------------


class PolicyOut(BaseModel):
    policy: dict[str, Any] = Field(description="the policy document (see the PUT body)")
    default: bool = Field(description="true: the tenant has no policy of its own (the built-in one applies)")
    updated_at: datetime | None
    steps: list[str] = Field(description="step names a rule may use")
    area_classes: list[str]


def _policy_doc(policy: Any) -> dict[str, Any]:
    doc: dict[str, Any] = policy.model_dump(mode="json", exclude_none=True)
    return doc


@router.get(
    PREFIX + "/sla-policy",
    response_model=PolicyOut,
    summary="The tenant's deadline policy (SLA) per ticket type, urgency and step",
)
async def get_sla_policy(ctx: CtxDep) -> PolicyOut:
    await ctx.require_any(Perm.TICKET_READ, "ticket")
    async with ctx.db() as s:
        row = await s.scalar(
            select(TenantSetting).where(
                TenantSetting.tenant_id == ctx.tenant_id, TenantSetting.key == sla.SETTING_KEY
            )
        )
        policy = await sla.policy_for(s, ctx.tenant_id)
    return PolicyOut(
        policy=_policy_doc(policy),
        default=row is None,
        updated_at=row.updated_at if row is not None else None,
        steps=list(STEPS),
        area_classes=list(AREA_CLASSES),
    )


@router.put(
    PREFIX + "/sla-policy",
    response_model=PolicyOut,
    summary="Replace the tenant's deadline policy (audited)",
    description="`rules`: one per ticket `type` and `urgency` (`*` = any) with its `steps`, each with "
    "exactly one of `minutes`, `working_days` (needs `clock: working`: the responsible unit's "
    "calendar) or `by_area` (urban/rural/remote), an optional `warn` (`percent` or "
    "`before_minutes`) and `escalate` (`after_minutes`, `repeat_every_minutes`, `max_times`, "
    "`climb`). 422 lists every problem with its path. Running steps follow the new policy from "
    "their next event (a timer, a transition).",
)
async def put_sla_policy(ctx: CtxDep, doc: dict[str, Any] = Body(examples=[POLICY_EXAMPLE])) -> PolicyOut:
    await _admin(ctx, "ticket_sla")
    policy, issues = check_policy(doc)
    if policy is None:
        raise _invalid("SLA policy", [(i.path, i.reason) for i in issues])
    now = utcnow()
    value = _policy_doc(policy)
    async with transaction(ctx.db) as s:
        row = await s.scalar(
            select(TenantSetting).where(
                TenantSetting.tenant_id == ctx.tenant_id, TenantSetting.key == sla.SETTING_KEY
            )
        )
        if row is None:
            row = TenantSetting(tenant_id=ctx.tenant_id, key=sla.SETTING_KEY)
            s.add(row)
        row.value = value
        row.updated_at = now
        audit.record(
            s,
            "ticket.sla_policy.update",
            principal=ctx.principal,
            resource_type="ticket_sla",
            resource_id=ctx.tenant_id,
            detail={"rules": [f"{r.type}/{r.urgency}" for r in policy.rules]},
        )
    sla.forget_policy(ctx.tenant_id)
    return PolicyOut(
        policy=value, default=False, updated_at=now, steps=list(STEPS), area_classes=list(AREA_CLASSES)
    )


class StepMapOut(BaseModel):
    steps: dict[str, dict[str, Any]] = Field(
        description="per action (accept = creation): the steps it starts, finishes (done), starts anew "
        "(restart) and whether it cancels every running step (cancel_all)"
    )
    default: bool
    updated_at: datetime | None


def _map_doc(m: Any) -> dict[str, dict[str, Any]]:
    return {a: r.model_dump(mode="json") for a, r in m.items()}


@router.get(
    PREFIX + "/sla-steps",
    response_model=StepMapOut,
    summary="Which workflow action starts, finishes or restarts which deadline step",
)
async def get_sla_steps(ctx: CtxDep) -> StepMapOut:
    await ctx.require_any(Perm.TICKET_READ, "ticket")
    async with ctx.db() as s:
        row = await s.scalar(
            select(TenantSetting).where(
                TenantSetting.tenant_id == ctx.tenant_id, TenantSetting.key == sla.STEPS_KEY
            )
        )
        m = await sla.step_map_for(s, ctx.tenant_id)
    return StepMapOut(steps=_map_doc(m), default=row is None, updated_at=row.updated_at if row else None)


@router.put(
    PREFIX + "/sla-steps",
    response_model=StepMapOut,
    summary="Replace the action → deadline steps map (audited)",
    description="The actions named replace the built-in map's; the others keep the built-in rules. "
    "422 lists every problem with its path.",
)
async def put_sla_steps(
    ctx: CtxDep,
    doc: dict[str, Any] = Body(
        examples=[{"accept": {"start": ["dispatch", "contact"]}, "reply": {"done": ["contact"]}}]
    ),
) -> StepMapOut:
    await _admin(ctx, "ticket_sla_steps")
    m, problems = check_step_map(doc)
    if m is None:
        raise _invalid("step map", problems)
    now = utcnow()
    async with transaction(ctx.db) as s:
        row = await s.scalar(
            select(TenantSetting).where(
                TenantSetting.tenant_id == ctx.tenant_id, TenantSetting.key == sla.STEPS_KEY
            )
        )
        if row is None:
            row = TenantSetting(tenant_id=ctx.tenant_id, key=sla.STEPS_KEY)
            s.add(row)
        row.value = _map_doc(m)
        row.updated_at = now
        audit.record(
            s,
            "ticket.sla_steps.update",
            principal=ctx.principal,
            resource_type="ticket_sla_steps",
            resource_id=ctx.tenant_id,
            detail={"actions": sorted(m)},
        )
    sla.forget_policy(ctx.tenant_id)
    return StepMapOut(steps=_map_doc({**DEFAULT_STEP_MAP, **m}), default=False, updated_at=now)


# -- ticket types ---------------------------------------------------------------------------------


class TypeOut(BaseModel):
    code: str
    label: str
    source: str = Field(description="default (built in) or tenant (the tenant's own definition)")
    active: bool
    version: int | None
    updated_at: datetime | None
    doc: dict[str, Any] = Field(description="the type document: form fields, subtypes, urgencies, workflow")


def _type_out(t: TicketType, row: TicketTypeDef | None) -> TypeOut:
    return TypeOut(
        code=t.code,
        label=t.label,
        source="tenant" if row is not None else "default",
        active=row.active if row is not None else True,
        version=row.version if row is not None else None,
        updated_at=row.updated_at if row is not None else None,
        doc=t.model_dump(mode="json"),
    )


def _type_issues(doc: dict[str, Any]) -> tuple[TicketType | None, list[tuple[str, str]]]:
    try:
        return TicketType.model_validate(doc), []
    except ValidationError as exc:
        issues: list[tuple[str, str]] = []
        for e in exc.errors():
            path = ""
            for part in e["loc"]:
                path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
            msg = "unknown field" if e["type"] == "extra_forbidden" else str(e["msg"])
            msg = msg.removeprefix("Value error, ")
            if not path and ": " in msg:
                path = msg.split(": ", 1)[0]
            issues.append((path, msg))
        return None, issues


@router.get(PREFIX + "/types", response_model=list[TypeOut], summary="The tenant's ticket types (effective)")
async def list_types(ctx: CtxDep) -> list[TypeOut]:
    await ctx.require_any(Perm.TICKET_READ, "ticket")
    async with ctx.db() as s:
        types = await tickets.types_for(s, ctx.tenant_id)
        rows = {
            r.code: r
            for r in (
                await s.scalars(select(TicketTypeDef).where(TicketTypeDef.tenant_id == ctx.tenant_id))
            ).all()
        }
    out = [
        _type_out(t, rows.get(code) if rows.get(code) and rows[code].active else None)
        for code, t in types.items()
    ]
    # inactive tenant rows are listed too (their code falls back to the default, if any)
    out += [
        TypeOut(
            code=code,
            label=str(r.doc.get("label", code)),
            source="tenant",
            active=False,
            version=r.version,
            updated_at=r.updated_at,
            doc=dict(r.doc),
        )
        for code, r in rows.items()
        if not r.active
    ]
    return out


class TypeIn(Strict):
    doc: dict[str, Any] = Field(
        description="the type document (code may be left out: the path names it)",
        examples=[{"label": "投诉", "fields": [{"name": "nature", "label": "投诉性质", "kind": "text"}]}],
    )
    active: bool = True


@router.put(
    PREFIX + "/types/{code}",
    response_model=TypeOut,
    summary="Define or replace a ticket type of the tenant (audited)",
    description="Replaces the built-in type of the same code for this tenant. 422 lists every "
    "problem of the document with its path. `active: false` withdraws the tenant's definition "
    "(the built-in type, if any, applies again).",
)
async def put_type(code: str, body: TypeIn, ctx: CtxDep, response: Response) -> TypeOut:
    await _admin(ctx, "ticket_type", code)
    doc = dict(body.doc)
    if doc.get("code", code) != code:
        raise _invalid("ticket type", [("code", f"the document's code {doc['code']!r} is not {code!r}")])
    doc["code"] = code
    t, issues = _type_issues(doc)
    if t is None:
        raise _invalid("ticket type", issues)
    async with transaction(ctx.db) as s:
        row = await s.scalar(
            select(TicketTypeDef).where(TicketTypeDef.tenant_id == ctx.tenant_id, TicketTypeDef.code == code)
        )
        created = row is None
        if row is None:
            row = TicketTypeDef(tenant_id=ctx.tenant_id, code=code, version=1)
            s.add(row)
        else:
            row.version = (row.version or 0) + 1
        row.doc = t.model_dump(mode="json")
        row.active = body.active
        row.updated_at = utcnow()
        await s.flush()
        audit.record(
            s,
            "ticket.type.create" if created else "ticket.type.update",
            principal=ctx.principal,
            resource_type="ticket_type",
            resource_id=code,
            detail={"active": body.active, "version": row.version, "fields": len(t.fields)},
        )
    if created:
        response.status_code = 201
    if not body.active:
        base = DEFAULT_TYPES.get(code)
        return _type_out(base, None) if base is not None else _type_out(t, row)
    return _type_out(t, row)


# -- dispatch rules -------------------------------------------------------------------------------


class UnitRef(BaseModel):
    id: int
    code: str
    name: str


class RuleOut(BaseModel):
    id: int
    priority: int
    name: str
    type_code: str
    category: str
    supply_unit: UnitRef | None
    address_contains: str
    target_unit: UnitRef | None
    active: bool
    created_at: str | None


class RuleIn(Strict):
    priority: int = Field(100, ge=0, le=1_000_000, description="lower is tried first")
    name: str = Field("", max_length=200, examples=["东山片区报修"])
    type_code: str = Field("", max_length=64, examples=["fault_repair"], description='"" = any type')
    category: str = Field("", max_length=64, description='business category; "" = any')
    supply_unit: str | int | None = Field(
        None, examples=["js.nj.jn"], description="the customer's supply unit or any unit below it; null = any"
    )
    address_contains: str = Field("", max_length=200, examples=["东山街道"])
    target_unit: str | int = Field(examples=["js.nj.jn.ds"], description="the responsible unit (code or id)")
    active: bool = True


class RulePatch(Strict):
    priority: int | None = Field(None, ge=0, le=1_000_000)
    name: str | None = Field(None, max_length=200)
    type_code: str | None = Field(None, max_length=64)
    category: str | None = Field(None, max_length=64)
    supply_unit: str | int | None = None
    address_contains: str | None = Field(None, max_length=200)
    target_unit: str | int | None = None
    active: bool | None = None


@router.get(
    PREFIX + "/dispatch-rules",
    response_model=list[RuleOut],
    summary="Automatic dispatch rules in the order they are tried",
)
async def list_dispatch_rules(ctx: CtxDep) -> list[RuleOut]:
    await ctx.require_any(Perm.TICKET_READ, "ticket")
    async with ctx.db() as s:
        rules = await dispatch.list_rules(s, ctx.tenant_id)
        return [RuleOut(**await dispatch.rule_doc(s, r)) for r in rules]


@router.get(PREFIX + "/dispatch-rules/{rule_id}", response_model=RuleOut, summary="One dispatch rule")
async def read_dispatch_rule(rule_id: int, ctx: CtxDep) -> RuleOut:
    await ctx.require_any(Perm.TICKET_READ, "ticket")
    async with ctx.db() as s:
        return RuleOut(**await dispatch.rule_doc(s, await dispatch.get_rule(s, ctx.tenant_id, rule_id)))


@router.post(
    PREFIX + "/dispatch-rules",
    response_model=RuleOut,
    status_code=201,
    summary="Add a dispatch rule (audited)",
    description="The first active rule (lowest priority, then id) whose conditions all hold names "
    "the responsible unit of a new order; empty conditions match anything.",
)
async def create_dispatch_rule(body: RuleIn, ctx: CtxDep) -> RuleOut:
    await _admin(ctx, "dispatch_rule")
    async with transaction(ctx.db) as s:
        rule = await dispatch.create_rule(s, ctx.tenant_id, body.model_dump())
        out = RuleOut(**await dispatch.rule_doc(s, rule))
        audit.record(
            s,
            "ticket.dispatch_rule.create",
            principal=ctx.principal,
            resource_type="dispatch_rule",
            resource_id=rule.id,
            detail={
                "target_unit": out.target_unit.code if out.target_unit else None,
                "priority": out.priority,
            },
        )
    return out


@router.patch(
    PREFIX + "/dispatch-rules/{rule_id}", response_model=RuleOut, summary="Change a dispatch rule (audited)"
)
async def patch_dispatch_rule(rule_id: int, body: RulePatch, ctx: CtxDep) -> RuleOut:
    await _admin(ctx, "dispatch_rule", str(rule_id))
    changes = body.model_dump(exclude_unset=True)
    async with transaction(ctx.db) as s:
        rule = await dispatch.update_rule(s, ctx.tenant_id, rule_id, changes)
        out = RuleOut(**await dispatch.rule_doc(s, rule))
        audit.record(
            s,
            "ticket.dispatch_rule.update",
            principal=ctx.principal,
            resource_type="dispatch_rule",
            resource_id=rule_id,
            detail={"fields": sorted(changes)},
        )
    return out


@router.delete(
    PREFIX + "/dispatch-rules/{rule_id}", status_code=204, summary="Delete a dispatch rule (audited)"
)
async def delete_dispatch_rule(rule_id: int, ctx: CtxDep) -> Response:
    await _admin(ctx, "dispatch_rule", str(rule_id))
    async with transaction(ctx.db) as s:
        await dispatch.delete_rule(s, ctx.tenant_id, rule_id)
        audit.record(
            s,
            "ticket.dispatch_rule.delete",
            principal=ctx.principal,
            resource_type="dispatch_rule",
            resource_id=rule_id,
        )
    return Response(status_code=204)
