"""Helpers for call-path tests with real SIPp peers: the demo contact centre seen from outside.

:class:`Center` wraps the running app (``telephony_client``) and a :class:`SippPeers` factory:
queue settings through ``PUT /api/v1/queues`` (merged with the stored ones), agents logging in
at their demo extensions, SIPp agent phones that register as those extensions, SIPp callers
from outside that send RFC 4733 digits, and the records a call leaves behind (CDR, queue event
log, recording).
"""

from __future__ import annotations

import asyncio
import time
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from httpx import AsyncClient

from hotline.seed import DEMO_SIP_PASSWORD
from tests.conftest import token_for
from tests.peers.pcapgen import tone_pcap
from tests.peers.sipp import (
    Pause,
    Play,
    SippPeer,
    SippPeers,
    Step,
    agent_phone_scenario,
    caller_row,
    caller_scenario,
    dtmf_pcap,
    phone_row,
    wait_registered,
)

DOMAIN = "demo"
#: demo agents and the extension each logs in at in these tests
EXTENSIONS = {"li.na": "1001", "zhang.wei": "1002", "wang.fang": "1003"}
#: an outside caller (no credentials)
CUSTOMER = "13912340001"


async def until(predicate: Callable[[], Any], seconds: float, what: str, step: float = 0.05) -> Any:
    """Poll a (sync or async) predicate until it returns something truthy; return that."""
    deadline = time.monotonic() + seconds
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(step)
    raise AssertionError(f"timed out after {seconds}s waiting for {what} (last: {last!r})")


def wav_seconds(path: Path) -> tuple[float, int]:
    """(duration in seconds, channels) of a WAV file."""
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate(), w.getnchannels()


