"""Live CTI events: one hub per process fanning events out to WebSocket clients and webhooks.

Every fact appended to the queue event log (:class:`~hotline.cti.eventlog.EventLog`) is also
published here; services publish live-only events (statistics, messages) directly with
:meth:`EventHub.publish`. Each tenant has its own monotonically increasing sequence number and
a bounded buffer of recent events, so a client that reconnects with its last sequence number
(and the hub's ``epoch``, the id of this server run) gets what it missed — or, when that is gone
from the buffer or the server restarted, a full snapshot.

The envelope every consumer sees::

    {"seq": 42, "type": "agent_state", "at": "2026-11-23T03:10:00.123456+00:00",
     "call_id": "", "queue": "", "agent_id": 12, "data": {...}}

Who sees an event (:meth:`EventHub.audience`): ``users`` (optional) restricts it to those user
ids; else a call event needs ``call.read`` over the call's unit (its queue's unit; the agent's
when there is no queue; tenant-wide before routing) or being the agent on it, a queue event
``queue.read`` over the queue's unit, an agent event ``agent.read`` over the agent (their unit,
or themself), anything else ``stats.read`` at tenant scope. ``stats`` events are special: their
``queues`` and ``agents`` lists are filtered item by item (``stats.read`` over each queue/agent),
so a city supervisor's board gets only their city's rows.

Fan-out is built for thousands of readers: every event is JSON-encoded once at publish; readers
are grouped by the unit/subtree/tenant part of their grants (one policy decision per group and
event, cached), and own-scope grants are served from an index by user id. A reader is a
bounded queue of pre-encoded frames (:class:`Reader`); on overflow its backlog is dropped and it
is flagged for a fresh snapshot. Nothing here awaits or creates tasks per event.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from hotline.auth.policy import (
    ROLE_PERMISSIONS,
    TENANT_PATH,
    Perm,
    Principal,
    Resource,
    Scope,
    allows,
)
from hotline.store.types import utcnow


def encode(doc: Any) -> str:
    """Compact JSON text of a frame (UTF-8 kept; anything unknown as its string)."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=str)


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
    #: the envelope as JSON text, encoded once at publish (what readers are sent)
    text: str = ""

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
#: snapshot provider: called with the reader's web context (``hotline.web.context.Ctx``); returns
#: JSON-able items (dicts or pydantic models) the reader may see
SnapshotProvider = Callable[[Any], Awaitable[Sequence[Any]]]


# -- where records lie ------------------------------------------------------------------------------


class Locator(Protocol):
    """Unit paths of agents, queues and units, for the policy (kept current by the ACD)."""

    def agent_path(self, tenant_id: int, agent_id: int) -> str | None: ...
    def queue_path(self, tenant_id: int, queue: str) -> str | None: ...
    def unit_path(self, tenant_id: int, unit_id: int) -> str | None: ...


class NullLocator:
    """Knows nothing: every record is tenant-wide (only tenant scope, or the owner, sees it)."""

    def agent_path(self, tenant_id: int, agent_id: int) -> str | None:
        return None

    def queue_path(self, tenant_id: int, queue: str) -> str | None:
        return None

    def unit_path(self, tenant_id: int, unit_id: int) -> str | None:
        return None


@dataclass(frozen=True, slots=True)
class Audience:
    """Who may see an event: ``perm`` over a record at ``path`` owned by ``owner``."""

    perm: Perm
    type: str
    path: str
    owner: int | None = None


#: work-order events: seen with ticket.read over the order's responsible unit (``data.unit_id``),
#: or by its handler (``data.handler_id``) with an own-scope grant
TICKET_EVENTS = frozenset({"ticket", "ticket_deadline", "incident"})

#: events whose lists are filtered per item: list name -> kind of item ("queue" or "agent")
SCOPED_LISTS: dict[str, tuple[tuple[str, str], ...]] = {
    "stats": (("queues", "queue"), ("agents", "agent")),
}


# -- readers ----------------------------------------------------------------------------------------


