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
