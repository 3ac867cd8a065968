from __future__ import annotations

import os
import struct
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from hotline.media.g711 import alaw_encode, ulaw_encode
from hotline.media.tones import tone
from hotline.media.wav import (
    StreamingWavWriter,
    WavError,
    load_wav_8k_mono,
    read_wav,
    repair_wav,
    resample,
    to_mono,
)


def write_std_wav(path: Path, data: np.ndarray, rate: int, channels: int, width: int = 2) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(data.tobytes())


def raw_wav(
    path: Path, tag: int, channels: int, rate: int, bits: int, payload: bytes, data_size: int | None = None
) -> None:
    align = channels * bits // 8
    size = len(payload) if data_size is None else data_size
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"LIST" + struct.pack("<I", 3) + b"abc\x00"
    body += b"data" + struct.pack("<I", size) + payload
    path.write_bytes(b"RIFF" + struct.pack("<I", min(0xFFFFFFFF, len(body))) + body)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))


def freq_of(x: np.ndarray, rate: int = 8000) -> float:
    spec = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x))))
    return float(np.argmax(spec) * rate / len(x))


# -- reading / resampling ------------------------------------------------------------


def test_read_8k_mono_16bit(tmp_path: Path) -> None:
    pcm = tone([440.0], 500, amplitude=9000)
    write_std_wav(tmp_path / "a.wav", pcm, 8000, 1)
    frames, rate = read_wav(tmp_path / "a.wav")
    assert rate == 8000 and frames.shape == (4000, 1)
    assert np.array_equal(load_wav_8k_mono(tmp_path / "a.wav"), pcm)