class Reader:
    """One consumer (a WebSocket connection): its principal and a bounded queue of frames.

    :meth:`push` never blocks: when ``limit`` frames are waiting, the backlog is dropped and
    :attr:`overflowed` is set — the consumer then sends a fresh snapshot instead of the lost
    events. Control frames (pong, keep-alive) go through the same queue so one writer keeps order.
    """

    __slots__ = (
        "_waiter",
        "close_reason",
        "dropped",
        "frames",
        "group",
        "last_sent",
        "last_seq",
        "limit",
        "overflowed",
        "own",
        "principal",
        "sent",
        "session_id",
        "skip",
        "tenant_id",
        "user_id",
    )

    def __init__(
        self,
        principal: Principal,
        *,
        limit: int = 1000,
        session_id: int | None = None,
        skip: frozenset[str] = frozenset(),
    ) -> None:
        self.principal = principal
        #: event types this consumer does not want (e.g. an agent desktop skips ``stats``)
        self.skip = skip
        self.tenant_id = principal.tenant_id
        self.user_id = principal.user_id
        self.session_id = session_id
        self.limit = limit
        self.frames: deque[str] = deque()
        #: highest sequence number queued (an event reaching a reader twice is sent once)
        self.last_seq = 0
        self.overflowed = False
        self.dropped = 0
        self.sent = 0
        self.last_sent = time.monotonic()
        self.close_reason: tuple[int, str] | None = None
        self.own: frozenset[Perm] = frozenset(
            p for g in principal.grants if g.scope is Scope.OWN for p in ROLE_PERMISSIONS[g.role]
        )
        self.group: _Group | None = None
        self._waiter: asyncio.Future[None] | None = None

    def push(self, seq: int, text: str) -> None:
        if seq <= self.last_seq:
            return
        self.last_seq = seq
        if self.overflowed:
            self.dropped += 1
            return
        if len(self.frames) >= self.limit:
            self.dropped += len(self.frames) + 1
            self.frames.clear()
            self.overflowed = True
        else:
            self.frames.append(text)
        self._wake()

    def control(self, text: str) -> None:
        """A frame outside the event sequence (pong, keep-alive)."""
        self.frames.append(text)
        self._wake()

    def close(self, code: int, reason: str) -> None:
        """Ask the consumer to close the connection with ``code`` and ``reason``."""
        self.close_reason = (code, reason)
        self._wake()

    def take(self) -> list[str]:
        frames = list(self.frames)
        self.frames.clear()
        return frames

    def resync(self, seq: int) -> None:
        """After an overflow: the backlog is gone; events up to ``seq`` are covered by a snapshot."""
        self.overflowed = False
        self.frames.clear()
        self.last_seq = max(self.last_seq, seq)

    @property
    def ready(self) -> bool:
        return bool(self.frames) or self.overflowed or self.close_reason is not None

    async def wait(self) -> None:
        """Until there is something to send (frames, an overflow, a close request)."""
        if self.ready:
            return
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)


class _Group:
    """Readers of one tenant sharing the unit/subtree/tenant part of their grants."""

    __slots__ = ("cache", "principal", "readers")

    def __init__(self, principal: Principal) -> None:
        self.principal = principal
        self.readers: set[Reader] = set()
        self.cache: dict[tuple[Perm, str], bool] = {}

    def sees(self, a: Audience) -> bool:
        key = (a.perm, a.path)
        seen = self.cache.get(key)
        if seen is None:
            if len(self.cache) > 10_000:
                self.cache.clear()
            res = Resource(a.type, self.principal.tenant_id, a.path)
            seen = self.cache[key] = allows(self.principal, a.perm, res)
        return seen


@dataclass
class _TenantReaders:
    groups: dict[frozenset[tuple[str, str, str]], _Group] = field(default_factory=dict)
    by_user: dict[int, set[Reader]] = field(default_factory=dict)
    count: int = 0


