"""Write RTP pcap files for SIPp's ``play_pcap_audio`` (it rewrites addresses, keeps payload and timing)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from hotline.media.g711 import PCMA, PCMU
from hotline.media.rtp import RtpPacket

LOCALHOST = bytes([127, 0, 0, 1])


def _checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ipv4_udp(seq: int, payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", 6000, 6000, 8 + len(payload), 0) + payload
    fields = (0x45, 0, 20 + len(udp), seq & 0xFFFF, 0x4000, 64, 17, 0, LOCALHOST, LOCALHOST)
    header = struct.pack("!BBHHHBBH4s4s", *fields)
    return header[:10] + struct.pack("!H", _checksum(header)) + header[12:] + udp


def tone_pcap(
    path: Path, freq: float, seconds: float, *, codec: str = "PCMA", ptime_ms: int = 20, level: float = 0.3
) -> Path:
    """A pcap of a ``freq`` Hz tone as G.711 RTP with ``ptime_ms`` packets."""
    g711 = PCMA if codec == "PCMA" else PCMU
    rate, spp = 8000, 8 * ptime_ms
    t = np.arange(int(seconds * rate)) / rate
    pcm = (level * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]  # pcap header, Ethernet frames
    for i in range(len(pcm) // spp):
        payload = g711.encode(pcm[i * spp : (i + 1) * spp])
        rtp = RtpPacket(g711.payload_type, (1000 + i) & 0xFFFF, i * spp, 0x1234ABCD, payload, marker=i == 0)
        frame = b"\x00" * 12 + b"\x08\x00" + _ipv4_udp(i, rtp.build())
        ts = 1_700_000_000 + i * ptime_ms / 1000
        out.append(struct.pack("<IIII", int(ts), round((ts % 1) * 1e6), len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))
    return path


def _pcap_record(ts: float, frame_payload: bytes, ip_id: int) -> bytes:
    frame = b"\x00" * 12 + b"\x08\x00" + _ipv4_udp(ip_id, frame_payload)
    return struct.pack("<IIII", int(ts), round((ts % 1) * 1e6) % 1_000_000, len(frame), len(frame)) + frame


def rfc4733_pcap(
    path: Path,
    digits: str,
    *,
    gap_ms: int = 300,
    event_ms: int = 200,
    pt: int = 101,
    lead_ms: int = 100,
    fill: str | None = None,
    volume: int = 10,
    ssrc: int = 0x4733ABCD,
) -> Path:
    """A pcap of RFC 4733 telephone-events (``0-9 * # A-D``, events 0..15) for a digit sequence.

    Per digit: a start packet with the marker bit, updates every 20 ms with the growing duration,
    then three end packets (E bit) with the final duration -- all with the event's RTP timestamp
    (the start of the key press), so repeated digits are distinct presses.  Between digits
    ``gap_ms`` of nothing (``fill=None``) or of G.711 silence packets (``fill="PCMU"``/``"PCMA"``)
    in the same RTP stream.  ``lead_ms`` of gap/silence come first.  One SSRC and one continuous
    sequence-number space for the whole file; the pcap timing is what SIPp replays.
    """
    from hotline.media.dtmf import TelephoneEvent, digit_to_event

    g711 = {"PCMA": PCMA, "PCMU": PCMU}.get(fill or "")
    if fill is not None and g711 is None:
        raise ValueError(f"fill must be None, 'PCMU' or 'PCMA', not {fill!r}")
    events = [digit_to_event(d) for d in digits]
    rate, step = 8000, 20  # 8 kHz clock, a packet every 20 ms
    records = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    seq = 1000
    t_ms = 0
    base = 1_700_000_000.0

    def emit(at_ms: int, rtp: RtpPacket) -> None:
        nonlocal seq
        records.append(_pcap_record(base + at_ms / 1000, rtp.build(), seq))
        seq += 1

    def silence(until_ms: int) -> None:
        nonlocal t_ms
        while t_ms + step <= until_ms:
            if g711 is not None:
                payload = g711.encode(np.zeros(8 * step, dtype=np.int16))
                emit(t_ms, RtpPacket(g711.payload_type, seq & 0xFFFF, t_ms * 8, ssrc, payload))
            t_ms += step
        t_ms = until_ms

    silence(lead_ms)
    for i, ev in enumerate(events):
        start = t_ms
        ts = start * rate // 1000
        total = event_ms * rate // 1000
        at = 0
        while at < event_ms:
            dur = min((at + step) * rate // 1000, total)
            tev = TelephoneEvent(ev, False, volume, dur).encode()
            emit(start + at, RtpPacket(pt, seq & 0xFFFF, ts, ssrc, tev, marker=at == 0))
            at += step
        end = TelephoneEvent(ev, True, volume, total).encode()
        for k in range(3):
            emit(start + event_ms + k, RtpPacket(pt, seq & 0xFFFF, ts, ssrc, end))
        t_ms = start + event_ms + step
        if i < len(events) - 1:
            silence(t_ms + gap_ms)
    path.write_bytes(b"".join(records))
    return path


def pcap_duration(path: Path) -> float:
    """Seconds from the first to the last packet of a pcap (what a SIPp replay takes)."""
    data = path.read_bytes()
    times: list[float] = []
    off = 24
    while off + 16 <= len(data):
        sec, usec, incl, _ = struct.unpack_from("<IIII", data, off)
        times.append(sec + usec / 1e6)
        off += 16 + incl
    return times[-1] - times[0] if times else 0.0
