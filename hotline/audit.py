"""Append-only audit log: who did what to which record, when, from where, with what outcome."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypedDict, Unpack

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.auth.policy import DataScope, Principal
from hotline.store.bulk import new_object
from hotline.store.models import AuditEntry, Unit, User
from hotline.store.types import utcnow


class EntryFields(TypedDict, total=False):
    """Who, on what, with what outcome (see :func:`entry`)."""

    principal: Principal | None
    tenant_id: int | None
    actor: str
    actor_id: int | None
    ip: str
    resource_type: str
    resource_id: str | int
    outcome: str
    detail: dict[str, Any] | None


def record(s: AsyncSession, action: str, **fields: Unpack[EntryFields]) -> AuditEntry:
    """Add an audit entry (:func:`entry`) to the caller's transaction (it commits with the action
    it records)."""
    e = entry(action, **fields)
    s.add(e)
    return e


def entry(
    action: str,
    *,
    principal: Principal | None = None,
    tenant_id: int | None = None,
    actor: str = "",
    actor_id: int | None = None,
    ip: str = "",
    resource_type: str = "",
    resource_id: str | int = "",
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """An audit entry for the caller to write (:func:`record` adds it to a session)."""
    return new_object(
        AuditEntry,
        {
            "at": utcnow(),
            "tenant_id": principal.tenant_id if principal else tenant_id,
            "actor_id": principal.user_id if principal else actor_id,
            "actor": (principal.username if principal else actor)[:100],
            "ip": (principal.ip if principal and not ip else ip)[:64],
            "action": action[:64],
            "resource_type": resource_type[:64],
            "resource_id": str(resource_id)[:64],
            "outcome": outcome[:16],
            "detail": detail or {},
        },
    )


async def query(
    s: AsyncSession,
    tenant_id: int,
    scope: DataScope,
    *,
    actor: str | None = None,
    action: str | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> Sequence[AuditEntry]:
    """Entries of the tenant visible in ``scope`` (by the acting user's unit), newest first."""
    q: Select[AuditEntry] = select(AuditEntry).where(AuditEntry.tenant_id == tenant_id)
    if not scope.everything:
        conds: list[ColumnElement[bool]] = []
        if scope.unit_paths:
            conds.append(Unit.path.in_(scope.unit_paths))
        conds.extend(Unit.path.startswith(p, autoescape=True) for p in scope.unit_prefixes)
        if scope.owner_id is not None:
            conds.append(AuditEntry.actor_id == scope.owner_id)
        if not conds:
            return []
        q = (
            q.join(User, User.id == AuditEntry.actor_id)
            .join(Unit, Unit.id == User.unit_id)
            .where(or_(*conds))
        )
    if actor:
        q = q.where(AuditEntry.actor == actor)
    if action:
        q = q.where(AuditEntry.action == action)
    if resource_type:
        q = q.where(AuditEntry.resource_type == resource_type)
    if resource_id:
        q = q.where(AuditEntry.resource_id == resource_id)
    if outcome:
        q = q.where(AuditEntry.outcome == outcome)
    if since:
        q = q.where(AuditEntry.at >= since)
    if until:
        q = q.where(AuditEntry.at < until)
    if before_id:
        q = q.where(AuditEntry.id < before_id)
    return (await s.scalars(q.order_by(AuditEntry.id.desc()).limit(limit))).all()
