"""Live CTI events: one hub per process fanning events out to WebSocket clients and webhooks.

Every fact appended to the queue event log (:class:`~hotline.cti.eventlog.EventLog`) is also
published here; services publish live-only events (statistics, messages) directly with
:meth:`EventHub.publish`. Each tenant has its own monotonically increasing sequence number and
a bounded buffer of recent events, so a client that reconnects with its last sequence number
gets what it missed (or, when that is gone from the buffer, a full snapshot).

The envelope every consumer sees::

    {"seq": 42, "type": "agent_state", "at": "2026-11-23T03:10:00.123456+00:00",
     "call_id": "", "queue": "", "agent_id": 12, "data": {...}}

``users`` (optional) restricts an event to the given user ids (e.g. a message to two agents);
otherwise who sees an event is decided from the reader's permissions and data scope.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hotline.store.types import utcnow


@dataclass(frozen=True, slots=True)
class LiveEvent:
    tenant_id: int
    seq: int
    type: str
    at: datetime
    call_id: str = ""
    queue: str = ""
    agent_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    users: frozenset[int] | None = None

    def envelope(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "type": self.type,
            "at": self.at.isoformat(),
            "call_id": self.call_id,
            "queue": self.queue,
            "agent_id": self.agent_id,
            "data": self.data,
        }


Listener = Callable[[LiveEvent], None]


class EventHub:
    """Per-tenant sequence numbers, a bounded replay buffer and synchronous listeners."""

    def __init__(self, *, buffer: int = 10_000) -> None:
        self._buffer_size = buffer
        self._seq: dict[int, int] = {}
        self._recent: dict[int, deque[LiveEvent]] = {}
        self._listeners: list[Listener] = []

    def publish(
        self,
        tenant_id: int,
        type: str,
        *,
        call_id: str = "",
        queue: str = "",
        agent_id: int | None = None,
        users: Iterable[int] | None = None,
        at: datetime | None = None,
        data: dict[str, Any] | None = None,
    ) -> LiveEvent:
        seq = self._seq.get(tenant_id, 0) + 1
        self._seq[tenant_id] = seq
        event = LiveEvent(
            tenant_id,
            seq,
            type,
            at or utcnow(),
            call_id,
            queue,
            agent_id,
            data or {},
            frozenset(users) if users is not None else None,
        )
        recent = self._recent.get(tenant_id)
        if recent is None:
            recent = self._recent[tenant_id] = deque(maxlen=self._buffer_size)
        recent.append(event)
        for listener in list(self._listeners):
            listener(event)
        return event

    def last_seq(self, tenant_id: int) -> int:
        return self._seq.get(tenant_id, 0)

    def since(self, tenant_id: int, seq: int) -> list[LiveEvent] | None:
        """Events after ``seq``, or None when some of them are no longer buffered."""
        recent = self._recent.get(tenant_id, deque())
        last = self._seq.get(tenant_id, 0)
        if seq >= last:
            return []
        if not recent or recent[0].seq > seq + 1:
            return None
        return [e for e in recent if e.seq > seq]

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` synchronously for every event; returns the function that stops it."""
        self._listeners.append(listener)

        def stop() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return stop
