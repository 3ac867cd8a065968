"""IVR flows (versioned YAML or the same model as JSON) and the number plan (DNIS → flow)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import yaml
from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from hotline import audit
from hotline.auth.policy import TENANT_PATH, Perm, Resource
from hotline.cti.center import ContactCenter
from hotline.cti.flows import FlowInvalid, route_json
from hotline.errors import Invalid, NotFound
from hotline.ivr import FlowError, validate_flow
from hotline.ivr.loader import parse_flow
from hotline.org import service as org
from hotline.store.db import transaction
from hotline.store.models import IvrFlow, NumberRoute
from hotline.web.api.schemas import Strict
from hotline.web.context import Ctx, CtxDep

router = APIRouter(prefix="/api/v1/ivr", tags=["ivr"])

EXAMPLE_FLOW = """name: hello
language: en
start: hi
nodes:
  hi: {type: play, prompt: "Hello.", next: menu}
  menu:
    type: menu
    prompt: "For billing press 1, for an agent press 0."
    options: {"1": billing, "0": agent}
    on_max_retries: agent
  billing: {type: queue, queue: billing}
  agent: {type: queue, queue: general}
"""


class FlowIn(Strict):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)  # keep the source verbatim

    source: str | None = Field(None, description="the flow as YAML (or JSON) text", examples=[EXAMPLE_FLOW])
    flow: dict[str, Any] | None = Field(None, description="the flow as a JSON object (same model)")


class FlowVersionOut(BaseModel):
    version: int
    active: bool
    created_at: datetime
    created_by: int | None


class FlowOut(BaseModel):
    name: str
    active_version: int | None
    language: str | None = None
    source: str | None = None
    versions: list[FlowVersionOut] = []


class FlowSaved(BaseModel):
    name: str
    version: int
    active: bool
    warnings: list[dict[str, Any]] = []


class Issue(BaseModel):
    line: int | None
    column: int | None
    node: str | None
    message: str
    severity: str


class Validation(BaseModel):
    valid: bool
    issues: list[Issue]


class NumberIn(Strict):
    flow: str = Field(examples=["95598-zh"])
    calendar: str | int | None = Field(None, description="business calendar (name or id) for the variants")
    after_hours_flow: str = Field("", examples=["after-hours-zh"])
    holiday_flow: str = ""
    description: str = ""


class NumberOut(BaseModel):
    id: int
    number: str
    flow: str
    calendar_id: int | None
    after_hours_flow: str
    holiday_flow: str
    description: str


def center_of(ctx: Ctx) -> ContactCenter:
    center = ctx.state.center
    if center is None:
        raise NotFound("contact-centre services are not running")
    return center


async def _read_source(request: Request) -> str:
    """A flow from the body: raw YAML (application/yaml, text/*) or JSON {source} / {flow}."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    if len(raw) > 1_000_000:
        raise Invalid("flow too large (limit 1 MB)", field="body")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid("the body is not UTF-8 text", field="body") from None
    if ctype in ("application/yaml", "application/x-yaml", "text/yaml", "text/plain"):
        return text
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Invalid(f"malformed JSON at character {exc.pos}: {exc.msg}", field="body") from None
    try:
        parsed = FlowIn.model_validate(body)
    except ValueError as exc:
        raise Invalid(str(exc).splitlines()[0], field="body") from None
    if (parsed.source is None) == (parsed.flow is None):
        raise Invalid("send exactly one of 'source' (YAML text) or 'flow' (JSON object)", field="body")
    if parsed.source is not None:
        return parsed.source
    return yaml.safe_dump(parsed.flow, allow_unicode=True, sort_keys=False)


def _issue(i: Any) -> Issue:
    return Issue(line=i.line, column=i.column, node=i.node, message=i.message, severity=i.severity)


@router.get("/flows", response_model=list[FlowOut], summary="IVR flows and their active versions")
async def list_flows(ctx: CtxDep) -> list[FlowOut]:
    await ctx.require_any(Perm.IVR_READ, "ivr_flow")
    async with ctx.db() as s:
        rows = (
            await s.scalars(
                select(IvrFlow)
                .where(IvrFlow.tenant_id == ctx.tenant_id)
                .order_by(IvrFlow.name, IvrFlow.version)
            )
        ).all()
    out: dict[str, FlowOut] = {}
    for r in rows:
        f = out.setdefault(r.name, FlowOut(name=r.name, active_version=None))
        f.versions.append(
            FlowVersionOut(
                version=r.version, active=r.active, created_at=r.created_at, created_by=r.created_by
            )
        )
        if r.active:
            f.active_version = r.version
    return list(out.values())


@router.get("/flows/{name}", response_model=FlowOut, summary="One flow: active source and versions")
async def get_flow(name: str, ctx: CtxDep, version: int | None = Query(None, ge=1, le=2**31 - 1)) -> FlowOut:
    await ctx.require_any(Perm.IVR_READ, "ivr_flow")
    async with ctx.db() as s:
        rows = await center_of(ctx).flows.versions(s, ctx.tenant_id, name)
    if not rows:
        raise NotFound(f"no flow {name!r}", field="name")
    chosen = next((r for r in rows if (r.version == version if version else r.active)), None)
    if version is not None and chosen is None:
        raise NotFound(f"flow {name!r} has no version {version}", field="version")
    language = None
    if chosen is not None:
        try:
            language = parse_flow(chosen.source).language
        except FlowError:
            language = None
    return FlowOut(
        name=name,
        active_version=next((r.version for r in rows if r.active), None),
        language=language,
        source=chosen.source if chosen else None,
        versions=[
            FlowVersionOut(
                version=r.version, active=r.active, created_at=r.created_at, created_by=r.created_by
            )
            for r in rows
        ],
    )


@router.put(
    "/flows/{name}",
    response_model=FlowSaved,
    summary="Save a new version of a flow (validated; activated unless activate=false)",
    description="Body: raw YAML (`Content-Type: application/yaml`) or JSON `{source}` / `{flow}`. "
    "A flow with errors is refused (422, every error with line, column and node) and the active "
    "version keeps serving; calls already in a flow finish on their version.",
)
async def put_flow(name: str, request: Request, ctx: CtxDep, activate: bool = Query(True)) -> FlowSaved:
    await ctx.authorize(Perm.IVR_WRITE, Resource("ivr_flow", ctx.tenant_id, TENANT_PATH, id=name))
    source = await _read_source(request)
    center = center_of(ctx)
    row = await center.flows.save(
        ctx.tenant_id, name, source, user_id=ctx.principal.user_id, activate=activate
    )
    warnings = [
        {"line": i.line, "column": i.column, "node": i.node, "message": i.message}
        for i in validate_flow(source, known_actions=center.actions.names(), source=name)
        if i.severity != "error"
    ]
    async with transaction(ctx.db) as s:
        audit.record(
            s,
            "ivr.flow.save",
            principal=ctx.principal,
            resource_type="ivr_flow",
            resource_id=name,
            detail={"version": row.version, "active": row.active},
        )
    return FlowSaved(name=name, version=row.version, active=row.active, warnings=warnings)


@router.post("/flows/{name}/validate", response_model=Validation, summary="Validate a flow without saving it")
async def validate(name: str, request: Request, ctx: CtxDep) -> Validation:
    await ctx.require_any(Perm.IVR_READ, "ivr_flow")
    source = await _read_source(request)
    center = center_of(ctx)
    try:
        async with ctx.db() as s:
            await center.flows.check(s, ctx.tenant_id, name, source)
    except FlowInvalid as exc:
        issues = [
            Issue(
                line=e["line"],
                column=e["column"],
                node=e["node"],
                message=e["reason"],
                severity=e["severity"],
            )
            for e in exc.errors
        ]
        return Validation(valid=False, issues=issues)
    found = validate_flow(source, known_actions=center.actions.names(), source=name)
    return Validation(valid=True, issues=[_issue(i) for i in found])


@router.post(
    "/flows/{name}/versions/{version}/activate", response_model=FlowSaved, summary="Activate a stored version"
)
async def activate(name: str, ctx: CtxDep, version: int = Path(ge=1, le=2**31 - 1)) -> FlowSaved:
    await ctx.authorize(Perm.IVR_WRITE, Resource("ivr_flow", ctx.tenant_id, TENANT_PATH, id=name))
    row = await center_of(ctx).flows.activate(ctx.tenant_id, name, version)
    async with transaction(ctx.db) as s:
        audit.record(
            s,
            "ivr.flow.activate",
            principal=ctx.principal,
            resource_type="ivr_flow",
            resource_id=name,
            detail={"version": version},
        )
    return FlowSaved(name=name, version=row.version, active=True)


@router.get("/numbers", response_model=list[NumberOut], summary="The number plan: service numbers → flows")
async def list_numbers(ctx: CtxDep) -> list[NumberOut]:
    await ctx.require_any(Perm.IVR_READ, "number")
    async with ctx.db() as s:
        rows = (
            await s.scalars(
                select(NumberRoute).where(NumberRoute.tenant_id == ctx.tenant_id).order_by(NumberRoute.number)
            )
        ).all()
    return [NumberOut(**route_json(r)) for r in rows]


@router.put("/numbers/{number}", response_model=NumberOut, summary="Route a service number to a flow")
async def put_number(number: str, body: NumberIn, ctx: CtxDep) -> NumberOut:
    await ctx.authorize(Perm.IVR_WRITE, Resource("number", ctx.tenant_id, TENANT_PATH, id=number))
    if not number or len(number) > 64 or not all(ch.isdigit() or ch in "+*#" for ch in number):
        raise Invalid("a service number is digits (and + * #), at most 64", field="number")
    async with transaction(ctx.db) as s:
        names = set(
            await s.scalars(select(IvrFlow.name).where(IvrFlow.tenant_id == ctx.tenant_id, IvrFlow.active))
        )
        for fld in ("flow", "after_hours_flow", "holiday_flow"):
            value = getattr(body, fld)
            if value and value not in names:
                raise Invalid(f"no active flow {value!r}", field=fld)
        cal_id = None
        if body.calendar is not None:
            cal_id = (await org.get_calendar(s, ctx.tenant_id, body.calendar)).id
        row = await s.scalar(
            select(NumberRoute).where(NumberRoute.tenant_id == ctx.tenant_id, NumberRoute.number == number)
        )
        if row is None:
            row = NumberRoute(tenant_id=ctx.tenant_id, number=number, flow=body.flow)
            s.add(row)
        row.flow = body.flow
        row.calendar_id = cal_id
        row.after_hours_flow = body.after_hours_flow
        row.holiday_flow = body.holiday_flow
        row.description = body.description[:200]
        await s.flush()
        audit.record(
            s,
            "ivr.number.save",
            principal=ctx.principal,
            resource_type="number",
            resource_id=number,
            detail={"flow": body.flow},
        )
        return NumberOut(**route_json(row))
