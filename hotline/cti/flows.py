"""IVR flows in the database (versioned; one active version per name) and the number plan.

Saving a flow validates it first (syntax, graph, known subflows, actions and queues): a broken
flow is refused and the active version keeps serving. Activation flips the active flag of one
name in one transaction. Calls take a snapshot of the active flows when they start, so a call
already in a flow finishes on the version it started with.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.errors import Invalid, NotFound
from hotline.ivr import Flow, FlowError, FlowIssue, parse_flow, validate_flow
from hotline.org.calendar import BusinessCalendar
from hotline.store.db import transaction
from hotline.store.models import Calendar, IvrFlow, NumberRoute, QueueDef

FlowSnapshot = dict[str, tuple[int, Flow]]  # name -> (version, flow)


class FlowInvalid(Invalid):
    """A flow that does not validate; ``errors`` lists every issue with line/column/node."""

    def __init__(self, issues: list[FlowIssue]) -> None:
        errs = [i for i in issues if i.severity == "error"] or issues
        first = errs[0]
        super().__init__(f"flow is invalid ({len(errs)} error(s)); first: {first}", field="source")
        self.errors = [
            {
                "field": "source",
                "reason": i.message,
                "line": i.line,
                "column": i.column,
                "node": i.node,
                "severity": i.severity,
            }
            for i in issues
        ]


@dataclass(frozen=True)
class RouteChoice:
    number: str
    flow: str
    variant: str  # normal | after_hours | holiday
    calendar_open: bool
    holiday: bool


class FlowStore:
    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        *,
        action_names: Callable[[], Collection[str]] | None = None,
    ) -> None:
        self._db = factory
        self._action_names = action_names
        self._cache: dict[int, FlowSnapshot] = {}

    def invalidate(self, tenant_id: int | None = None) -> None:
        if tenant_id is None:
            self._cache.clear()
        else:
            self._cache.pop(tenant_id, None)

    # -- reading ---------------------------------------------------------------------------------

    async def active(self, tenant_id: int) -> FlowSnapshot:
        """Every active flow of the tenant, parsed (cached until a flow changes)."""
        snap = self._cache.get(tenant_id)
        if snap is not None:
            return snap
        async with self._db() as s:
            rows = (
                await s.scalars(select(IvrFlow).where(IvrFlow.tenant_id == tenant_id, IvrFlow.active))
            ).all()
        snap = {}
        for row in rows:
            snap[row.name] = (row.version, parse_flow(row.source, source=f"{row.name} v{row.version}"))
        self._cache[tenant_id] = snap
        return snap

    async def versions(self, s: AsyncSession, tenant_id: int, name: str) -> list[IvrFlow]:
        return list(
            (
                await s.scalars(
                    select(IvrFlow)
                    .where(IvrFlow.tenant_id == tenant_id, IvrFlow.name == name)
                    .order_by(IvrFlow.version.desc())
                )
            ).all()
        )

    # -- writing ---------------------------------------------------------------------------------

    async def check(self, s: AsyncSession, tenant_id: int, name: str, source: str) -> Flow:
        """Parse and validate ``source`` against the tenant's flows, queues and actions."""
        try:
            flow = parse_flow(source, source=name)
        except FlowError as exc:
            raise FlowInvalid(exc.issues) from None
        if flow.name != name:
            raise Invalid(f"the flow's name is {flow.name!r} but it is saved as {name!r}", field="name")
        flows = set(await s.scalars(select(IvrFlow.name).where(IvrFlow.tenant_id == tenant_id)))
        queues = set(await s.scalars(select(QueueDef.name).where(QueueDef.tenant_id == tenant_id)))
        issues = validate_flow(
            source,
            known_flows=flows | {name},
            known_actions=self._action_names() if self._action_names else None,
            known_queues=queues,
            source=name,
        )
        if any(i.severity == "error" for i in issues):
            raise FlowInvalid(issues)
        return flow

    async def save(
        self,
        tenant_id: int,
        name: str,
        source: str,
        *,
        user_id: int | None = None,
        activate: bool = True,
    ) -> IvrFlow:
        """Store a new version (validated first); activate it atomically unless told not to."""
        async with transaction(self._db) as s:
            await self.check(s, tenant_id, name, source)
            last = await s.scalar(
                select(func.max(IvrFlow.version)).where(IvrFlow.tenant_id == tenant_id, IvrFlow.name == name)
            )
            if activate:
                await s.execute(
                    update(IvrFlow)
                    .where(IvrFlow.tenant_id == tenant_id, IvrFlow.name == name)
                    .values(active=False)
                )
            row = IvrFlow(
                tenant_id=tenant_id,
                name=name,
                version=(last or 0) + 1,
                source=source,
                active=activate,
                created_by=user_id,
            )
            s.add(row)
            await s.flush()
        self.invalidate(tenant_id)
        return row

    async def activate(self, tenant_id: int, name: str, version: int) -> IvrFlow:
        async with transaction(self._db) as s:
            row = await s.scalar(
                select(IvrFlow).where(
                    IvrFlow.tenant_id == tenant_id, IvrFlow.name == name, IvrFlow.version == version
                )
            )
            if row is None:
                raise NotFound(f"flow {name!r} has no version {version}", field="version")
            await self.check(s, tenant_id, name, row.source)  # queues or subflows may have gone
            await s.execute(
                update(IvrFlow)
                .where(IvrFlow.tenant_id == tenant_id, IvrFlow.name == name, IvrFlow.id != row.id)
                .values(active=False)
            )
            row.active = True
        self.invalidate(tenant_id)
        return row

    # -- the number plan -------------------------------------------------------------------------

    async def route(self, tenant_id: int, number: str, at: datetime) -> RouteChoice | None:
        """Which flow serves a call to ``number`` at ``at`` (calendar variants applied)."""
        async with self._db() as s:
            row = await s.scalar(
                select(NumberRoute).where(NumberRoute.tenant_id == tenant_id, NumberRoute.number == number)
            )
            if row is None:
                return None
            cal_row = await s.get(Calendar, row.calendar_id) if row.calendar_id is not None else None
        if cal_row is None:
            return RouteChoice(number, row.flow, "normal", True, False)
        cal = BusinessCalendar.from_spec(
            timezone=cal_row.timezone, week=cal_row.week, holidays=cal_row.holidays, workdays=cal_row.workdays
        )
        local_day = at.astimezone(cal.tz).date()
        holiday = cal.is_holiday(local_day)
        is_open = cal.is_open(at)
        if holiday and row.holiday_flow:
            return RouteChoice(number, row.holiday_flow, "holiday", is_open, True)
        if not is_open and row.after_hours_flow:
            return RouteChoice(number, row.after_hours_flow, "after_hours", is_open, holiday)
        return RouteChoice(number, row.flow, "normal", is_open, holiday)


def route_json(row: NumberRoute) -> dict[str, Any]:
    return {
        "id": row.id,
        "number": row.number,
        "flow": row.flow,
        "calendar_id": row.calendar_id,
        "after_hours_flow": row.after_hours_flow,
        "holiday_flow": row.holiday_flow,
        "description": row.description,
    }
