"""Built-in engine: 3-party conference and supervisor listen/whisper/barge, checked per listener."""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import AsyncIterator

import pytest

from hotline.media.builtin import BuiltinConfig, BuiltinMediaEngine
from hotline.media.engine import Conference, EndpointId, Supervision
from hotline.media.softphone import SoftPhone, tone_level
from hotline.media.tones import tone

FREQ = {"caller": 350.0, "agent": 750.0, "supervisor": 1250.0, "third": 1650.0}


@pytest.fixture
async def engine() -> AsyncIterator[BuiltinMediaEngine]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        base = 20000 + (s.getsockname()[1] % 40) * 1000
    eng = BuiltinMediaEngine(BuiltinConfig(port_min=base, port_max=base + 998, media_timeout_s=None))
    yield eng
    await eng.close()


async def _parties(
    engine: BuiltinMediaEngine, names: list[str]
) -> tuple[dict[str, SoftPhone], dict[str, EndpointId]]:
    phones: dict[str, SoftPhone] = {}
    eps: dict[str, EndpointId] = {}
    for name in names:
        phone = await SoftPhone.open()
        ep = await engine.create_endpoint("mix", name, phone.description())
        phone.play(tone([FREQ[name]], 1000, amplitude=4000))
        phone.start((ep.local.address, ep.local.port))
        phones[name], eps[name] = phone, ep.id
    return phones, eps


async def _heard(phones: dict[str, SoftPhone], seconds: float = 0.4) -> dict[str, set[str]]:
    """Which parties' tones each phone hears over the next ``seconds`` (after settling)."""
    await asyncio.sleep(0.25)  # let the change propagate through jitter buffers
    t = asyncio.get_running_loop().time()
    await asyncio.sleep(seconds)
    out: dict[str, set[str]] = {}
    for listener, phone in phones.items():
        audio = phone.received_audio(since=t)
        levels = {speaker: tone_level(audio, f) for speaker, f in FREQ.items()}
        loud = {s for s, v in levels.items() if v > 1500}
        quiet = {s for s, v in levels.items() if v < 100}
        assert loud | quiet == set(levels), f"{listener}: ambiguous levels {levels}"
        out[listener] = loud
    return out


async def test_three_party_conference(engine: BuiltinMediaEngine) -> None:
    phones, eps = await _parties(engine, ["caller", "agent", "third"])
    mid = await engine.mix(Conference((eps["caller"], eps["agent"], eps["third"])))
    heard = await _heard(phones)
    assert heard == {"caller": {"agent", "third"}, "agent": {"caller", "third"}, "third": {"caller", "agent"}}
    # third party leaves: the remaining two still hear each other, the third hears nobody
    await engine.mix(Conference((eps["caller"], eps["agent"])), mid)
    heard = await _heard(phones)
    assert heard == {"caller": {"agent"}, "agent": {"caller"}, "third": set()}
    await engine.unmix(mid)
    heard = await _heard(phones)
    assert heard == {"caller": set(), "agent": set(), "third": set()}
    for p in phones.values():
        await p.close()


async def test_supervisor_listen_whisper_barge(engine: BuiltinMediaEngine) -> None:
    phones, eps = await _parties(engine, ["caller", "agent", "supervisor"])
    await engine.bridge(eps["caller"], eps["agent"])
    heard = await _heard(phones)
    assert heard == {"caller": {"agent"}, "agent": {"caller"}, "supervisor": set()}

    parties = (eps["caller"], eps["agent"])
    mid = await engine.mix(Supervision(parties, eps["agent"], eps["supervisor"], "listen"))
    heard = await _heard(phones)
    assert heard == {"caller": {"agent"}, "agent": {"caller"}, "supervisor": {"caller", "agent"}}

    await engine.mix(Supervision(parties, eps["agent"], eps["supervisor"], "whisper"), mid)
    heard = await _heard(phones)
    assert heard == {
        "caller": {"agent"},
        "agent": {"caller", "supervisor"},
        "supervisor": {"caller", "agent"},
    }

    await engine.mix(Supervision(parties, eps["agent"], eps["supervisor"], "barge"), mid)
    heard = await _heard(phones)
    assert heard == {
        "caller": {"agent", "supervisor"},
        "agent": {"caller", "supervisor"},
        "supervisor": {"caller", "agent"},
    }
    # supervisor hangs up: the mix shrinks to the two parties, who keep hearing each other
    await engine.close_endpoint(eps["supervisor"])
    del phones["supervisor"]
    heard = await _heard(phones)
    assert heard == {"caller": {"agent"}, "agent": {"caller"}}
    for p in phones.values():
        await p.close()


async def test_mix_changes_do_not_break_the_stream(engine: BuiltinMediaEngine) -> None:
    phones, eps = await _parties(engine, ["caller", "agent", "supervisor"])
    parties = (eps["caller"], eps["agent"])
    mid = None
    for mode in ("listen", "whisper", "barge", "listen"):
        mid = await engine.mix(Supervision(parties, eps["agent"], eps["supervisor"], mode), mid)
        await asyncio.sleep(0.15)
    for p in phones.values():
        await p.close()
    for p in phones.values():
        packets = p.audio_packets()
        assert len({x.ssrc for x in packets}) == 1
        seqs = [x.sequence for x in packets]
        assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