@dataclass
class Center:
    client: AsyncClient
    peers: SippPeers
    tmp: Path
    admin: dict[str, str] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)
    _pcaps: dict[str, Path] = field(default_factory=dict)

    @classmethod
    async def create(cls, client: AsyncClient, peers: SippPeers, tmp: Path) -> Center:
        c = cls(client, peers, tmp)
        c.admin = await token_for(client, "admin")
        for name in EXTENSIONS:
            h = await token_for(client, name)
            c.tokens[name] = h
            c.users[name] = (await client.get("/api/v1/auth/me", headers=h)).json()["id"]
        return c

    # -- the server -------------------------------------------------------------------------------
    @property
    def tele(self) -> Any:
        return self.client.app.state.hotline.telephony  # type: ignore[attr-defined]

    @property
    def server(self) -> tuple[str, int]:
        host, port = self.tele.sip.udp_address
        return str(host), int(port)

    @property
    def data_dir(self) -> Path:
        return Path(self.tele.calls.settings.data_dir)

    async def idle(self, seconds: float = 10.0) -> None:
        await until(lambda: self.tele.calls.active_calls == 0, seconds, "every call to end")

    # -- configuration ----------------------------------------------------------------------------
    async def queue(self, name: str, **settings: Any) -> dict[str, Any]:
        """Change some settings of a queue (the others are kept) through the API."""
        r = await self.client.get(f"/api/v1/queues/{name}", headers=self.admin)
        assert r.status_code == 200, r.text
        q = r.json()
        body = {
            "unit": q["unit_id"],
            "display_name": q["display_name"],
            "settings": {**q["settings"], **settings},
        }
        r = await self.client.put(f"/api/v1/queues/{name}", json=body, headers=self.admin)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    async def fast_queues(self, *names: str, **settings: Any) -> None:
        """Queues that keep tests short: no greeting, short wrap-up, no whisper."""
        base = {"wrap_up": 1, "greeting": None, "whisper": False, "announce_first": 30, **settings}
        for name in names:
            await self.queue(name, **base)

    async def flow(self, name: str, source: str) -> None:
        r = await self.client.put(f"/api/v1/ivr/flows/{name}", json={"source": source}, headers=self.admin)
        assert r.status_code == 200, r.text

    async def number(self, number: str, flow: str, **kw: Any) -> None:
        r = await self.client.put(
            f"/api/v1/ivr/numbers/{number}", json={"flow": flow, **kw}, headers=self.admin
        )
        assert r.status_code == 200, r.text

    # -- agents -----------------------------------------------------------------------------------
    async def login(self, agent: str, *, ready: bool = True) -> dict[str, Any]:
        r = await self.client.post(
            f"/api/v1/agents/{self.users[agent]}/login",
            json={"extension": EXTENSIONS[agent], "ready": ready},
            headers=self.tokens[agent],
        )
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    async def ready(self, agent: str) -> dict[str, Any]:
        r = await self.client.post(f"/api/v1/agents/{self.users[agent]}/ready", headers=self.tokens[agent])
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    async def agent(self, agent: str) -> dict[str, Any]:
        r = await self.client.get(f"/api/v1/agents/{self.users[agent]}", headers=self.admin)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    async def state(self, agent: str) -> str:
        return str((await self.agent(agent))["state"])

    async def wait_state(self, agent: str, state: str, seconds: float = 10.0) -> dict[str, Any]:
        async def check() -> dict[str, Any] | None:
            st = await self.agent(agent)
            return st if st["state"] == state else None

        out: dict[str, Any] = await until(check, seconds, f"{agent} to be {state}", step=0.1)
        return out

    async def wrap_up(self, agent: str, disposition: str = "resolved", **kw: Any) -> dict[str, Any]:
        r = await self.client.post(
            f"/api/v1/agents/{self.users[agent]}/wrap-up",
            json={"disposition": disposition, "notes": f"{agent}: {disposition}", **kw},
            headers=self.tokens[agent],
        )
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    # -- peers ------------------------------------------------------------------------------------
    def tone(self, freq: float, seconds: float, codec: str) -> Path:
        key = f"{freq}-{seconds}-{codec}"
        if key not in self._pcaps:
            self._pcaps[key] = tone_pcap(self.tmp / f"tone-{key}.pcap", freq, seconds, codec=codec)
        return self._pcaps[key]

    def digits(self, digits: str) -> Play:
        """A :class:`Play` step sending ``digits`` as RFC 4733 events."""
        return Play(dtmf_pcap(self.tmp / f"dtmf-{digits.replace('*', 's').replace('#', 'p')}.pcap", digits))

    async def phone(self, agent: str, **scenario: Any) -> SippPeer:
        """A registered SIPp phone at the agent's extension (see ``agent_phone_scenario``)."""
        ext = EXTENSIONS[agent]
        scenario.setdefault("tone", self.tone(600.0, 6.0, "PCMU"))
        scenario.setdefault("cancel_timeout", 60)
        scenario.setdefault("bye_timeout", 60)
        peer = await self.peers.phone(
            f"phone-{ext}",
            self.server,
            agent_phone_scenario(**scenario),
            phone_row(ext, DOMAIN, DEMO_SIP_PASSWORD),
        )
        await wait_registered(peer)
        await until(lambda: self.tele.sip.lookup(1, ext), 5, f"extension {ext} registered")
        return peer

    async def caller(
        self,
        name: str,
        dialed: str,
        steps: Sequence[Step] = (),
        *,
        number: str = CUSTOMER,
        **scenario: Any,
    ) -> SippPeer:
        """An outside SIPp caller dialling ``dialed``; ``steps`` run after the answer."""
        steps = [*steps]
        scenario.setdefault("codec", "PCMA")
        return await self.peers.caller(
            name, self.server, caller_scenario(steps, **scenario), caller_row(number, dialed), duration=90
        )

    @staticmethod
    def press(digits_step: Play, *, after_ms: int = 1000, then_ms: int = 0) -> list[Step]:
        out: list[Step] = [Pause(after_ms), digits_step]
        if then_ms:
            out.append(Pause(then_ms))
        return out

    # -- records ----------------------------------------------------------------------------------
    async def calls(self, **params: Any) -> list[dict[str, Any]]:
        r = await self.client.get("/api/v1/calls", params=params, headers=self.admin)
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    async def call(self, call_id: str) -> dict[str, Any]:
        r = await self.client.get(f"/api/v1/calls/{call_id}", headers=self.admin)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    async def events(self, call_id: str) -> list[dict[str, Any]]:
        r = await self.client.get("/api/v1/queue-events", params={"call_id": call_id}, headers=self.admin)
        assert r.status_code == 200, r.text
        out: list[dict[str, Any]] = r.json()
        return out

    async def event_names(self, call_id: str) -> list[str]:
        return [e["event"] for e in await self.events(call_id)]

    async def agent_events(self, agent: str) -> list[dict[str, Any]]:
        r = await self.client.get(
            "/api/v1/queue-events", params={"agent_id": self.users[agent]}, headers=self.admin
        )
        assert r.status_code == 200, r.text
        out: list[dict[str, Any]] = r.json()
        return out

    async def callbacks(self) -> list[dict[str, Any]]:
        r = await self.client.get("/api/v1/callbacks", headers=self.admin)
        assert r.status_code == 200, r.text
        out: list[dict[str, Any]] = r.json()
        return out

    async def voicemails(self) -> list[dict[str, Any]]:
        r = await self.client.get("/api/v1/voicemails", headers=self.admin)
        assert r.status_code == 200, r.text
        out: list[dict[str, Any]] = r.json()
        return out

    def recording(self, call: dict[str, Any], *, at_least: float) -> float:
        """Check the call's stereo recording exists with at least ``at_least`` s; its duration."""
        assert call["recording_path"], call
        path = self.data_dir / call["recording_path"]
        assert path.is_file(), path
        seconds, channels = wav_seconds(path)
        assert channels == 2, (path, channels)
        assert at_least <= seconds, (path, seconds, at_least)
        talk = call["talk_seconds"]
        assert talk is not None and abs(seconds - talk) < 1.5, (seconds, talk)
        return seconds


def ordered(names: Sequence[str], *expected: str) -> bool:
    """``expected`` occur in ``names`` in this order (other events may come between)."""
    it = iter(names)
    return all(any(n == e for n in it) for e in expected)


def offers(call: dict[str, Any]) -> list[tuple[int, str]]:
    return [(o["agent"], o["outcome"]) for o in call["offers"]]
