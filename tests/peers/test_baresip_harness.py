"""The baresip harness itself: two phones call each other directly and each hears the other's tone.

This proves the peer works on this machine before server tests rely on it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.peers import baresip

pytestmark = pytest.mark.slow


@pytest.fixture
def need_baresip() -> None:
    if not baresip.available():
        if os.environ.get("CI"):
            pytest.fail("baresip is required in CI (Debian package baresip-core)")
        pytest.skip("BARESIP NOT INSTALLED: install Debian's baresip-core (make test does)")


def test_two_phones_hear_each_other(tmp_path: Path, need_baresip: None) -> None:
    baresip.write_tone(tmp_path / "a.wav", 440, seconds=4)
    baresip.write_tone(tmp_path / "b.wav", 1000, seconds=4)
    b = baresip.Phone(tmp_path / "b", "", tmp_path / "b.wav")
    b.account = f"<sip:b@127.0.0.1:{b.sip_port}>;regint=0;answermode=auto"
    a = baresip.Phone(tmp_path / "a", "", tmp_path / "a.wav")
    a.account = f"<sip:a@127.0.0.1:{a.sip_port}>;regint=0"
    try:
        b.start()
        a.start()
        assert a.command("dial", f"sip:b@127.0.0.1:{b.sip_port}")["ok"]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not (a.heard_files() and b.heard_files()):
            time.sleep(0.2)
        time.sleep(3)
        a.command("hangup")
        time.sleep(0.5)
    finally:
        a.stop()
        b.stop()
    fa, rms_a = baresip.dominant_frequency(a.heard_files()[-1])
    fb, rms_b = baresip.dominant_frequency(b.heard_files()[-1])
    assert abs(fa - 1000) < 20 and rms_a > 1000, (fa, rms_a, a.log())
    assert abs(fb - 440) < 20 and rms_b > 1000, (fb, rms_b, b.log())