class _Scoped:
    """A ``stats``-like event split into pre-encoded items, so each reader's copy is a join."""

    __slots__ = ("by_group", "cache", "head", "lists", "others")

    def __init__(self, event: LiveEvent, hub: EventHub) -> None:
        env = event.envelope()
        del env["data"]
        self.head = encode(env)[:-1] + ',"data":{'
        names = {name for name, _kind in SCOPED_LISTS[event.type]}
        others = {k: v for k, v in event.data.items() if k not in names}
        self.others = encode(others)[1:-1] if others else ""
        #: per list: (name, items' JSON, items' audiences, owner -> indices)
        self.lists: list[tuple[str, list[str], list[Audience], dict[int, list[int]]]] = []
        for name, kind in SCOPED_LISTS[event.type]:
            raw = event.data.get(name)
            items = raw if isinstance(raw, list) else []
            texts: list[str] = []
            audiences: list[Audience] = []
            owners: dict[int, list[int]] = {}
            for i, item in enumerate(items):
                texts.append(encode(item))
                a = hub.item_audience(event.tenant_id, kind, item)
                audiences.append(a)
                if a.owner is not None:
                    owners.setdefault(a.owner, []).append(i)
            self.lists.append((name, texts, audiences, owners))
        self.cache: dict[tuple[int, int], str] = {}
        self.by_group: dict[int, list[list[int]]] = {}

    def text_for(self, group: _Group, reader: Reader) -> str | None:
        """The reader's copy, or None when they hold stats.read nowhere or no row is theirs."""
        own = Perm.STATS_READ in reader.own
        if not own and not group.principal.grants_for(Perm.STATS_READ):
            return None
        key = (id(group), reader.user_id if own else 0)
        text = self.cache.get(key)
        if text is None:
            seen = self.by_group.get(id(group))
            if seen is None:  # rows the group's unit/subtree/tenant grants cover: once per group
                seen = self.by_group[id(group)] = [
                    [i for i, a in enumerate(audiences) if group.sees(a)]
                    for _name, _texts, audiences, _owners in self.lists
                ]
            pieces = [self.others] if self.others else []
            rows = 0
            for (name, texts, _audiences, owners), idx in zip(self.lists, seen, strict=True):
                if own and reader.user_id in owners:
                    extra = [i for i in owners[reader.user_id] if i not in idx]
                    idx = sorted(idx + extra) if extra else idx
                rows += len(idx)
                pieces.append(f'"{name}":[' + ",".join(texts[i] for i in idx) + "]")
            # nothing of it concerns this reader (stats carry only what changed): not sent
            text = self.cache[key] = self.head + ",".join(pieces) + "}}" if rows or self.others else ""
        return text or None


# -- the hub ----------------------------------------------------------------------------------------


