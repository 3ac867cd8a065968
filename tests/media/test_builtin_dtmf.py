"""Built-in engine DTMF over real sockets: RFC 4733 in and out, in-band detection, barge-in."""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import AsyncIterator

import numpy as np
import pytest

from hotline.media.builtin import BuiltinConfig, BuiltinMediaEngine
from hotline.media.dtmf import InbandDtmfDetector, TelephoneEvent
from hotline.media.dtmfsend import Rfc4733Transmitter
from hotline.media.engine import (
    DtmfReceived,
    EndpointId,
    MediaDescription,
    MediaEvent,
    PayloadFormat,
    PlaybackFinished,
    PlayTone,
    UnsupportedOperation,
)
from hotline.media.g711 import PCMU
from hotline.media.rtp import seq_diff
from hotline.media.sender import RtpSender
from hotline.media.softphone import SoftPhone
from hotline.media.tones import ToneSegment, dtmf_tone


@pytest.fixture
async def engine() -> AsyncIterator[BuiltinMediaEngine]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        base = 20000 + (s.getsockname()[1] % 40) * 1000
    eng = BuiltinMediaEngine(BuiltinConfig(port_min=base, port_max=base + 998, media_timeout_s=None))
    yield eng
    await eng.close()


async def _connected(
    engine: BuiltinMediaEngine, *, telephone_event: bool = True
) -> tuple[SoftPhone, EndpointId]:
    phone = await SoftPhone.open()
    desc = phone.description()
    if not telephone_event:
        desc = MediaDescription(desc.address, desc.port, (PayloadFormat(0, "PCMU"),))
    ep = await engine.create_endpoint("call", "caller", desc)
    phone.start((ep.local.address, ep.local.port))
    return phone, ep.id


def _digits(events: list[MediaEvent]) -> list[DtmfReceived]:
    return [e for e in events if isinstance(e, DtmfReceived)]


async def test_rfc4733_digits_reported_exactly_once(engine: BuiltinMediaEngine) -> None:
    events: list[MediaEvent] = []
    engine.subscribe(events.append)
    phone, _ep = await _connected(engine)
    await asyncio.sleep(0.1)
    await phone.send_digits("123#*0", duration_ms=100, pause_ms=60)  # 3 end packets per digit
    await asyncio.sleep(0.2)
    got = _digits(events)
    assert [d.digit for d in got] == list("123#*0")
    assert all(d.source == "rfc4733" and d.duration_ms == pytest.approx(100) for d in got)
    # hand-made event: start, update, 4 end packets, then a late retransmission of the whole
    # event (same RTP timestamp): still one key press
    ts = 123456
    burst = [TelephoneEvent(9, False, 10, 160), TelephoneEvent(9, False, 10, 480)]
    burst += [TelephoneEvent(9, True, 10, 800)] * 4
    for rep in range(2):
        for i, ev in enumerate(burst):
            pkt = phone.sender.event_packet(101, ev.encode(), timestamp=ts, marker=(i == 0))
            phone.send_raw(pkt.build())
            await asyncio.sleep(0.005)
        if rep == 0:
            await asyncio.sleep(0.1)
    await asyncio.sleep(0.1)
    assert [d.digit for d in _digits(events)] == [*"123#*0", "9"]
    assert _digits(events)[-1].duration_ms == pytest.approx(100)
    await phone.close()


async def test_async_handler_and_unsubscribe(engine: BuiltinMediaEngine) -> None:
    seen: list[str] = []

    async def handler(event: MediaEvent) -> None:
        await asyncio.sleep(0)
        if isinstance(event, DtmfReceived):
            seen.append(event.digit)

    unsubscribe = engine.subscribe(handler)
    phone, _ = await _connected(engine)
    await phone.send_digits("7", duration_ms=60)
    await asyncio.sleep(0.1)
    unsubscribe()
    await phone.send_digits("8", duration_ms=60)
    await asyncio.sleep(0.1)
    assert seen == ["7"]
    await phone.close()


async def test_inband_detection_only_when_enabled(engine: BuiltinMediaEngine) -> None:
    events: list[MediaEvent] = []
    engine.subscribe(events.append)
    phone, ep = await _connected(engine, telephone_event=False)
    gap = np.zeros(800, dtype=np.int16)  # 100 ms
    keys = "159#"
    audio = np.concatenate([np.concatenate([dtmf_tone(k, 120), gap]) for k in keys])
    phone.play(audio, loop=False)
    await asyncio.sleep(1.3)
    assert _digits(events) == []  # in-band detection is off by default
    await engine.detect_dtmf(ep, inband=True)
    phone.play(audio, loop=False)
    await asyncio.sleep(1.3)
    got = _digits(events)
    assert [d.digit for d in got] == list(keys)
    assert all(d.source == "inband" and 80 <= d.duration_ms <= 160 for d in got)
    await phone.close()


