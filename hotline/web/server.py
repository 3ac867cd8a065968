"""Running the app under uvicorn."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn


class GracefulServer(uvicorn.Server):
    """uvicorn's server, except that a SIGTERM/SIGINT that ended in a clean shutdown exits 0.

    uvicorn re-raises the signal after shutting down, so the process dies by the signal, which
    service managers and scripts read as a failure.
    """

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)
