"""baresip (Debian's baresip-core) as a real SIP phone in tests.

Each phone runs headless in its own config directory: it sends a WAV file (``aufile``), dumps
what it hears (``sndfile`` writes ``dump-*-dec.wav``), auto-answers, and is driven over its
``ctrl_tcp`` netstring-JSON control port. It is pinned to 127.0.0.1 (``net_interface``) so no
packet leaves loopback.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tests.pg import free_port

BARESIP = shutil.which("baresip")


def write_tone(path: Path, freq: float, seconds: float = 6.0, rate: int = 8000, level: float = 0.3) -> None:
    t = np.arange(int(seconds * rate)) / rate
    x = (level * 32767 * np.sin(2 * np.pi * freq * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(x.tobytes())


def dominant_frequency(path: str | Path, skip_seconds: float = 0.5) -> tuple[float, float]:
    """(peak frequency in Hz, RMS) of a mono 16-bit WAV, skipping its start."""
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(float)
        if w.getnchannels() > 1:
            x = x.reshape(-1, w.getnchannels())[:, 0]
    x = x[int(skip_seconds * rate) :]
    if len(x) < rate // 10:
        return 0.0, 0.0
    spectrum = np.abs(np.fft.rfft(x))
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    return float(freqs[int(spectrum.argmax())]), float(x.std())


@dataclass
class Phone:
    """A baresip instance. ``account`` is the line of baresip's accounts file."""

    home: Path
    account: str
    source_wav: Path
    sip_port: int = field(default_factory=free_port)
    ctrl_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self, extra_config: str = "") -> None:
        assert BARESIP, "baresip is not installed"
        self.home.mkdir(parents=True, exist_ok=True)
        rtp = free_port()
        (self.home / "config").write_text(
            f"""poll_method\t\tepoll
sip_listen\t\t127.0.0.1:{self.sip_port}
net_interface\t\t127.0.0.1
audio_player\t\taufile,{self.home}/heard.wav
audio_source\t\taufile,{self.source_wav}
audio_alert\t\taufile,/dev/null
module_path\t\t/usr/lib/baresip/modules
module\t\t\tstdio.so
module\t\t\tg711.so
module\t\t\taufile.so
module\t\t\tsndfile.so
module\t\t\tctrl_tcp.so
module_app\t\taccount.so
module_app\t\tmenu.so
ctrl_tcp_listen\t\t127.0.0.1:{self.ctrl_port}
snd_path\t\t{self.home}/
rtp_ports\t\t{rtp}-{rtp + 40}
{extra_config}
"""
        )
        (self.home / "accounts").write_text(self.account + "\n")
        self.proc = subprocess.Popen(
            [BARESIP, "-f", str(self.home)],
            stdout=(self.home / "baresip.log").open("wb"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.home,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"baresip did not start: {self.log()}")

    def command(self, command: str, params: str = "") -> dict[str, object]:
        """Send one ctrl_tcp command and return its response."""
        body = json.dumps({"command": command, "params": params, "token": "t1"}).encode()
        with socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=15) as sock:
            sock.sendall(f"{len(body)}:".encode() + body + b",")
            buf = b""
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
                while b":" in buf:
                    size_text, _, rest = buf.partition(b":")
                    size = int(size_text)
                    if len(rest) < size + 1:
                        break
                    msg = json.loads(rest[:size])
                    buf = rest[size + 1 :]
                    if msg.get("response"):
                        return dict(msg)
        raise RuntimeError(f"no response to {command}: {self.log()}")

    def heard_files(self) -> list[str]:
        return sorted(glob.glob(str(self.home / "dump-*-dec.wav")))

    def log(self) -> str:
        try:
            return (self.home / "baresip.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def available() -> bool:
    return BARESIP is not None and os.path.isdir("/usr/lib/baresip/modules")
