"""G.711 against a straightforward per-sample port of the ITU-T G.191 STL reference."""

from __future__ import annotations

import numpy as np
import pytest

from hotline.media import g711


def ref_ulaw_compress(lin: int) -> int:
    absno = ((~lin) >> 2) + 33 if lin < 0 else (lin >> 2) + 33
    absno = min(absno, 0x1FFF)
    i = absno >> 6
    segno = 1
    while i != 0:
        segno += 1
        i >>= 1
    high = 0x0008 - segno
    low = 0x000F - ((absno >> segno) & 0x000F)
    out = (high << 4) | low
    if lin >= 0:
        out |= 0x0080
    return out


def ref_ulaw_expand(log: int) -> int:
    sign = -1 if log < 0x80 else 1
    mantissa = ~log
    exponent = (mantissa >> 4) & 0x07
    segment = exponent + 1
    mantissa &= 0x0F
    step = 4 << segment
    return sign * ((0x80 << exponent) + step * mantissa + step // 2 - 4 * 33)


def ref_alaw_compress(lin: int) -> int:
    ix = (~lin) >> 4 if lin < 0 else lin >> 4
    if ix > 15:
        iexp = 1
        while ix > 16 + 15:
            ix >>= 1
            iexp += 1
        ix -= 16
        ix += iexp << 4
    if lin >= 0:
        ix |= 0x0080
    return ix ^ 0x0055


def ref_alaw_expand(log: int) -> int:
    ix = (log ^ 0x0055) & 0x007F
    iexp = ix >> 4
    mant = ix & 0x000F
    if iexp > 0:
        mant += 16
    mant = (mant << 4) + 0x0008
    if iexp > 1:
        mant <<= iexp - 1
    return mant if log > 127 else -mant


ALL_16BIT = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = bytes(range(256))


def test_ulaw_encode_all_16bit_inputs() -> None:
    expected = bytes(ref_ulaw_compress(int(v)) for v in ALL_16BIT)
    assert g711.ulaw_encode(ALL_16BIT) == expected


def test_alaw_encode_all_16bit_inputs() -> None:
    expected = bytes(ref_alaw_compress(int(v)) for v in ALL_16BIT)
    assert g711.alaw_encode(ALL_16BIT) == expected


def test_ulaw_decode_all_codes() -> None:
    expected = [ref_ulaw_expand(c) for c in range(256)]
    assert g711.ulaw_decode(ALL_CODES).tolist() == expected


def test_alaw_decode_all_codes() -> None:
    expected = [ref_alaw_expand(c) for c in range(256)]
    assert g711.alaw_decode(ALL_CODES).tolist() == expected


def test_known_values() -> None:
    # Well-known anchors: silence codes and extremes.
    assert g711.ulaw_encode(np.array([0], dtype=np.int16)) == b"\xff"
    assert g711.alaw_encode(np.array([0], dtype=np.int16)) == b"\xd5"
    assert g711.ulaw_decode(b"\x00\x80").tolist() == [-32124, 32124]
    assert g711.alaw_decode(b"\x2a\xaa").tolist() == [-32256, 32256]


@pytest.mark.parametrize("codec", [g711.PCMU, g711.PCMA])
def test_decode_encode_roundtrip_is_identity_on_codes(codec: g711.G711Codec) -> None:
    # Every decoded code re-encodes to itself, except mu-law's negative zero (0x7F -> 0xFF).
    decoded = codec.decode(ALL_CODES)
    again = codec.encode(decoded)
    diffs = [c for c in range(256) if again[c] != c]
    assert diffs == ([0x7F] if codec.law == "ulaw" else [])


@pytest.mark.parametrize("codec", [g711.PCMU, g711.PCMA])
def test_codec_object(codec: g711.G711Codec) -> None:
    assert codec.clock_rate == 8000
    assert codec.payload_type == (0 if codec.law == "ulaw" else 8)
    silence = codec.silence()
    assert len(silence) == 160
    assert np.abs(codec.decode(silence).astype(np.int32)).max() <= 8  # A-law has no exact zero
    pcm = (np.sin(np.arange(160) / 5) * 10000).astype(np.int16)
    out = codec.decode(codec.encode(pcm))
    assert out.dtype == np.int16
    # quantisation error is bounded (< 1/16 of magnitude + small offset)
    assert np.all(np.abs(out.astype(np.int32) - pcm) <= np.abs(pcm.astype(np.int32)) // 16 + 32)


def test_rejects_non_int16() -> None:
    with pytest.raises(TypeError):
        g711.ulaw_encode(np.zeros(10, dtype=np.float64))