class EventHub:
    """Per-tenant sequence numbers, a bounded replay buffer, readers and synchronous listeners."""

    def __init__(
        self, *, buffer: int = 10_000, buffer_bytes: int = 32 << 20, locator: Locator | None = None
    ) -> None:
        #: the replay buffer per tenant: at most ``buffer`` events and ``buffer_bytes`` of encoded
        #: text (big ``stats`` events would otherwise make 10,000 events hundreds of megabytes)
        self._buffer_size = buffer
        self._buffer_bytes = buffer_bytes
        self._bytes: dict[int, int] = {}
        #: id of this run: sequence numbers restart with it (a client resumes only within one)
        self.epoch = secrets.token_hex(6)
        self.locator: Locator = locator if locator is not None else NullLocator()
        self._seq: dict[int, int] = {}
        self._recent: dict[int, deque[LiveEvent]] = {}
        self._listeners: list[Listener] = []
        self._readers: dict[int, _TenantReaders] = {}
        self._scoped: OrderedDict[tuple[int, int], _Scoped] = OrderedDict()
        #: extra snapshot sections (e.g. "calls" from call control), see :meth:`register_snapshot`
        self.snapshot_providers: dict[str, SnapshotProvider] = {}
        self.published = 0

    # -- publishing ---------------------------------------------------------------------------

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
        at = at or utcnow()
        data = data or {}
        text = encode(
            {
                "seq": seq,
                "type": type,
                "at": at.isoformat(),
                "call_id": call_id,
                "queue": queue,
                "agent_id": agent_id,
                "data": data,
            }
        )
        event = LiveEvent(
            tenant_id,
            seq,
            type,
            at,
            call_id,
            queue,
            agent_id,
            data,
            frozenset(users) if users is not None else None,
            text,
        )
        recent = self._recent.get(tenant_id)
        if recent is None:
            recent = self._recent[tenant_id] = deque()
        recent.append(event)
        size = self._bytes.get(tenant_id, 0) + len(text)
        while len(recent) > self._buffer_size or (size > self._buffer_bytes and len(recent) > 1):
            size -= len(recent.popleft().text)
        self._bytes[tenant_id] = size
        self.published += 1
        readers = self._readers.get(tenant_id)
        if readers is not None and readers.count:
            self._fan_out(event, readers)
        for listener in list(self._listeners):
            listener(event)
        return event

    def last_seq(self, tenant_id: int) -> int:
        return self._seq.get(tenant_id, 0)

    def since(self, tenant_id: int, seq: int) -> list[LiveEvent] | None:
        """Events after ``seq``, or None when some of them are no longer buffered (or ``seq`` is
        from the future: not of this run)."""
        recent = self._recent.get(tenant_id, deque())
        last = self._seq.get(tenant_id, 0)
        if seq == last:
            return []
        if seq > last or seq < 0:
            return None
        if not recent or recent[0].seq > seq + 1:
            return None
        start = seq + 1 - recent[0].seq
        return [recent[i] for i in range(start, len(recent))]

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` synchronously for every event; returns the function that stops it."""
        self._listeners.append(listener)

        def stop() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return stop

    def register_snapshot(self, name: str, provider: SnapshotProvider) -> None:
        """Add a section to the snapshot new readers get (``"calls"``: the live calls they may see)."""
        self.snapshot_providers[name] = provider

    # -- who sees what --------------------------------------------------------------------------

    def audience(self, event: LiveEvent) -> Audience:
        loc, tid = self.locator, event.tenant_id
        if event.call_id:
            path = None
            if event.queue:
                path = loc.queue_path(tid, event.queue)
            elif event.agent_id is not None:
                path = loc.agent_path(tid, event.agent_id)
            if event.type == "supervise" and event.data.get("mode") == "listen":
                # silent monitoring: supervisors of the call's unit only, never the agent listened to
                return Audience(Perm.CALL_SUPERVISE, "call", path or TENANT_PATH)
            return Audience(Perm.CALL_READ, "call", path or TENANT_PATH, event.agent_id)
        if event.type in TICKET_EVENTS:
            unit_id, handler = event.data.get("unit_id"), event.data.get("handler_id")
            path = loc.unit_path(tid, unit_id) if isinstance(unit_id, int) else None
            owner = handler if isinstance(handler, int) else None
            return Audience(Perm.TICKET_READ, "ticket", path or TENANT_PATH, owner)
        if event.queue:
            return Audience(Perm.QUEUE_READ, "queue", loc.queue_path(tid, event.queue) or TENANT_PATH)
        if event.agent_id is not None:
            path = loc.agent_path(tid, event.agent_id)
            return Audience(Perm.AGENT_READ, "agent", path or TENANT_PATH, event.agent_id)
        return Audience(Perm.STATS_READ, "tenant", TENANT_PATH)

    def item_audience(self, tenant_id: int, kind: str, item: Any) -> Audience:
        """Where one row of a ``stats`` list lies (a queue row, an agent row)."""
        path: str | None = None
        owner: int | None = None
        if isinstance(item, dict):
            if kind == "agent":
                raw = item.get("agent_id", item.get("user_id"))
                owner = raw if isinstance(raw, int) else None
                if owner is not None:
                    path = self.locator.agent_path(tenant_id, owner)
            else:
                name = item.get("queue", item.get("name"))
                if isinstance(name, str):
                    path = self.locator.queue_path(tenant_id, name)
            if path is None and isinstance(item.get("unit_id"), int):
                path = self.locator.unit_path(tenant_id, item["unit_id"])
        return Audience(Perm.STATS_READ, kind, path or TENANT_PATH, owner)

    def sees(self, reader: Reader, a: Audience) -> bool:
        group = reader.group or self._group_for(reader)
        return group.sees(a) or (a.owner == reader.user_id and a.perm in reader.own)

    def frame_for(self, reader: Reader, event: LiveEvent) -> str | None:
        """The text ``reader`` gets for ``event`` (replays), or None when they may not see it."""
        if event.tenant_id != reader.tenant_id or event.type in reader.skip:
            return None
        if event.users is not None:
            return event.text if reader.user_id in event.users else None
        group = reader.group or self._group_for(reader)
        if event.type in SCOPED_LISTS:
            return self._scoped_of(event).text_for(group, reader)
        return event.text if self.sees(reader, self.audience(event)) else None

    # -- readers --------------------------------------------------------------------------------

    def subscribe(self, reader: Reader) -> None:
        t = self._readers.setdefault(reader.tenant_id, _TenantReaders())
        group = self._group_for(reader)
        group.readers.add(reader)
        reader.group = group
        t.by_user.setdefault(reader.user_id, set()).add(reader)
        t.count += 1

    def unsubscribe(self, reader: Reader) -> None:
        t = self._readers.get(reader.tenant_id)
        if t is None or reader.group is None or reader not in reader.group.readers:
            return
        reader.group.readers.discard(reader)
        users = t.by_user.get(reader.user_id)
        if users is not None:
            users.discard(reader)
            if not users:
                del t.by_user[reader.user_id]
        t.count -= 1

    def readers(self) -> list[Reader]:
        return [r for t in self._readers.values() for g in t.groups.values() for r in g.readers]

    def invalidate(self) -> None:
        """Forget cached policy decisions (units, agents or queues moved)."""
        for t in self._readers.values():
            for g in t.groups.values():
                g.cache.clear()
        self._scoped.clear()

    def _group_for(self, reader: Reader) -> _Group:
        t = self._readers.setdefault(reader.tenant_id, _TenantReaders())
        grants = tuple(g for g in reader.principal.grants if g.scope is not Scope.OWN)
        key = frozenset((g.role.value, g.scope.value, g.unit_path) for g in grants)
        group = t.groups.get(key)
        if group is None:
            principal = Principal(
                user_id=-1, tenant_id=reader.tenant_id, username="", unit_id=0, grants=grants
            )
            group = t.groups[key] = _Group(principal)
        return group

    def _scoped_of(self, event: LiveEvent) -> _Scoped:
        key = (event.tenant_id, event.seq)
        scoped = self._scoped.get(key)
        if scoped is None:
            scoped = self._scoped[key] = _Scoped(event, self)
            while len(self._scoped) > 4:
                self._scoped.popitem(last=False)
        return scoped

    def _fan_out(self, event: LiveEvent, t: _TenantReaders) -> None:
        seq = event.seq
        kind = event.type
        if event.users is not None:
            for uid in event.users:
                for r in t.by_user.get(uid, ()):
                    if kind not in r.skip:
                        r.push(seq, event.text)
            return
        if kind in SCOPED_LISTS:
            scoped = self._scoped_of(event)
            for g in t.groups.values():
                for r in g.readers:
                    if kind in r.skip:
                        continue
                    text = scoped.text_for(g, r)
                    if text is not None:
                        r.push(seq, text)
            return
        a = self.audience(event)
        text = event.text
        for g in t.groups.values():
            if g.readers and g.sees(a):
                for r in g.readers:
                    if kind not in r.skip:
                        r.push(seq, text)
        if a.owner is not None:
            for r in t.by_user.get(a.owner, ()):
                if a.perm in r.own and kind not in r.skip:
                    r.push(seq, text)