def test_espeak_like_22050_stereo_with_streaming_sizes(tmp_path: Path) -> None:
    rate = 22050
    t = np.arange(rate) / rate
    left = (8000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    right = (8000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    stereo = np.stack([left, right], axis=1)
    # espeak-ng --stdout writes 0x7fffffff-ish sizes; our reader must clamp them
    raw_wav(tmp_path / "e.wav", 1, 2, rate, 16, stereo.astype("<i2").tobytes(), data_size=0x7FFFFFFF)
    out = load_wav_8k_mono(tmp_path / "e.wav")
    assert len(out) == 8000
    assert abs(freq_of(out[100:-100]) - 1000) < 5
    assert abs(rms(out[200:-200]) - 8000 / np.sqrt(2)) < 150


def test_resampler_antialiasing_and_passband() -> None:
    rate = 22050
    t = np.arange(rate) / rate
    high = (8000 * np.sin(2 * np.pi * 6000 * t)).astype(np.int16)  # above 4 kHz: must vanish
    low = (8000 * np.sin(2 * np.pi * 3000 * t)).astype(np.int16)  # in passband: kept
    assert rms(resample(high, rate, 8000)[100:-100]) < 80  # > 35 dB down
    kept = resample(low, rate, 8000)[100:-100]
    assert abs(rms(kept) - rms(low)) < 0.05 * rms(low)
    assert abs(freq_of(kept) - 3000) < 5


@pytest.mark.parametrize(("src", "dst"), [(16000, 8000), (44100, 8000), (48000, 8000), (8000, 16000)])
def test_resampler_lengths_and_tone(src: int, dst: int) -> None:
    x = tone([500.0], 300, amplitude=5000, sample_rate=src)
    y = resample(x, src, dst)
    assert len(y) == len(x) * dst // src
    assert abs(freq_of(y[50:-50], dst) - 500) < 10
    assert resample(x, src, src) is not x and np.array_equal(resample(x, src, src), x)


@pytest.mark.parametrize(
    ("tag", "bits", "encode"),
    [
        (1, 8, lambda p: ((p >> 8) + 128).astype(np.uint8).tobytes()),
        (1, 24, lambda p: b"".join(struct.pack("<i", int(v) << 8)[:3] for v in p)),
        (1, 32, lambda p: (p.astype("<i4") << 16).tobytes()),
        (3, 32, lambda p: (p / 32768.0).astype("<f4").tobytes()),
        (7, 8, ulaw_encode),
        (6, 8, alaw_encode),
    ],
)
def test_other_encodings(tmp_path: Path, tag: int, bits: int, encode: object) -> None:
    pcm = tone([300.0], 100, amplitude=12000)
    raw_wav(tmp_path / "x.wav", tag, 1, 8000, bits, encode(pcm))  # type: ignore[operator]
    frames, rate = read_wav(tmp_path / "x.wav")
    assert rate == 8000 and frames.shape == (800, 1)
    tol = {8: 600 if tag == 1 else 800, 24: 1, 32: 1}[bits]
    assert np.max(np.abs(frames[:, 0].astype(np.int32) - pcm)) <= tol


def test_reader_errors(tmp_path: Path) -> None:
    (tmp_path / "n.wav").write_bytes(b"not a wav at all")
    with pytest.raises(WavError):
        read_wav(tmp_path / "n.wav")
    raw_wav(tmp_path / "g.wav", 0x55, 1, 8000, 16, b"\x00" * 10)  # MP3-in-WAV
    with pytest.raises(WavError, match="unsupported"):
        read_wav(tmp_path / "g.wav")


def test_to_mono() -> None:
    st = np.array([[100, 300], [-100, -300]], dtype=np.int16)
    assert to_mono(st).tolist() == [200, -200]


# -- streaming writer ------------------------------------------------------------------


def test_writer_roundtrip_stereo_layout(tmp_path: Path) -> None:
    caller = tone([440.0], 100, amplitude=5000)
    agent = tone([880.0], 80, amplitude=3000)
    with StreamingWavWriter(tmp_path / "r.wav") as w:
        w.write_stereo(caller, agent)
    with wave.open(str(tmp_path / "r.wav")) as r:
        assert (r.getnchannels(), r.getsampwidth(), r.getframerate(), r.getnframes()) == (2, 2, 8000, 800)
    frames, _ = read_wav(tmp_path / "r.wav")
    assert np.array_equal(frames[:, 0], caller)
    assert np.array_equal(frames[:640, 1], agent)
    assert not frames[640:, 1].any()


def test_header_rewritten_every_second_of_audio(tmp_path: Path) -> None:
    w = StreamingWavWriter(tmp_path / "s.wav", channels=1)
    for _ in range(49):
        w.write(np.ones(160, dtype=np.int16))
    with wave.open(str(tmp_path / "s.wav")) as r:
        assert r.getnframes() == 0  # 0.98 s written, not yet synced
    w.write(np.ones(160, dtype=np.int16))
    with wave.open(str(tmp_path / "s.wav")) as r:
        assert r.getnframes() == 8000
    w.close()


def test_wall_clock_sync(tmp_path: Path) -> None:
    w = StreamingWavWriter(tmp_path / "c.wav", channels=1, pause_mode="skip")
    w.write(np.ones(160, dtype=np.int16), now=10.0)
    assert not w.maybe_sync(now=10.5)
    assert w.maybe_sync(now=11.0)
    with wave.open(str(tmp_path / "c.wav")) as r:
        assert r.getnframes() == 160
    w.close()


CRASH_SCRIPT = """
import os, signal, sys
import numpy as np
from hotline.media.wav import StreamingWavWriter
w = StreamingWavWriter(sys.argv[1])
for i in range(125):  # 2.5 s of 20 ms stereo frames
    w.write_stereo(np.full(160, 1000, np.int16), np.full(160, -1000, np.int16))
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_killed_process_leaves_playable_file(tmp_path: Path) -> None:
    path = tmp_path / "crash.wav"
    proc = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, str(path)], check=False, timeout=30)
    assert proc.returncode == -9
    with wave.open(str(path)) as r:  # stdlib reader: header is consistent
        assert r.getnchannels() == 2
        n = r.getnframes()
        assert n == 16000  # last sync at 2.0 s
        data = np.frombuffer(r.readframes(n), dtype="<i2").reshape(-1, 2)
    assert (data[:, 0] == 1000).all() and (data[:, 1] == -1000).all()
    assert repair_wav(path) == 20000  # the tail after the last sync is recoverable
    with wave.open(str(path)) as r:
        assert r.getnframes() == 20000


def test_pause_silence_keeps_timeline(tmp_path: Path) -> None:
    one = np.full(160, 7, dtype=np.int16)
    with StreamingWavWriter(tmp_path / "p.wav", channels=1) as w:
        w.write(one)
        w.pause()
        w.write(one)
        w.resume()
        w.write(one)
    frames, _ = read_wav(tmp_path / "p.wav")
    assert frames[:, 0].tolist() == [7] * 160 + [0] * 160 + [7] * 160


def test_pause_skip_cuts_out(tmp_path: Path) -> None:
    one = np.full(160, 7, dtype=np.int16)
    with StreamingWavWriter(tmp_path / "q.wav", channels=1, pause_mode="skip") as w:
        w.write(one)
        w.pause()
        w.write(np.full(160, 9, dtype=np.int16))
        w.resume()
        w.write(one)
        assert w.duration == 0.04
        assert w.paused_frames == 160
    frames, _ = read_wav(tmp_path / "q.wav")
    assert frames[:, 0].tolist() == [7] * 320


def test_writer_validation(tmp_path: Path) -> None:
    w = StreamingWavWriter(tmp_path / "v.wav")
    with pytest.raises(ValueError):
        w.write(np.zeros(160, dtype=np.int16))  # mono into stereo
    with pytest.raises(TypeError):
        w.write(np.zeros((160, 2), dtype=np.float32))
    w.close()
    w.close()  # idempotent
    with pytest.raises(ValueError):
        w.write(np.zeros((1, 2), dtype=np.int16))
    assert os.path.getsize(tmp_path / "v.wav") == 44


def test_repair_rejects_non_wav(tmp_path: Path) -> None:
    (tmp_path / "z.wav").write_bytes(b"x" * 50)
    with pytest.raises(WavError):
        repair_wav(tmp_path / "z.wav")
