"""Messages to agents (normal, urgent, emergency): storage, the inbox, and the live ``message`` event.

A message is stored once (``agent_messages``) with one row per recipient
(``agent_message_recipients``, with ``read_at``), then published on the event hub as a
``message`` event restricted to the recipients (``users=``), so their desktops show it at once;
a desktop that was offline finds it with ``GET /api/v1/messages?unread=true``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.cti.events import EventHub
from hotline.errors import NotFound
from hotline.store.models import AgentMessage, AgentMessageRecipient, User
from hotline.store.types import utcnow, valid_id

PRIORITIES = ("normal", "urgent", "emergency")
MAX_TEXT = 2000
MAX_RECIPIENTS = 5000


def doc(
    msg: AgentMessage,
    sender: str,
    *,
    read_at: datetime | None = None,
    recipients: Iterable[int] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": msg.id,
        "sender_id": msg.sender_id,
        "sender": sender,
        "priority": msg.priority,
        "text": msg.text,
        "created_at": msg.created_at.isoformat(),
        "read_at": read_at.isoformat() if read_at is not None else None,
    }
    if recipients is not None:
        out["recipients"] = sorted(recipients)
    return out


async def store(
    s: AsyncSession, tenant_id: int, sender_id: int, recipients: Iterable[int], priority: str, text: str
) -> AgentMessage:
    if priority not in PRIORITIES:
        raise ValueError(f"priority must be one of {', '.join(PRIORITIES)}")
    msg = AgentMessage(
        tenant_id=tenant_id, sender_id=sender_id, priority=priority, text=text, created_at=utcnow()
    )
    s.add(msg)
    await s.flush()
    s.add_all([AgentMessageRecipient(message_id=msg.id, user_id=uid) for uid in sorted(set(recipients))])
    return msg


def publish(hub: EventHub, tenant_id: int, message: dict[str, Any], recipients: Iterable[int]) -> None:
    data = {k: v for k, v in message.items() if k not in ("recipients", "read_at")}
    hub.publish(tenant_id, "message", users=sorted(set(recipients)), data=data)


async def inbox(
    s: AsyncSession, tenant_id: int, user_id: int, *, unread: bool = False, limit: int = 100
) -> list[dict[str, Any]]:
    q = (
        select(AgentMessage, AgentMessageRecipient.read_at, User)
        .join(AgentMessageRecipient, AgentMessageRecipient.message_id == AgentMessage.id)
        .join(User, User.id == AgentMessage.sender_id)
        .where(AgentMessage.tenant_id == tenant_id, AgentMessageRecipient.user_id == user_id)
    )
    if unread:
        q = q.where(AgentMessageRecipient.read_at.is_(None))
    rows = (await s.execute(q.order_by(AgentMessage.id.desc()).limit(limit))).all()
    return [doc(m, u.display_name or u.username, read_at=read_at) for m, read_at, u in rows]


async def mark_read(s: AsyncSession, tenant_id: int, message_id: int, user_id: int) -> dict[str, Any]:
    """Mark the user's copy read (idempotent); 404 unless the user is a recipient in the tenant."""
    row = None
    if valid_id(message_id):
        row = (
            await s.execute(
                select(AgentMessage, AgentMessageRecipient, User)
                .join(AgentMessageRecipient, AgentMessageRecipient.message_id == AgentMessage.id)
                .join(User, User.id == AgentMessage.sender_id)
                .where(
                    AgentMessage.tenant_id == tenant_id,
                    AgentMessage.id == message_id,
                    AgentMessageRecipient.user_id == user_id,
                )
            )
        ).first()
    if row is None:
        raise NotFound(f"no message {message_id} for you", field="message_id")
    msg, rcpt, sender = row
    if rcpt.read_at is None:
        rcpt.read_at = utcnow()
    return doc(msg, sender.display_name or sender.username, read_at=rcpt.read_at)
