from __future__ import annotations

import numpy as np
import pytest

from hotline.media.tones import (
    BEEP,
    RINGBACK_US,
    EchoPath,
    ToneGenerator,
    ToneSegment,
    dbm0_to_amplitude,
    dtmf_tone,
    tone,
)


def test_tone_shape_level_and_frequency() -> None:
    x = tone([1000.0], 100, amplitude=10000)
    assert x.dtype == np.int16 and len(x) == 800
    assert 9990 <= int(np.abs(x).max()) <= 10000
    spec = np.abs(np.fft.rfft(x))
    assert int(np.argmax(spec)) * 8000 // 800 == 1000
    assert not tone([], 20).any()


def test_dtmf_tone_and_bad_digit() -> None:
    x = dtmf_tone("#", 100)
    spec = np.abs(np.fft.rfft(x.astype(float)))
    peaks = sorted(int(i) * 10 for i in np.argsort(spec)[-2:])
    assert peaks == [940, 1480]  # 941 / 1477 Hz at 10 Hz resolution
    with pytest.raises(ValueError):
        dtmf_tone("X", 10)


def test_dbm0_reference() -> None:
    assert dbm0_to_amplitude(3.14) == pytest.approx(32767)
    assert dbm0_to_amplitude(-16.86) == pytest.approx(3276.7, rel=1e-3)


def test_generator_cadence_and_phase_continuity() -> None:
    gen = ToneGenerator(RINGBACK_US, amplitude=5000)
    frames = [gen.read(160) for _ in range(300)]  # 6 s: 2 s on, 4 s off
    on = np.concatenate(frames[:100])
    off = np.concatenate(frames[100:300])
    assert not off.any()
    assert np.abs(on).max() > 9000
    # frame-by-frame generation equals one-shot generation (no clicks at frame edges)
    assert np.array_equal(on, tone([440.0, 480.0], 2000, amplitude=5000))
    assert np.concatenate([gen.read(160) for _ in range(100)]).any()  # loops


def test_non_looping_beep_finishes() -> None:
    gen = ToneGenerator(BEEP, loop=False)
    out = np.concatenate([gen.read(160) for _ in range(20)])
    assert gen.finished
    assert out[:2000].any() and not out[2000:].any()
    with pytest.raises(ValueError):
        ToneGenerator([])
    with pytest.raises(ValueError):
        ToneGenerator([ToneSegment((), 0)])


def test_echo_path_delay_and_gain() -> None:
    ep = EchoPath.from_ms(delay_ms=10, erl_db=6.0206)
    assert ep.delay == 80
    impulse = np.zeros(160, dtype=np.int16)
    impulse[0] = 10000
    out1 = ep.process(impulse)
    assert int(out1[80]) == 5000 and np.count_nonzero(out1) == 1
    out2 = ep.process(np.zeros(160, dtype=np.int16))
    assert not out2.any()
    # echo spanning frame boundary
    ep2 = EchoPath(100, 1.0)
    a = ep2.process(np.arange(1, 161, dtype=np.int16))
    b = ep2.process(np.zeros(160, dtype=np.int16))
    assert a[100:].tolist() == list(range(1, 61))
    assert b[:100].tolist() == list(range(61, 161))
    near = ep2.apply(np.full(160, 5, np.int16), np.zeros(160, np.int16))
    assert near.tolist() == [5] * 160
