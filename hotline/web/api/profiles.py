"""Reading agents' résumés (skills with levels, queues served); writing them is
``PUT /api/v1/agents/{user_id}/profile`` in :mod:`hotline.web.api.agents`."""

from __future__ import annotations

from typing import Any, cast

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import Select, select

from hotline.auth.policy import Perm, Resource, data_scope
from hotline.auth.users import get_user
from hotline.store.lookup import unit_path
from hotline.store.models import AgentProfile, Unit, User
from hotline.web.api.org import scope_filter
from hotline.web.context import CtxDep

router = APIRouter(prefix="/api/v1", tags=["agents and queues"])


class ProfileOut(BaseModel):
    user_id: int
    username: str
    name: str
    unit_id: int
    agent_no: str
    skills: dict[str, int] = Field(examples=[{"billing": 4, "fault": 2}])
    queues: list[str] = Field(examples=[["general", "billing"]])
    auto_ready: bool


def _out(p: AgentProfile, u: User) -> ProfileOut:
    return ProfileOut(
        user_id=u.id,
        username=u.username,
        name=u.display_name or u.username,
        unit_id=u.unit_id,
        agent_no=p.agent_no,
        skills={str(k): int(v) for k, v in (p.skills or {}).items()},
        queues=[str(q) for q in (p.queues or [])],
        auto_ready=p.auto_ready,
    )


@router.get("/agent-profiles", response_model=list[ProfileOut], summary="Agents' résumés you may see")
async def list_profiles(ctx: CtxDep) -> list[ProfileOut]:
    await ctx.require_any(Perm.USER_READ, "user")
    q = (
        select(AgentProfile, User)
        .join(User, User.id == AgentProfile.user_id)
        .join(Unit, Unit.id == User.unit_id)
        .where(AgentProfile.tenant_id == ctx.tenant_id, User.tenant_id == ctx.tenant_id)
    )
    scoped = scope_filter(
        cast("Select[Any]", q), data_scope(ctx.principal, Perm.USER_READ), Unit.path, User.id
    )
    if scoped is None:
        return []
    async with ctx.db() as s:
        rows = (await s.execute(scoped.order_by(User.username))).all()
    return [_out(p, u) for p, u in rows]


@router.get("/agents/{user_id}/profile", response_model=ProfileOut, summary="One agent's résumé and queues")
async def get_profile(user_id: int, ctx: CtxDep) -> ProfileOut:
    async with ctx.db() as s:
        user = await get_user(s, ctx.tenant_id, user_id)
        path = await unit_path(s, user.unit_id)
        await ctx.authorize(
            Perm.USER_READ, Resource("user", ctx.tenant_id, path or "", user.id, str(user.id))
        )
        p = await s.scalar(
            select(AgentProfile).where(
                AgentProfile.tenant_id == ctx.tenant_id, AgentProfile.user_id == user_id
            )
        )
    if p is None:
        return ProfileOut(
            user_id=user.id,
            username=user.username,
            name=user.display_name or user.username,
            unit_id=user.unit_id,
            agent_no="",
            skills={},
            queues=[],
            auto_ready=True,
        )
    return _out(p, user)
