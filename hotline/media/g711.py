"""G.711 mu-law and A-law codecs, vectorised with numpy.

The encoder is a 65,536-entry lookup table indexed by the 16-bit sample, the
decoder a 256-entry table.  Tables are built (vectorised) from the ITU-T G.191
STL reference algorithm (``ulaw_compress``/``alaw_compress``), i.e. the input
is treated as a 16-bit left-justified linear sample, negative values are
handled with one's complement, and the result is bit-exact with ITU-T G.711.
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "PCMA",
    "PCMU",
    "SAMPLES_PER_FRAME",
    "G711Codec",
    "alaw_decode",
    "alaw_encode",
    "ulaw_decode",
    "ulaw_encode",
]

SAMPLES_PER_FRAME: Final = 160
"""20 ms at 8 kHz."""


def _build_ulaw_encode_table() -> npt.NDArray[np.uint8]:
    lin = np.arange(-32768, 32768, dtype=np.int32)
    absno = np.where(lin < 0, (~lin) >> 2, lin >> 2) + 33
    absno = np.minimum(absno, 0x1FFF)
    # segno = 1 + number of significant bits of (absno >> 6)
    i = absno >> 6
    segno = np.ones_like(absno)
    for _ in range(8):
        segno += (i != 0).astype(np.int32)
        i >>= 1
    high = 8 - segno
    low = 0x0F - ((absno >> segno) & 0x0F)
    out = (high << 4) | low
    out = np.where(lin >= 0, out | 0x80, out)
    # reorder so that the table is indexed by the uint16 view of the sample
    table = np.empty(65536, dtype=np.uint8)
    table[lin.astype(np.int16).view(np.uint16)] = out.astype(np.uint8)
    return table


def _build_ulaw_decode_table() -> npt.NDArray[np.int16]:
    code = np.arange(256, dtype=np.int32)
    sign = np.where(code < 0x80, -1, 1)
    mantissa = ~code
    exponent = (mantissa >> 4) & 0x07
    segment = exponent + 1
    mantissa &= 0x0F
    step = 4 << segment
    value = sign * ((0x80 << exponent) + step * mantissa + step // 2 - 4 * 33)
    result: npt.NDArray[np.int16] = value.astype(np.int16)
    return result


def _build_alaw_encode_table() -> npt.NDArray[np.uint8]:
    lin = np.arange(-32768, 32768, dtype=np.int32)
    ix = np.where(lin < 0, (~lin) >> 4, lin >> 4)
    iexp = np.ones_like(ix)
    big = ix > 15
    work = ix.copy()
    for _ in range(8):
        more = big & (work > 16 + 15)
        work = np.where(more, work >> 1, work)
        iexp += more.astype(np.int32)
    encoded = np.where(big, work - 16 + (iexp << 4), ix)
    encoded = np.where(lin >= 0, encoded | 0x80, encoded) ^ 0x55
    table = np.empty(65536, dtype=np.uint8)
    table[lin.astype(np.int16).view(np.uint16)] = encoded.astype(np.uint8)
    return table


def _build_alaw_decode_table() -> npt.NDArray[np.int16]:
    code = np.arange(256, dtype=np.int32)
    ix = (code ^ 0x55) & 0x7F
    iexp = ix >> 4
    mant = ix & 0x0F
    mant = np.where(iexp > 0, mant + 16, mant)
    mant = (mant << 4) + 0x08
    mant = np.where(iexp > 1, mant << np.maximum(iexp - 1, 0), mant)
    value = np.where(code > 127, mant, -mant)
    return value.astype(np.int16)


_ULAW_ENC: Final = _build_ulaw_encode_table()
_ULAW_DEC: Final = _build_ulaw_decode_table()
_ALAW_ENC: Final = _build_alaw_encode_table()
_ALAW_DEC: Final = _build_alaw_decode_table()


def _as_int16(pcm: npt.ArrayLike) -> npt.NDArray[np.int16]:
    arr = np.asarray(pcm)
    if arr.dtype != np.int16:
        raise TypeError(f"expected int16 samples, got {arr.dtype}")
    return arr


def ulaw_encode(pcm: npt.NDArray[np.int16]) -> bytes:
    """Encode 16-bit linear PCM to mu-law bytes (one byte per sample)."""
    arr = _as_int16(pcm)
    return _ULAW_ENC[arr.view(np.uint16)].tobytes()


def ulaw_decode(data: bytes | bytearray | memoryview) -> npt.NDArray[np.int16]:
    """Decode mu-law bytes to 16-bit linear PCM."""
    return _ULAW_DEC[np.frombuffer(data, dtype=np.uint8)]


def alaw_encode(pcm: npt.NDArray[np.int16]) -> bytes:
    """Encode 16-bit linear PCM to A-law bytes (one byte per sample)."""
    arr = _as_int16(pcm)
    return _ALAW_ENC[arr.view(np.uint16)].tobytes()


def alaw_decode(data: bytes | bytearray | memoryview) -> npt.NDArray[np.int16]:
    """Decode A-law bytes to 16-bit linear PCM."""
    return _ALAW_DEC[np.frombuffer(data, dtype=np.uint8)]


class G711Codec:
    """A G.711 codec bound to its static RTP payload type (RFC 3551)."""

    clock_rate: Final = 8000

    def __init__(self, law: Literal["ulaw", "alaw"]) -> None:
        self.law: Final = law
        self.name: str
        self.payload_type: int
        if law == "ulaw":
            self.name = "PCMU"
            self.payload_type = 0
            self._enc, self._dec = _ULAW_ENC, _ULAW_DEC
        elif law == "alaw":
            self.name = "PCMA"
            self.payload_type = 8
            self._enc, self._dec = _ALAW_ENC, _ALAW_DEC
        else:  # pragma: no cover - guarded by Literal
            raise ValueError(f"unknown law {law!r}")
        self._silence_byte = int(self._enc[0])

    def encode(self, pcm: npt.NDArray[np.int16]) -> bytes:
        return self._enc[_as_int16(pcm).view(np.uint16)].tobytes()

    def decode(self, data: bytes | bytearray | memoryview) -> npt.NDArray[np.int16]:
        return self._dec[np.frombuffer(data, dtype=np.uint8)]

    def silence(self, samples: int = SAMPLES_PER_FRAME) -> bytes:
        """Encoded digital silence (0xFF for mu-law, 0xD5 for A-law)."""
        return bytes([self._silence_byte]) * samples

    def __repr__(self) -> str:
        return f"G711Codec({self.law!r})"


PCMU: Final = G711Codec("ulaw")
PCMA: Final = G711Codec("alaw")