async def test_barge_in_stops_playback(engine: BuiltinMediaEngine) -> None:
    events: list[MediaEvent] = []
    engine.subscribe(events.append)
    phone, ep = await _connected(engine)
    keep = await engine.play(ep, PlayTone((ToneSegment((440.0,), 5000),)))
    await phone.send_digits("4", duration_ms=60)
    await asyncio.sleep(0.1)
    assert not [e for e in events if isinstance(e, PlaybackFinished)]  # no barge-in requested
    pb = await engine.play(ep, PlayTone((ToneSegment((440.0,), 5000),)), barge_in=True)
    await phone.send_digits("9", duration_ms=60)
    await asyncio.sleep(0.1)
    finished = [(e.playback, e.reason) for e in events if isinstance(e, PlaybackFinished)]
    assert finished == [(keep, "stopped"), (pb, "barge_in")]
    assert [d.digit for d in _digits(events)] == ["4", "9"]
    await phone.close()


async def test_send_dtmf_rfc4733_packets(engine: BuiltinMediaEngine) -> None:
    phone, ep = await _connected(engine)
    await engine.play(ep, PlayTone((ToneSegment((500.0,), 5000),)))
    await asyncio.sleep(0.2)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await engine.send_dtmf(ep, "5A", duration_ms=160, pause_ms=80)
    elapsed = loop.time() - t0
    await asyncio.sleep(0.2)
    await phone.close()
    packets = [r.packet for r in phone.received]
    # one stream, continuous sequence numbers across audio and events
    assert len({p.ssrc for p in packets}) == 1
    assert all(seq_diff(b.sequence, a.sequence) == 1 for a, b in itertools.pairwise(packets))
    events = [p for p in packets if p.payload_type == 101]
    by_ts: dict[int, list[TelephoneEvent]] = {}
    markers: dict[int, list[bool]] = {}
    for p in events:
        by_ts.setdefault(p.timestamp, []).append(TelephoneEvent.decode(p.payload))
        markers.setdefault(p.timestamp, []).append(p.marker)
    assert len(by_ts) == 2
    for (_ts, evs), digit_event in zip(sorted(by_ts.items()), (5, 12), strict=True):
        assert {e.event for e in evs} == {digit_event}
        assert [e.end for e in evs][-3:] == [True, True, True] and not any(e.end for e in evs[:-3])
        assert evs[-1].duration == 1280  # 160 ms at 8 kHz
        durations = [e.duration for e in evs]
        assert durations == sorted(durations)
    assert [m[0] for m in markers.values()] == [True, True]
    assert all(not any(m[1:]) for m in markers.values())
    # audio is suppressed during the event, its clock keeps running: no audio packet shares the
    # event's time span, and the first audio after the event is a new talkspurt
    ts_sorted = sorted(by_ts)
    audio_after = [p for p in packets if p.payload_type == 0 and p.timestamp > ts_sorted[0]]
    first = audio_after[0]
    assert first.marker and first.timestamp >= ts_sorted[0] + 1280
    assert 0.5 <= elapsed < 1.0  # 2 x (160 ms + end packets) + pause


async def test_send_dtmf_inband_without_telephone_event(engine: BuiltinMediaEngine) -> None:
    phone, ep = await _connected(engine, telephone_event=False)
    with pytest.raises(UnsupportedOperation):
        await engine.send_dtmf(ep, "1", mode="rfc4733")
    await engine.send_dtmf(ep, "38", duration_ms=120, pause_ms=100)
    await asyncio.sleep(0.1)
    await phone.close()
    detector = InbandDtmfDetector()
    digits = detector.process(phone.received_audio()) + detector.flush()
    assert [d.digit for d in digits] == ["3", "8"]
    assert all(p.payload_type == 0 for p in (r.packet for r in phone.received))


def test_transmitter_schedule_on_the_media_clock() -> None:
    """Each event packet's duration equals the media time it covers when it is sent."""
    sender = RtpSender(PCMU, ssrc=1, initial_timestamp=1000)
    tx = Rfc4733Transmitter(101)
    done: list[bool] = []
    tx.enqueue("7", duration_ms=160, pause_ms=40, on_done=lambda: done.append(True))
    sent: list[tuple[int, int, TelephoneEvent, bool]] = []  # tick, ts, event, marker
    for tick in range(16):
        packets = tx.tick(sender)
        if packets is None:
            sender.audio_packet(None)
            continue
        sent += [(tick, p.timestamp, TelephoneEvent.decode(p.payload), p.marker) for p in packets]
    assert [t for t, *_ in sent] == [0, 2, 4, 6, 8, 9, 10]
    assert {ts for _, ts, _, _ in sent} == {1000}
    for tick, _, ev, _ in sent:
        assert ev.duration == (min(tick * 160 + 160, 1280) if not ev.end else 1280)
    assert [m for *_, m in sent] == [True] + [False] * 6
    assert done == [True] and not tx.busy
    assert sender.next_timestamp == 1000 + 16 * 160  # the audio clock never stopped
