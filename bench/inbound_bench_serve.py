"""``hotline serve`` for bench/inbound_bench.py: ``bench/call_bench_serve.py`` (SIGUSR1 dumps the
media clock, call counters, asyncio tasks and GC pauses to ``CALL_BENCH_STATE_FILE``) plus one more
hook: SIGUSR2 writes the service-number path's measurements to ``INBOUND_BENCH_STATE_FILE``:

* ``digit_to_ringing``: :attr:`hotline.cti.inbound.ServiceCalls.digit_to_ringing`, seconds from
  the caller's last DTMF digit (as the media engine delivered it) to the agent phone's 180
  Ringing arriving at the server -- the whole list since start (not reset);
* ``service_calls``: calls the service path still tracks; ``agents``: agents by ACD state;
* ``sip``: the SIP server's counters (keep-alive pings, retransmissions, ...).

Nothing else differs from ``hotline serve``.

Usage: python bench/inbound_bench_serve.py serve --demo --data-dir DIR --http-port P --sip-port S
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import call_bench_serve  # noqa: F401 - installs the SIGUSR1 dump (media clock, tasks, GC pauses)

from hotline.cti import service

_start = service.Telephony.start


async def _start_with_inbound_dump(self: service.Telephony) -> None:
    await _start(self)
    target = os.environ.get("INBOUND_BENCH_STATE_FILE")
    if not target:
        return

    def dump() -> None:
        acd = self.services.acd
        agents: collections.Counter[str] = collections.Counter()
        for tenant in acd.tenants.values():
            for session in tenant.agents.values():
                try:
                    agents[acd.agent_state(session).value] += 1
                except Exception:
                    agents["unknown"] += 1
        state: dict[str, Any] = {
            "t": time.time(),
            "digit_to_ringing": list(self.services.digit_to_ringing),
            "service_calls": len(self.services.states),
            "agents": dict(agents),
            "sip": self.sip.stats(),
        }
        tmp = Path(target + ".tmp")
        tmp.write_text(json.dumps(state, default=str))
        tmp.replace(target)

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR2, dump)


service.Telephony.start = _start_with_inbound_dump  # type: ignore[method-assign]

if __name__ == "__main__":
    from hotline.cli import app

    app(prog_name="hotline", args=sys.argv[1:])
