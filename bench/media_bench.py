"""Micro-benchmarks of the pure media core; prints one JSON object.

Usage: .venv/bin/python bench/media_bench.py [--seconds S]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable

import numpy as np

from hotline.media.dtmf import InbandDtmfDetector
from hotline.media.g711 import PCMA, PCMU
from hotline.media.mixer import MixMatrix
from hotline.media.rtp import RtpPacket, parse_rtp


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``fn`` (best of 3 runs of ~seconds/3)."""
    best = 0.0
    for _ in range(3):
        n = 0
        batch = 100
        start = time.perf_counter()
        deadline = start + seconds / 3
        while True:
            for _ in range(batch):
                fn()
            n += batch
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, n / (now - start))
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=0.6, help="time per measurement")
    args = ap.parse_args()
    s = args.seconds
    rng = np.random.default_rng(0)
    frame = (rng.normal(0, 3000, 160)).astype(np.int16)
    ulaw = PCMU.encode(frame)
    alaw = PCMA.encode(frame)

    results: dict[str, object] = {}
    results["g711_ulaw_encode_frames_per_s"] = rate(lambda: PCMU.encode(frame), s)
    results["g711_ulaw_decode_frames_per_s"] = rate(lambda: PCMU.decode(ulaw), s)
    results["g711_alaw_encode_frames_per_s"] = rate(lambda: PCMA.encode(frame), s)
    results["g711_alaw_decode_frames_per_s"] = rate(lambda: PCMA.decode(alaw), s)

    for n in (2, 3):
        names = [f"p{i}" for i in range(n)]
        matrix = MixMatrix.conference(names)
        inputs = {p: (rng.normal(0, 3000, 160)).astype(np.int16) for p in names}

        def mix_once(m: MixMatrix = matrix, x: dict[str, np.ndarray] = inputs) -> object:
            return m.mix(x)

        r = rate(mix_once, s)
        results[f"mixer_{n}_party_us_per_20ms_frame"] = 1e6 / r

    pkt = RtpPacket(0, 1234, 160_000, 0xDEADBEEF, ulaw, marker=False)
    results["rtp_build_parse_per_s"] = rate(lambda: parse_rtp(pkt.build()), s)

    det = InbandDtmfDetector()
    r = rate(lambda: det.process(frame), s)
    results["goertzel_us_per_20ms_frame"] = 1e6 / r

    for key, value in list(results.items()):
        if isinstance(value, float):
            results[key] = round(value, 2) if value < 1000 else round(value)
    results["python"] = platform.python_version()
    results["numpy"] = np.__version__
    results["machine"] = platform.machine()
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
