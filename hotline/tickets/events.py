"""Live events of work orders: built inside the transaction, published after the commit.

Every service change returns its events as ``{"type": ..., "data": {...}}`` dicts
(:class:`hotline.tickets.service.Change`); :func:`publish` sends them to the
:class:`hotline.cti.events.EventHub` (WebSocket readers and webhooks pick them up there).

``ticket`` events (:func:`ticket_event`) carry ``action``: ``created``, ``updated``, ``linked``
or the past tense of the workflow action (:data:`ACTION_EVENT`: ``dispatched``, ``forwarded``,
``acknowledged``, ``started``, ``held``, ``resumed``, ``replied``, ``reviewed``, ``returned``,
``revisited``, ``reopened``, ``archived``, ``cancelled``, ``merged``, ``urged``), and the row's
``id``, ``number``, ``type``, ``state``, ``from`` (the state before), ``unit`` (code),
``unit_id``, ``handler_id``, ``version``, ``urges``, ``overdue``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from hotline.store.models import Ticket

if TYPE_CHECKING:
    from hotline.tickets.service import Change

#: the ``action`` of a ``ticket`` event for each workflow action
ACTION_EVENT: dict[str, str] = {
    "accept": "created",
    "dispatch": "dispatched",
    "forward": "forwarded",
    "acknowledge": "acknowledged",
    "start": "started",
    "hold": "held",
    "resume": "resumed",
    "reply": "replied",
    "review": "reviewed",
    "return": "returned",
    "revisit": "revisited",
    "reopen": "reopened",
    "archive": "archived",
    "cancel": "cancelled",
    "merge": "merged",
    "urge": "urged",
    "update": "updated",
    "link": "linked",
}


class Hub(Protocol):
    def publish(self, tenant_id: int, type: str, *, data: dict[str, Any] | None = None) -> Any: ...


def ticket_event(row: Ticket, action: str, *, from_state: str | None, unit_code: str) -> dict[str, Any]:
    """The ``ticket`` event of a change of ``row`` (``action``: a workflow action or an event
    name; workflow actions are put in the past tense)."""
    return {
        "type": "ticket",
        "data": {
            "action": ACTION_EVENT.get(action, action),
            "id": row.id,
            "number": row.number,
            "type": row.type_code,
            "state": row.state,
            "from": from_state,
            "unit": unit_code,
            "unit_id": row.unit_id,
            "handler_id": row.handler_id,
            "version": row.version,
            "urges": row.urges,
            "overdue": bool(row.overdue),
        },
    }


def publish(hub: Hub | None, tenant_id: int, change_or_events: Change | Iterable[Mapping[str, Any]]) -> int:
    """Publish the events of a committed change (or a list of event dicts); how many were sent."""
    if hub is None:
        return 0
    events: Iterable[Mapping[str, Any]] = (
        change_or_events if isinstance(change_or_events, Iterable) else change_or_events.events
    )
    n = 0
    for ev in events:
        hub.publish(tenant_id, str(ev["type"]), data=dict(ev.get("data") or {}))
        n += 1
    return n
