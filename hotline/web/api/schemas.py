"""Response models shared by the API modules."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from hotline.store.types import MAX_ID

T = TypeVar("T")
__all__ = ["MAX_ID", "MAX_OFFSET"]

MAX_OFFSET = 10_000_000


class Page(BaseModel, Generic[T]):
    items: list[T]
    limit: int
    offset: int


class Strict(BaseModel):
    """Request bodies: unknown fields are errors, so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class GrantIn(Strict):
    role: str = Field(examples=["supervisor"])
    scope: str | None = Field(None, examples=["subtree"], description="own, unit, subtree or tenant")
    unit: str | int | None = Field(None, description="anchor unit (code or id); default the user's unit")


class GrantOut(BaseModel):
    role: str
    scope: str
    unit_id: int


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    email: str
    phone: str
    unit_id: int
    active: bool
    locked_until: datetime | None
    last_login_at: datetime | None
    roles: list[GrantOut]


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    actor_id: int | None
    ip: str
    action: str
    resource_type: str
    resource_id: str
    outcome: str
    detail: dict[str, Any]
