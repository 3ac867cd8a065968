"""The telephony service: media engine + SIP server + call manager, started with the app."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.config import Settings
from hotline.cti.b2bua import CallManager, CallSettings
from hotline.cti.center import ContactCenter
from hotline.cti.control import CallControl
from hotline.cti.inbound import ServiceCalls
from hotline.media.builtin import BuiltinConfig, BuiltinMediaEngine
from hotline.media.diskwatch import DiskWatch
from hotline.media.tts import TtsRenderer
from hotline.sip.server import SipServer
from hotline.sip.server import SipSettings as SipServerSettings

log = logging.getLogger("hotline.cti")


class Telephony:
    """Owns the running telephony parts; ``start()`` binds sockets, ``stop()`` hangs up and closes."""

    def __init__(
        self,
        settings: Settings,
        factory: async_sessionmaker[AsyncSession],
        center: ContactCenter | None = None,
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.center = center if center is not None else ContactCenter(factory)
        m = settings.media
        self.media = BuiltinMediaEngine(
            BuiltinConfig(
                host=m.host,
                advertise=m.advertise or None,
                port_min=m.port_min,
                port_max=m.port_max,
                media_timeout_s=m.media_timeout or None,
            )
        )
        data_dir = settings.data_dir.resolve()
        recordings = data_dir / "recordings"
        recordings.mkdir(parents=True, exist_ok=True)
        #: free space of the recordings disk; when critical, new recordings are refused (calls go on)
        self.disk = DiskWatch(recordings)
        self.media.set_disk_watch(self.disk)
        #: espeak-ng prompts, rendered once and cached under DATA/prompts/tts
        self.tts = TtsRenderer(data_dir / "prompts" / "tts")
        self.sip = SipServer(
            settings.sip.host,
            settings.sip.port,
            factory,
            SipServerSettings(
                keepalive_interval=settings.sip.keepalive_interval,
                digest_algorithms=tuple(settings.sip.digest_algorithms),
            ),
        )
        self.calls = CallManager.from_database(
            self.sip,
            self.media,
            factory,
            CallSettings(
                data_dir=settings.data_dir.resolve(),
                national_prefix=settings.sip.national_prefix,
                country_code=settings.sip.country_code,
                ring_timeout=settings.sip.ring_timeout,
                record_calls=m.record_calls,
                tts=self.tts,
            ),
        )
        #: the service-number path: number plan → IVR → queue → agent phones
        self.services = ServiceCalls(
            self.calls,
            self.center.acd,
            self.center.flows,
            self.center.actions,
            self.center.events,
            outbound_trunk=settings.sip.outbound_trunk or None,
        )
        self.services.action_services = self.center.services
        #: call control for agents and supervisors (the CTI API)
        self.control = CallControl(self.calls, self.services)

    async def start(self) -> None:
        if self.settings.media.port_min >= self.settings.media.port_max:
            raise ValueError("media.port_min must be below media.port_max")
        self.calls.install()
        self.services.install()
        self.control.install()
        hub = self.center.hub
        if hasattr(hub, "register_snapshot"):  # the event stream's snapshot gets the live calls
            hub.register_snapshot("calls", _calls_snapshot)
        self.disk.start()
        await self.sip.start()
        udp = self.sip.udp_address
        log.info("SIP listening on %s (UDP and TCP)", f"{udp[0]}:{udp[1]}" if udp else "?")

    async def stop(self) -> None:
        try:
            await self.calls.shutdown()
        finally:
            await self.sip.stop()
            await self.media.close()
            await self.disk.stop()

    def stats(self) -> dict[str, Any]:
        """Counters for metrics: SIP server, calls, media clock."""
        return {
            "sip": self.sip.stats(),
            "calls": {"active": self.calls.active_calls, "endpoints": self.calls.endpoints_in_use},
            "media_clock": self.media.clock_stats(),
        }

    def health(self) -> dict[str, dict[str, Any]]:
        udp = self.sip.udp_address
        stats = self.sip.stats()
        return {
            "sip": {
                "status": "ok" if self.sip.running else "down",
                "address": f"{udp[0]}:{udp[1]}" if udp else None,
                "registered_aors": stats["bindings"],
            },
            "media": {"status": "ok", "engine": "builtin", "active_calls": self.calls.active_calls},
            "recording_disk": {
                "status": "down" if self.disk.state == "critical" else "ok",
                "state": self.disk.state,
                "free_bytes": self.disk.usage.free if self.disk.usage else None,
            },
            "tts": {"status": "ok" if self.tts.available() else "down", "engine": "espeak-ng"},
        }


async def _calls_snapshot(ctx: Any) -> list[Any]:
    """The ``calls`` section of the event stream's snapshot: GET /api/v1/calls/live for the reader."""
    from hotline.web.api.control import live_calls  # the web layer knows the reader's scope

    return await live_calls(ctx)
