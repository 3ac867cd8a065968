"""The contact-centre services that live with the app whether or not SIP runs:
the queue event log, the ACD (engine per tenant + agent sessions), IVR flows and actions."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.cti.acdservice import AcdService
from hotline.cti.eventlog import EventLog
from hotline.cti.events import EventHub
from hotline.cti.flows import FlowStore
from hotline.ivr.actions import ActionRegistry, default_registry


class ContactCenter:
    def __init__(
        self, factory: async_sessionmaker[AsyncSession], *, actions: ActionRegistry | None = None
    ) -> None:
        self.factory = factory
        #: live events (WebSocket /api/v1/events, webhooks); the event log publishes into it
        self.hub = EventHub()
        self.events = EventLog(factory, hub=self.hub)
        self.acd = AcdService(factory, self.events)
        self.actions = actions if actions is not None else default_registry()
        self.flows = FlowStore(factory, action_names=self.actions.names)

    async def start(self) -> None:
        await self.acd.load()
        self.acd.start()
        self.events.start()

    async def stop(self) -> None:
        await self.acd.stop()
        await self.events.stop()
