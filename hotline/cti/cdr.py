"""Call detail records: what the call layer writes as a call progresses, and the queries over them.

Every write is its own committed transaction: a call that was answered is on disk when the
caller hears the agent, and a crash mid-call leaves a record with a start and no end (which
reports treat as failed, with the recording up to the crash).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.errors import NotFound
from hotline.store.db import transaction
from hotline.store.models import Call, CallLeg

END_CAUSES = ("normal", "busy", "no_answer", "cancelled", "rejected", "failed", "unreachable", "timeout")


def new_call_id(now: float | None = None) -> str:
    """A sortable, unique call id: 12 hex digits of milliseconds, then 10 random hex digits."""
    ms = int((time.time() if now is None else now) * 1000)
    return f"{ms:012x}{secrets.token_hex(5)}"


@dataclass(frozen=True)
class LegMediaStats:
    codec: str = ""
    packets_sent: int = 0
    packets_received: int = 0
    packets_lost: int = 0
    jitter_ms: float = 0.0


class CdrStore:
    """Writes CDRs for the call layer (an asyncio shell); one transaction per call event."""

    def __init__(self, factory: async_sessionmaker[AsyncSession]) -> None:
        self._db = factory
        self._pending: list[tuple[Callable[[AsyncSession], Awaitable[Any]], asyncio.Future[Any]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.batches = 0
        self.writes = 0

    async def _write(self, op: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
        """Run ``op`` in a transaction and return its result once committed (group commit).

        Writes of all calls queue up while a transaction is being committed and go together in
        the next one: one commit (one fsync) for many call events under load, no added delay
        when idle. A failing batch is retried one write at a time, so one bad write fails alone.
        """
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((op, fut))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._drain())
        return await fut

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            self.batches += 1
            self.writes += len(batch)
            try:
                results = []
                async with transaction(self._db) as s:
                    for op, _fut in batch:
                        results.append(await op(s))
            except Exception:
                for op, fut in batch:  # isolate the failing write(s)
                    try:
                        async with transaction(self._db) as s:
                            result = await op(s)
                    except Exception as exc:
                        if not fut.done():
                            fut.set_exception(exc)
                    else:
                        if not fut.done():
                            fut.set_result(result)
                continue
            for (_op, fut), result in zip(batch, results, strict=True):
                if not fut.done():
                    fut.set_result(result)

    async def call_started(
        self,
        call_id: str,
        *,
        tenant_id: int,
        direction: str,
        started_at: datetime,
        caller: str = "",
        caller_raw: str = "",
        caller_name: str = "",
        dialed: str = "",
        dialed_raw: str = "",
        unit_id: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        async def op(s: AsyncSession) -> Any:
            s.add(
                Call(
                    id=call_id,
                    tenant_id=tenant_id,
                    unit_id=unit_id,
                    direction=direction,
                    caller=caller[:64],
                    caller_raw=caller_raw[:200],
                    caller_name=caller_name[:200],
                    dialed=dialed[:64],
                    dialed_raw=dialed_raw[:200],
                    started_at=started_at,
                    end_cause="",
                    ended_by="",
                    recording_path="",
                    data=data or {},
                )
            )

        await self._write(op)

    async def leg_started(
        self,
        call_id: str,
        *,
        role: str,
        started_at: datetime,
        sip_call_id: str = "",
        remote_uri: str = "",
        remote_addr: str = "",
        extension_id: int | None = None,
    ) -> int:
        async def op(s: AsyncSession) -> Any:
            leg = CallLeg(
                call_id=call_id,
                role=role,
                sip_call_id=sip_call_id[:200],
                remote_uri=remote_uri[:300],
                remote_addr=remote_addr[:80],
                extension_id=extension_id,
                started_at=started_at,
                end_reason="",
                codec="",
                packets_sent=0,
                packets_received=0,
                packets_lost=0,
                jitter_ms=0.0,
            )
            s.add(leg)
            await s.flush()
            return leg.id

        return await self._write(op)  # type: ignore[no-any-return]

    async def leg_answered(self, leg_id: int, at: datetime, *, codec: str = "") -> None:
        values: dict[str, Any] = {"answered_at": at}
        if codec:
            values["codec"] = codec
        await self._set(CallLeg, leg_id, values)

    async def leg_ended(
        self,
        leg_id: int,
        at: datetime,
        *,
        reason: str,
        sip_code: int | None = None,
        stats: LegMediaStats | None = None,
    ) -> None:
        values: dict[str, Any] = {"ended_at": at, "end_reason": reason[:64], "sip_code": sip_code}
        if stats is not None:
            if stats.codec:
                values["codec"] = stats.codec
            values.update(
                packets_sent=stats.packets_sent,
                packets_received=stats.packets_received,
                packets_lost=stats.packets_lost,
                jitter_ms=stats.jitter_ms,
            )
        await self._set(CallLeg, leg_id, values)

    async def call_answered(self, call_id: str, at: datetime, *, agent_id: int | None = None) -> None:
        values: dict[str, Any] = {"answered_at": at}
        if agent_id is not None:
            values["agent_id"] = agent_id
        await self._set(Call, call_id, values)

    async def call_ended(
        self,
        call_id: str,
        at: datetime,
        *,
        cause: str,
        ended_by: str,
        sip_code: int | None = None,
        recording_path: str | None = None,
    ) -> None:
        if cause not in END_CAUSES:
            raise ValueError(f"unknown end cause {cause!r}; causes are: {', '.join(END_CAUSES)}")

        values: dict[str, Any] = {
            "ended_at": at,
            "end_cause": cause,
            "ended_by": ended_by[:16],
            "sip_code": sip_code,
        }
        if recording_path is not None:
            values["recording_path"] = recording_path[:500]
        await self._set(Call, call_id, values)

    async def move_leg(self, leg_id: int, call_id: str) -> None:
        """A leg continues in another call (attended transfer joins two calls)."""

        await self._set(CallLeg, leg_id, {"call_id": call_id})

    async def set_recording(self, call_id: str, path: str) -> None:
        await self._set(Call, call_id, {"recording_path": path[:500]})

    #: columns the call path may set with :meth:`update`
    UPDATABLE = frozenset(
        {
            "flow",
            "flow_version",
            "ivr_path",
            "queue",
            "queue_entered_at",
            "queue_left_at",
            "queue_position",
            "offers",
            "wait_seconds",
            "talk_seconds",
            "hold_seconds",
            "wrap_up_seconds",
            "disposition",
            "disposition_notes",
            "abandon_point",
            "agent_id",
            "unit_id",
        }
    )

    async def update(self, call_id: str, **fields: Any) -> None:
        """Set CDR columns of the inbound call path (see :attr:`UPDATABLE`)."""
        unknown = set(fields) - self.UPDATABLE
        if unknown:
            raise ValueError(f"not updatable CDR fields: {', '.join(sorted(unknown))}")

        await self._set(Call, call_id, fields)

    async def merge_data(self, call_id: str, data: dict[str, Any]) -> None:
        """Add call-associated data (a new dict is assigned so the JSON column is rewritten)."""

        async def op(s: AsyncSession) -> Any:
            current = await s.scalar(select(Call.data).where(Call.id == call_id))
            await s.execute(
                update(Call)
                .where(Call.id == call_id)
                .values(data={**(current or {}), **data})
                .execution_options(synchronize_session=False)
            )

        await self._write(op)

    async def _set(self, model: type[Call] | type[CallLeg], key: Any, values: dict[str, Any]) -> None:
        """One UPDATE by primary key (no SELECT, no loading of the call's legs)."""

        async def op(s: AsyncSession) -> Any:
            await s.execute(
                update(model)
                .where(model.id == key)
                .values(**values)
                .execution_options(synchronize_session=False)
            )

        await self._write(op)


@dataclass(frozen=True)
class CallFilter:
    caller: str | None = None
    dialed: str | None = None
    direction: str | None = None
    end_cause: str | None = None
    agent_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def apply_filter(q: Select[Any], f: CallFilter) -> Select[Any]:
    if f.caller:
        q = q.where(Call.caller == f.caller)
    if f.dialed:
        q = q.where(Call.dialed == f.dialed)
    if f.direction:
        q = q.where(Call.direction == f.direction)
    if f.end_cause:
        q = q.where(Call.end_cause == f.end_cause)
    if f.agent_id is not None:
        q = q.where(Call.agent_id == f.agent_id)
    if f.since:
        q = q.where(Call.started_at >= f.since)
    if f.until:
        q = q.where(Call.started_at < f.until)
    return q


async def get_call(s: AsyncSession, tenant_id: int, call_id: str) -> Call:
    call = await s.scalar(select(Call).where(Call.tenant_id == tenant_id, Call.id == call_id))
    if call is None:
        raise NotFound(f"no call {call_id!r}", field="call")
    return call


async def calls_of(s: AsyncSession, q: Select[Any], limit: int, offset: int) -> Sequence[Call]:
    return (
        await s.scalars(q.order_by(Call.started_at.desc(), Call.id.desc()).limit(limit).offset(offset))
    ).all()
