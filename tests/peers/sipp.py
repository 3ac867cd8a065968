"""Reusable SIPp peers for call-path tests: callers from outside, registered agent phones.

* :func:`caller_scenario` -- a SIPp UAC that calls ``[field1]`` as ``[field0]`` (an outside
  caller without credentials, or an extension with digest: ``[field2]`` is SIPp's
  ``[authentication ...]`` keyword), then runs a timeline of :class:`Pause` / :class:`Play`
  steps (DTMF and tone pcaps) and hangs up, waits for the server's BYE, cancels while ringing
  or expects a final error status.
* :func:`agent_phone_scenario` -- a phone that REGISTERs with digest and answers incoming
  INVITEs (ring, answer with SDP and a tone, hang up or wait for BYE; or reject; or ring until
  the server CANCELs), then unREGISTERs.
* :class:`SippPeer` -- one SIPp process in the background with its own directory and logs
  (messages, errors, statistics, a per-call outcome log), and :class:`SippPeers`, which kills
  whatever is still running at the end of a test (fixture :func:`sipp_peers`).
* :func:`dtmf_pcap` -- RFC 4733 pcaps: Debian's ``dtmf_2833_N.pcap`` for one digit, the
  generated :func:`tests.peers.pcapgen.rfc4733_pcap` for ``*``, ``#`` and sequences.

Register and answer in ONE SIPp process
---------------------------------------
The server sends calls to the *source address* of the REGISTER (NAT-friendly, see
``hotline/sip/registrar.py``), so the phone must register from the very socket that takes the
INVITEs: a separate REGISTER process with a hand-made Contact would not work here.

SIPp routes a message to a call by Call-ID.  In client mode (the scenario starts with a
``send``) a request with an unknown Call-ID is dropped -- unless an *out-of-call scenario*
is loaded with ``-oocsf``: then every such request starts a new call of that scenario
(``socket.cpp``: ``new call(ooc_scenario, ...)``; ``-oocsf`` is refused in server mode).  So a
phone is (files in the peer's directory, see :meth:`SippPeer.command`)::

    sipp 127.0.0.1:<server port> -sf scenario.xml -oocsf ooc.xml -inf fields.csv -m 1 -t u1
         -i 127.0.0.1 -bind_local -p <free port> -mi 127.0.0.1 -mp <free port>
         -timeout 60s -timeout_error -trace_msg -message_file messages.log
         -trace_err -error_file errors.log -trace_logs -log_file sipp.log
         -trace_stat -stf stats.csv -fd 1 -nostdin -nd

(a caller is the same without ``-oocsf``).  ``scenario.xml`` (main, UAC) REGISTERs (401, digest, 200), then polls a SIPp global
variable ``handled`` (``<Global variables="handled"/>``, shared by both scenarios) until the
answer scenario has completed ``calls`` calls, and finally unREGISTERs (Expires: 0, digest).
``ooc.xml`` (out-of-call, UAS) starts with ``<recv request="INVITE">`` and handles
one call; every call it completes adds 1 to ``handled`` and writes one line
``OUTCOME <what> <X-Hotline-Call-Id> <X-Hotline-Queue>`` to SIPp's log file (``-trace_logs``;
also ``INVITE ...`` when one arrives and ``ANSWERED ...`` when the 200 is ACKed).

Quirks: out-of-call calls cannot read the injection file (SIPp: "Automatic calls ... cannot
use input files"), so ``ooc.xml`` uses no ``[fieldN]`` (its Contact has no user part), and they
have no ``[call_number]`` of their own, so the phone's SDP uses
``[media_port]`` (not ``[auto_media_port]``) -- one call at a time per phone.  SIPp plays pcaps
through a raw socket (root or CAP_NET_RAW).  A new ``play_pcap_audio`` stops the one still
playing.  Messages the scenario does not expect fail the call; the scenarios therefore carry
``optional="global"`` handlers for a BYE during the caller's timeline, and for a CANCEL while
the phone rings or a BYE while it talks.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import re
import signal
import socket
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

import pytest

from tests.peers.pcapgen import pcap_duration, rfc4733_pcap

LOOPBACK = "127.0.0.1"
SYSTEM_PCAPS = Path("/usr/share/sip-tester")
_DEBIAN_NAMES = {**{d: d for d in "0123456789"}, "*": "star", "#": "pound"}


# ------------------------------------------------------------------ pcaps
def system_dtmf_pcap(digit: str) -> Path | None:
    """Debian's (sip-tester) RFC 4733 pcap for one digit (payload type 101), if installed.

    All of them carry the same RTP timestamp and SSRC, so the same digit twice in a row is one
    key press to an RFC 4733 receiver (it de-duplicates by timestamp and event): use
    :func:`dtmf_pcap` for sequences.
    """
    name = _DEBIAN_NAMES.get(digit)
    path = SYSTEM_PCAPS / f"dtmf_2833_{name}.pcap"
    return path if name is not None and path.exists() else None


def dtmf_pcap(
    path: Path,
    digits: str,
    *,
    gap_ms: int = 300,
    event_ms: int = 200,
    pt: int = 101,
    fill: str | None = None,
    prefer_system: bool = True,
) -> Path:
    """A pcap with RFC 4733 events for ``digits`` (``0-9 * # A-D``).

    A single plain digit ``0``-``9`` with the default payload type gives Debian's
    ``dtmf_2833_N.pcap`` (its path, ``path`` is not written) when installed and
    ``prefer_system``; anything else is generated at ``path`` by
    :func:`tests.peers.pcapgen.rfc4733_pcap` (``fill``: ``None`` for a plain time gap between
    digits, or ``"PCMU"``/``"PCMA"`` silence packets).
    """
    if prefer_system and pt == 101 and len(digits) == 1 and digits.isdigit():
        system = system_dtmf_pcap(digits)
        if system is not None:
            return system
    return rfc4733_pcap(path, digits, gap_ms=gap_ms, event_ms=event_ms, pt=pt, fill=fill)


# ------------------------------------------------------------------ scenario parts
@dataclass(frozen=True)
class Pause:
    """Wait ``ms`` milliseconds."""

    ms: int


@dataclass(frozen=True)
class Play:
    """Start replaying an RTP pcap; with ``wait`` (default) the timeline waits until it is done."""

    pcap: Path | str
    wait: bool = True

    @property
    def ms(self) -> int:
        return int(pcap_duration(Path(self.pcap)) * 1000) + 100 if self.wait else 0


Step = Pause | Play


def steps_ms(steps: Sequence[Step]) -> int:
    """How long a timeline takes (pauses plus waited-for pcaps)."""
    return sum(s.ms for s in steps)


def _steps_xml(steps: Sequence[Step]) -> str:
    out = []
    for s in steps:
        if isinstance(s, Play):
            out.append(f'  <nop><action><exec play_pcap_audio="{s.pcap}"/></action></nop>\n')
        if s.ms > 0:
            out.append(f'  <pause milliseconds="{s.ms}"/>\n')
    return "".join(out)


def _sdp(codec: str) -> str:
    pt, name = {"PCMA": (8, "PCMA"), "PCMU": (0, "PCMU")}[codec]
    return f"""      v=0
      o=sipp [pid] 1 IN IP4 [local_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio {{port}} RTP/AVP {pt} 101
      a=rtpmap:{pt} {name}/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16
      a=sendrecv"""


def document(name: str, body: str) -> str:
    """A whole SIPp scenario document around ``body``."""
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'
        f'<scenario name="{name}">\n{body}</scenario>\n'
    )


def _msg(text: str) -> str:
    lines = "\n".join(f"      {line}" if line else "" for line in text.strip("\n").splitlines())
    return f"    <![CDATA[\n{lines}\n    ]]>"


def _send(text: str, *, retrans: bool = False, extra: str = "") -> str:
    attr = ' retrans="500"' if retrans else ""
    return f"  <send{attr}{extra}>\n{_msg(text)}\n  </send>\n"


def _reply(status: str, *headers: str, body: str = "") -> str:
    """A response to the last received request (copying its Via, From, To, Call-ID, CSeq)."""
    hdrs = "\n".join(headers)
    text = f"SIP/2.0 {status}\n[last_Via:]\n[last_From:]\n[last_To:]\n[last_Call-ID:]\n[last_CSeq:]\n"
    if hdrs:
        text += hdrs + "\n"
    if body:
        text += f"Content-Type: application/sdp\nContent-Length: [len]\n\n{body}"
    else:
        text += "Content-Length: 0\n"
    return _send(text)


def recv_invite(captures: dict[str, str], actions: str = "") -> str:
    """Receive an INVITE (record-routing), keeping From, To, Via and the CSeq number in
    ``$remote_from``, ``$local_to``, ``$inv_via``, ``$inv_cseq``, each ``captures`` header in
    its variable, then ``actions`` (more SIPp action XML)."""
    out = '  <recv request="INVITE" rrs="true">\n    <action>\n'
    headers = {"remote_from": "From:", "local_to": "To:", "inv_via": "Via:", **captures}
    for var, header in headers.items():
        out += f'      <ereg regexp="[^ ].*" search_in="hdr" header="{header}" assign_to="{var}"/>\n'
    out += '      <ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" assign_to="inv_cseq"/>\n'
    return out + actions + "    </action>\n  </recv>\n"


def _global_recv(request: str, label: str) -> str:
    """From here on, ``request`` (when nothing else expects it) jumps to ``label``.

    SIPp looks backwards for ``optional="global"`` receptions when a message matches nothing
    ahead, even while the call pauses.  The flow jumps over the handler; the mandatory
    reception that is never reached keeps SIPp's check "optional recv before pause" quiet.
    """
    skip = f"after_{label}_{request.lower()}"
    return (
        f'  <nop next="{skip}"/>\n'
        f'  <recv request="{request}" optional="global" next="{label}"/>\n'
        '  <recv request="NEVER-RECEIVED"/>\n'
        f'  <label id="{skip}"/>\n'
    )


# ------------------------------------------------------------------ the caller
def caller_scenario(
    steps: Sequence[Step] = (),
    *,
    hangup_after: float | None = None,
    expect_bye: bool = False,
    bye_timeout: float = 60.0,
    authenticate: bool = False,
    cancel_after_ms: int | None = None,
    expect_status: int | None = None,
    codec: str = "PCMA",
    display_name: str | None = None,
    name: str = "hotline caller",
) -> str:
    """A SIPp UAC scenario: ``[field0]`` calls ``[field1]``.

    ``authenticate``: answer the server's 407 with ``[field2]`` (``[authentication ...]``), as
    an extension does; otherwise an outside caller without credentials.  Then, exclusively:

    * ``cancel_after_ms``: wait for 180 (or 183), CANCEL after that many ms, expect 200 and
      487, ACK -- abandon before answer;
    * ``expect_status``: the call is refused with that final status (ACKed);
    * otherwise it is answered (100/180/183 optional, 200), ACKed, then ``steps`` run; then

      - ``expect_bye`` without ``hangup_after``: wait (up to ``bye_timeout`` s) for the
        server's BYE and answer 200;
      - ``hangup_after`` seconds after the answer (or right after the steps, if they take
        longer): send BYE -- "abandon in queue"; with ``expect_bye`` too, a BYE from the server
        before then is also fine (it is answered and the call ends);
      - neither: BYE right after the steps.

    A BYE from the server while the steps run is answered with 200 and ends the call; the SIPp
    "successful call" counter does not tell which of the two ends happened (see the messages).
    """
    dn = f'"{display_name}" ' if display_name else ""
    host = "[remote_ip]:[remote_port]" if authenticate else "[local_ip]:[local_port]"
    frm = f"From: {dn}<sip:[field0]@{host}>;tag=[pid]SIPpTag00[call_number]"
    to = "To: <sip:[field1]@[remote_ip]:[remote_port]>"
    sdp = _sdp(codec).replace("{port}", "[auto_media_port]")

    def invite(cseq: int, auth: bool) -> str:
        return _send(
            f"""INVITE sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
{frm}
{to}
Call-ID: [call_id]
CSeq: {cseq} INVITE
Contact: <sip:[field0]@[local_ip]:[local_port]>
{"[field2]" + chr(10) if auth else ""}Max-Forwards: 70
User-Agent: SIPp hotline caller
Content-Type: application/sdp
Content-Length: [len]

{sdp.replace("      ", "")}""",
            retrans=True,
        )

    def ack_non2xx(cseq: int) -> str:
        return _send(
            f"""ACK sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
{frm}
{to}[peer_tag_param]
Call-ID: [call_id]
CSeq: {cseq} ACK
Max-Forwards: 70
Content-Length: 0"""
        )

    body = invite(1, False)
    cseq = 1
    if authenticate:
        body += '  <recv response="100" optional="true"/>\n  <recv response="407" auth="true"/>\n'
        body += ack_non2xx(1) + invite(2, True)
        cseq = 2
    body += '  <recv response="100" optional="true"/>\n'
    if cancel_after_ms is not None:
        body += '  <recv response="183" optional="true" next="ringing"/>\n  <recv response="180"/>\n'
        body += '  <label id="ringing"/>\n'
        body += f'  <pause milliseconds="{cancel_after_ms}"/>\n'
        body += _send(
            f"""CANCEL sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
{frm}
{to}
Call-ID: [call_id]
CSeq: {cseq} CANCEL
Max-Forwards: 70
Content-Length: 0""",
            retrans=True,
        )
        body += '  <recv response="200"/>\n  <recv response="487"/>\n' + ack_non2xx(cseq)
        return document(name, body)
    body += '  <recv response="180" optional="true"/>\n  <recv response="183" optional="true"/>\n'
    if expect_status is not None:
        body += f'  <recv response="{expect_status}"/>\n' + ack_non2xx(cseq)
        return document(name, body)
    body += '  <recv response="200" rrs="true" rtd="true"/>\n'
    body += _send(
        f"""ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
{frm}
{to}[peer_tag_param]
[routes]
Call-ID: [call_id]
CSeq: {cseq} ACK
Max-Forwards: 70
Content-Length: 0"""
    )
    # the server may hang up at any time from here on
    body += _global_recv("BYE", "server_bye")
    body += _steps_xml(steps)
    if hangup_after is None and expect_bye:
        body += f'  <recv request="BYE" timeout="{int(bye_timeout * 1000)}"/>\n'
        body += '  <nop next="server_bye"/>\n'
    else:
        rest = 0 if hangup_after is None else max(0, int(hangup_after * 1000) - steps_ms(steps))
        if rest:
            body += f'  <pause milliseconds="{rest}"/>\n'
        body += _send(
            f"""BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
{frm}
{to}[peer_tag_param]
[routes]
Call-ID: [call_id]
CSeq: {cseq + 1} BYE
Contact: <sip:[field0]@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0""",
            retrans=True,
        )
        body += '  <recv response="200" crlf="true" next="end"/>\n'
    body += '  <label id="server_bye"/>\n'
    body += _reply("200 OK")
    body += '  <label id="end"/>\n'
    body += '  <ResponseTimeRepartition value="10, 20, 50, 100, 200, 500"/>\n'
    return document(name, body)


def caller_row(caller: str, called: str, auth: str | None = None) -> str:
    """The injection-file row for :func:`caller_scenario` (``auth``: ``[authentication ...]``)."""
    return f"{caller};{called};{auth or 'x'}"


def auth_keyword(number: str, password: str) -> str:
    return f"[authentication username={number} password={password}]"


# ------------------------------------------------------------------ the agent phone
class PhoneScenarios(NamedTuple):
    """The two scenario documents of one phone: ``-sf register`` and ``-oocsf answer``."""

    register: str
    answer: str


def agent_phone_scenario(
    *,
    ring_ms: int = 500,
    talk_ms: int | None = 2000,
    answer: bool = True,
    reject_code: int | None = None,
    calls: int = 1,
    hangup_by: Literal["phone", "remote"] = "phone",
    tone: Path | str | None = None,
    codec: str = "PCMU",
    expires: int = 3600,
    unregister: bool = True,
    cancel_timeout: float = 120.0,
    bye_timeout: float = 120.0,
) -> PhoneScenarios:
    """A registered phone: REGISTER ``[field0]@[field1]`` with ``[field2]`` (``[authentication
    ...]``), then answer ``calls`` calls, then unREGISTER (module docstring: how).

    Per incoming INVITE: 180 Ringing, ``ring_ms`` later one of

    * ``reject_code`` (e.g. 486, 603): that final response; ACK expected;
    * not ``answer``: keep ringing until CANCEL (ring-no-answer); 200 for the CANCEL, 487 for
      the INVITE, ACK expected;
    * else 200 with SDP (``codec`` + telephone-event), ACK expected, replay ``tone`` (a pcap,
      e.g. :func:`tests.peers.pcapgen.tone_pcap` at 600 Hz in ``codec``); then hang up with BYE
      after ``talk_ms`` (``hangup_by="phone"``) or wait for the remote BYE (``"remote"``).

    A CANCEL while it rings (before ``ring_ms``) and a BYE while it talks are always handled
    (outcomes ``cancelled`` / ``remote_bye``).  The log (:meth:`SippPeer.log`) gets
    ``INVITE <X-Hotline-Call-Id> <X-Hotline-Queue>`` per INVITE, ``ANSWERED <call id>`` when
    the 200 is ACKed, and per finished call ``OUTCOME <what> <call id> <queue>``, ``what``
    one of ``hangup`` (answered, the phone hung up), ``remote_bye`` (answered, the other side
    hung up), ``rejected``, ``cancelled`` (see :meth:`SippPeer.outcomes`).
    """
    if hangup_by == "phone" and answer and reject_code is None and talk_ms is None:
        raise ValueError("hangup_by='phone' needs talk_ms")
    aor_from = "From: <sip:[field0]@[field1]>;tag=[pid]SIPpTagR[call_number]"
    aor_to = "To: <sip:[field0]@[field1]>"

    def register(cseq: int, exp: int, auth: bool) -> str:
        return _send(
            f"""REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
Max-Forwards: 70
{aor_from}
{aor_to}
Call-ID: [call_id]
CSeq: {cseq} REGISTER
Contact: <sip:[field0]@[local_ip]:[local_port];transport=[transport]>
{"[field2]" + chr(10) if auth else ""}Expires: {exp}
User-Agent: SIPp hotline agent phone
Content-Length: 0""",
            retrans=True,
        )

    main = '  <Global variables="handled"/>\n'
    main += '  <nop><action><assign assign_to="handled" value="0"/></action></nop>\n'
    main += register(1, expires, False) + '  <recv response="401" auth="true"/>\n'
    main += register(2, expires, True) + '  <recv response="200"/>\n'
    main += '  <nop><action><log message="REGISTERED"/></action></nop>\n'
    main += '  <label id="wait"/>\n  <pause milliseconds="100"/>\n'
    main += (
        "  <nop><action>"
        f'<test assign_to="done" variable="handled" compare="greater_than_equal" value="{calls}"/>'
        "</action></nop>\n"
    )
    main += '  <nop next="finished" test="done"/>\n  <nop next="wait"/>\n  <label id="finished"/>\n'
    if unregister:
        main += register(3, 0, False) + '  <recv response="401" auth="true"/>\n'
        main += register(4, 0, True) + '  <recv response="200"/>\n'
        main += '  <nop><action><log message="UNREGISTERED"/></action></nop>\n'

    local = "[$local_to];tag=[pid]SIPpTagP[$tagn]"
    sdp = _sdp(codec).replace("{port}", "[media_port]").replace("      ", "")
    contact = "Contact: <sip:[local_ip]:[local_port];transport=[transport]>"  # no [field0]: see docstring
    outcome = '  <nop><action><log message="OUTCOME {what} [$hcid] [$hqueue]"/></action></nop>\n'
    finish = '  <nop next="done"/>\n'

    ans = '  <Global variables="handled"/>\n'
    ans += recv_invite(
        {"hcid": "X-Hotline-Call-Id:", "hqueue": "X-Hotline-Queue:"},
        '      <assignstr assign_to="tagn" value="[pid][clock_tick]"/>\n'
        '      <log message="INVITE [$hcid] [$hqueue]"/>\n',
    )
    ans += _send(
        f"""SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
To: {local}
[last_Call-ID:]
[last_CSeq:]
{contact}
Content-Length: 0"""
    )
    # a CANCEL may come while it rings (the caller gave up, the server's ring timeout)
    ans += _global_recv("CANCEL", "cancelled")
    if reject_code is not None:
        ans += f'  <pause milliseconds="{ring_ms}"/>\n'
        ans += _send(
            f"""SIP/2.0 {reject_code} Rejected
Via: [$inv_via]
From: [$remote_from]
To: {local}
Call-ID: [call_id]
CSeq: [$inv_cseq] INVITE
Content-Length: 0""",
            retrans=True,
        )
        ans += '  <recv request="ACK"/>\n' + outcome.format(what="rejected") + finish
    elif not answer:
        ans += f'  <recv request="CANCEL" timeout="{int(cancel_timeout * 1000)}" next="cancelled"/>\n'
    else:
        ans += f'  <pause milliseconds="{ring_ms}"/>\n'
        ans += _send(
            f"""SIP/2.0 200 OK
Via: [$inv_via]
From: [$remote_from]
To: {local}
Call-ID: [call_id]
CSeq: [$inv_cseq] INVITE
{contact}
Content-Type: application/sdp
Content-Length: [len]

{sdp}""",
            retrans=True,
        )
        ans += '  <recv request="ACK" rtd="true"/>\n'
        ans += '  <nop><action><log message="ANSWERED [$hcid]"/></action></nop>\n'
        # from here on, the remote may hang up at any time
        ans += _global_recv("BYE", "remote_bye")
        if tone is not None:
            ans += f'  <nop><action><exec play_pcap_audio="{tone}"/></action></nop>\n'
        if hangup_by == "phone":
            ans += f'  <pause milliseconds="{talk_ms}"/>\n'
            ans += _send(
                # SIPp's [branch] repeats in every out-of-call call of a process: add the Call-ID
                # so a second call's BYE is not taken for a retransmission of the first one's
                f"""BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]-[call_id]
From: {local}
To: [$remote_from]
[routes]
Call-ID: [call_id]
CSeq: 101 BYE
Max-Forwards: 70
Content-Length: 0""",
                retrans=True,
            )
            ans += '  <recv response="200" crlf="true"/>\n' + outcome.format(what="hangup") + finish
        else:
            ans += f'  <recv request="BYE" timeout="{int(bye_timeout * 1000)}" next="remote_bye"/>\n'
        ans += '  <label id="remote_bye"/>\n'
        ans += _reply("200 OK")
        ans += outcome.format(what="remote_bye") + finish
    # CANCEL: 200 for it, 487 for the INVITE, then the ACK of the 487
    ans += '  <label id="cancelled"/>\n'
    ans += _reply("200 OK")
    ans += _send(
        f"""SIP/2.0 487 Request Terminated
Via: [$inv_via]
From: [$remote_from]
To: {local}
Call-ID: [call_id]
CSeq: [$inv_cseq] INVITE
Content-Length: 0""",
        retrans=True,
    )
    ans += '  <recv request="ACK"/>\n' + outcome.format(what="cancelled")
    ans += '  <label id="done"/>\n'
    ans += '  <nop><action><add assign_to="handled" value="1"/></action></nop>\n'
    ans += '  <Reference variables="remote_from,local_to,inv_via,inv_cseq,hcid,hqueue,tagn"/>\n'
    return PhoneScenarios(document("hotline agent phone", main), document("hotline agent phone calls", ans))


def phone_row(number: str, domain: str, password: str) -> str:
    """The injection-file row for :func:`agent_phone_scenario`."""
    return f"{number};{domain};{auth_keyword(number, password)}"


# ------------------------------------------------------------------ processes
def free_port(span: int = 1) -> int:
    """A port on 127.0.0.1 free for UDP and TCP, with ``span - 1`` free UDP ports after it."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind((LOOPBACK, 0))
            port = int(u.getsockname()[1])
        if port + span > 65535:
            continue
        socks: list[socket.socket] = []
        try:
            for p in range(port, port + span):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind((LOOPBACK, p))
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(t)
            t.bind((LOOPBACK, port))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return port
    raise RuntimeError("no free port")


def sipp_binary() -> str:
    from tests.sip.scenarios.harness import sipp_binary as find

    return find()


_MSG_SPLIT = re.compile(r"^-{20,} [^\n]*\n", re.M)


@dataclass
class SippPeer:
    """One SIPp process running in the background, talking to ``server`` from 127.0.0.1.

    ``scenario`` is the main document (``-sf``), ``ooc`` an optional out-of-call document
    (``-oocsf``), ``rows`` the injection-file rows (``[field0]`` ...).  Everything lives in
    ``workdir``: the scenarios, ``messages.log`` (``-trace_msg``), ``errors.log``,
    ``sipp.log`` (``-trace_logs``: the ``<log>`` lines), ``stats.csv``, stdout/stderr.
    """

    name: str
    workdir: Path
    server: tuple[str, int]
    scenario: str
    rows: Sequence[str] = ()
    ooc: str | None = None
    calls: int = 1
    rate: float | None = None
    duration: float = 60.0
    local_port: int = 0
    media_port: int = 0
    extra: Sequence[str] = ()
    proc: asyncio.subprocess.Process | None = field(default=None, init=False)
    args: list[str] = field(default_factory=list, init=False)
    started: float = field(default=0.0, init=False)
    elapsed: float = field(default=0.0, init=False)
    stopped: bool = field(default=False, init=False)  # ended by :meth:`stop`, not by itself

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.local_port = self.local_port or free_port()
        self.media_port = self.media_port or free_port(4)

    # files
    def path(self, name: str) -> Path:
        return self.workdir / name

    def command(self) -> list[str]:
        sf = self.path("scenario.xml")
        sf.write_text(self.scenario)
        inf = self.path("fields.csv")
        inf.write_text("SEQUENTIAL\n" + "".join(r + "\n" for r in self.rows) or "SEQUENTIAL\nx\n")
        args = [
            sipp_binary(), f"{self.server[0]}:{self.server[1]}",
            "-sf", str(sf),
            "-inf", str(inf),
            "-m", str(self.calls),
            "-t", "u1",
            "-i", LOOPBACK, "-bind_local", "-p", str(self.local_port),
            "-mi", LOOPBACK, "-mp", str(self.media_port),
            "-timeout", f"{int(self.duration)}s", "-timeout_error",
            "-trace_msg", "-message_file", str(self.path("messages.log")),
            "-trace_err", "-error_file", str(self.path("errors.log")),
            "-trace_logs", "-log_file", str(self.path("sipp.log")),
            "-trace_stat", "-stf", str(self.path("stats.csv")), "-fd", "1",
            "-nostdin", "-nd",
        ]  # fmt: skip
        if self.ooc is not None:
            ooc = self.path("ooc.xml")
            ooc.write_text(self.ooc)
            args += ["-oocsf", str(ooc)]
        if self.rate is not None:
            args += ["-r", str(self.rate)]
        return args + list(self.extra)

    async def start(self) -> SippPeer:
        self.args = self.command()
        self.path("command.txt").write_text(" ".join(self.args) + "\n")
        out = self.path("stdout.log").open("wb")
        err = self.path("stderr.log").open("wb")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.args, cwd=self.workdir, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=err
            )
        finally:
            out.close()
            err.close()
        self.started = time.monotonic()
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.returncode

    async def wait(self, seconds: float | None = None) -> int:
        """Wait for SIPp to finish and return its exit code (0: every call succeeded).

        After ``seconds`` (default: its ``duration`` + 15) SIPp is stopped (:meth:`stop`) and
        the result is -1 whatever SIPp's own code (a stopped SIPp may exit with 0)."""
        assert self.proc is not None, "not started"
        try:
            await asyncio.wait_for(self.proc.wait(), seconds if seconds is not None else self.duration + 15)
        except TimeoutError:
            await self.stop()
        self.elapsed = time.monotonic() - self.started
        if self.stopped or self.proc.returncode is None:
            return -1
        return self.proc.returncode

    async def stop(self, grace: float = 2.0) -> None:
        """Stop SIPp: SIGUSR1 (SIPp 3.6: no new calls, exit once no call is open), SIGTERM 0.3 s
        later (a phone's register call stays open while it waits for calls; SIPp 3.6.1 does
        not exit on a second SIGUSR1 then), SIGKILL after ``grace`` s.  The logs are flushed
        line by line, so nothing but the last statistics row is lost."""
        if not self.running:
            return
        assert self.proc is not None
        self.stopped = True
        for sig, wait in ((signal.SIGUSR1, 0.3), (signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
            try:
                await asyncio.wait_for(self.proc.wait(), wait)
                return
            except TimeoutError:
                pass

    # results
    def _read(self, name: str) -> str:
        p = self.path(name)
        return p.read_text(errors="replace") if p.exists() else ""

    def messages(self) -> str:
        """SIPp's message trace (everything sent and received)."""
        return self._read("messages.log")

    def errors(self) -> str:
        return self._read("errors.log")

    def log(self) -> str:
        """The scenarios' ``<log>`` lines."""
        return self._read("sipp.log")

    def received(self, method: str | None = "INVITE") -> list[str]:
        """Received SIP messages (requests of ``method``; ``None``: all), oldest first."""
        out = []
        for block in _MSG_SPLIT.split(self.messages()):
            _, sep, msg = block.partition("message received")
            if not sep:
                continue
            msg = msg.split("\n\n", 1)[1] if "\n\n" in msg else msg
            first = msg.lstrip().split(" ", 1)[0]
            if method is None or first == method:
                out.append(msg.strip("\n"))
        return out

    def received_headers(self, name: str, method: str | None = "INVITE") -> list[str]:
        """Values of header ``name`` in received ``method`` requests (retransmissions included)."""
        key = name.lower() + ":"
        out = []
        for msg in self.received(method):
            for line in msg.split("\n\n", 1)[0].splitlines():
                if line.lower().startswith(key):
                    out.append(line[len(key) :].strip())
        return out

    def outcomes(self) -> list[tuple[str, str, str]]:
        """The phone's handled calls: (outcome, X-Hotline-Call-Id, X-Hotline-Queue), in order."""
        out = []
        for line in self.log().splitlines():
            parts = line.split("OUTCOME ", 1)
            if len(parts) == 2:
                what, *rest = parts[1].split(" ")
                rest += ["", ""]
                out.append((what, rest[0], rest[1]))
        return out

    def stats(self) -> dict[str, str]:
        """The last row of SIPp's statistics file (main scenario)."""
        text = self._read("stats.csv")
        rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
        return {k: v for k, v in rows[-1].items() if k} if rows else {}

    def _stat(self, key: str) -> int:
        try:
            return int(self.stats().get(key, "0") or 0)
        except ValueError:
            return 0

    @property
    def successful(self) -> int:
        """Main-scenario calls that ran to their end (``SuccessfulCall(C)``)."""
        return self._stat("SuccessfulCall(C)")

    @property
    def failed(self) -> int:
        return self._stat("FailedCall(C)")

    @property
    def answered(self) -> int:
        """Calls the phone answered (its 200 was ACKed); for a caller: successful calls."""
        if self.ooc is None:
            return self.successful
        return sum(1 for line in self.log().splitlines() if "ANSWERED " in line)

    def explain(self) -> str:
        """A readable summary for assertion messages."""
        tail = "\n".join(self.messages().splitlines()[-60:])
        return (
            f"SIPp peer {self.name!r} rc={self.returncode}"
            f"{' (stopped by the harness)' if self.stopped else ''} after {self.elapsed:.1f}s, "
            f"successful={self.successful} failed={self.failed} outcomes={self.outcomes()}\n"
            f"command: {' '.join(self.args)}\n"
            f"stderr:\n{self._read('stderr.log')[-2000:]}\n"
            f"errors:\n{self.errors()[-3000:]}\n"
            f"log:\n{self.log()[-1000:]}\n"
            f"last messages:\n{tail}"
        )


class SippPeers:
    """Creates :class:`SippPeer` objects in a test's directory and stops them all at the end."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.peers: list[SippPeer] = []

    def peer(self, name: str, server: tuple[str, int], scenario: str, **kw: object) -> SippPeer:
        p = SippPeer(name, self.root / f"sipp-{name}", server, scenario, **kw)  # type: ignore[arg-type]
        self.peers.append(p)
        return p

    async def caller(
        self, name: str, server: tuple[str, int], scenario: str, row: str, **kw: object
    ) -> SippPeer:
        """Start a caller (one call with ``row`` as its fields)."""
        return await self.peer(name, server, scenario, rows=[row], **kw).start()

    async def phone(
        self, name: str, server: tuple[str, int], scenarios: PhoneScenarios, row: str, **kw: object
    ) -> SippPeer:
        """Start a registering agent phone (see :func:`agent_phone_scenario`)."""
        return await self.peer(
            name, server, scenarios.register, ooc=scenarios.answer, rows=[row], calls=1, **kw
        ).start()

    async def aclose(self) -> None:
        for p in self.peers:
            await p.stop(grace=1.0)


@pytest.fixture
async def sipp_peers(tmp_path: Path) -> AsyncIterator[SippPeers]:
    """A :class:`SippPeers` factory; every SIPp process still running at the end is killed."""
    sipp_binary()
    peers = SippPeers(tmp_path)
    try:
        yield peers
    finally:
        await peers.aclose()


async def wait_registered(peer: SippPeer, seconds: float = 10.0) -> None:
    """Wait until the phone logged REGISTERED (its REGISTER got 200)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if "REGISTERED" in peer.log().split():
            return
        if not peer.running:
            break
        await asyncio.sleep(0.05)
    raise AssertionError(f"phone did not register\n{peer.explain()}")


__all__ = [
    "Pause",
    "PhoneScenarios",
    "Play",
    "SippPeer",
    "SippPeers",
    "agent_phone_scenario",
    "auth_keyword",
    "caller_row",
    "caller_scenario",
    "dtmf_pcap",
    "free_port",
    "phone_row",
    "sipp_peers",
    "system_dtmf_pcap",
    "wait_registered",
]
