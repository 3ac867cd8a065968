"""SIPp scenarios for call tests, built from parts: extension [field0] calls [field1] with digest
authentication ([field2] is SIPp's ``[authentication ...]`` keyword), then one of several endings.

SIPp quirks handled here: the ACK to a non-2xx reuses the INVITE's Via (``[last_Via:]``), and a
CANCEL copies the INVITE's Via from the last provisional response.
"""

from __future__ import annotations

from pathlib import Path

SDP = """      v=0
      o=sipp 1 1 IN IP4 [local_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [auto_media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16
      a=sendrecv"""

FROM = "From: <sip:[field0]@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag[call_number]"
TO = "To: <sip:[field1]@[remote_ip]:[remote_port]>"


def _invite(cseq: int, auth: bool) -> str:
    return f"""  <send retrans="500">
    <![CDATA[
      INVITE sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      {FROM}
      {TO}
      Call-ID: [call_id]
      CSeq: {cseq} INVITE
      Contact: sip:[field0]@[local_ip]:[local_port]
{"      [field2]" + chr(10) if auth else ""}      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

{SDP}
    ]]>
  </send>
"""


def _ack_non2xx(cseq: int) -> str:
    return f"""  <send>
    <![CDATA[
      ACK sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      {FROM}
      {TO}[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
"""


def prelude(authenticate: bool = True) -> str:
    """INVITE, (407, ACK, INVITE with credentials); returns with CSeq 2 (or 1) pending."""
    out = _invite(1, False)
    if authenticate:
        out += '  <recv response="100" optional="true"/>\n  <recv response="407" auth="true"/>\n'
        out += _ack_non2xx(1) + _invite(2, True)
    return out


def rejected(status: int, cseq: int = 2) -> str:
    """The call ends with a final ``status``; we ACK it."""
    return f"""  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="{status}"/>
{_ack_non2xx(cseq)}"""


def cancelled(after_ms: int, cseq: int = 2) -> str:
    """The caller gives up while it rings: CANCEL, 200 for it, 487 for the INVITE, ACK."""
    return f"""  <recv response="100" optional="true"/>
  <recv response="180"/>
  <pause milliseconds="{after_ms}"/>
  <send>
    <![CDATA[
      CANCEL sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      {FROM}
      {TO}
      Call-ID: [call_id]
      CSeq: {cseq} CANCEL
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
  <recv response="487"/>
{_ack_non2xx(cseq)}"""


def answered_then_bye_from_server(cseq: int, pcap: str | None = None) -> str:
    """Answered; optionally play a pcap; the server hangs up (we answer its BYE)."""
    play = f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>\n' if pcap else ""
    return f"""  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      {FROM}
      {TO}[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
{play}  <recv request="BYE" timeout="30000"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
"""


def write(path: Path, name: str, body: str) -> Path:
    path.write_text(
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'
        f'<scenario name="{name}">\n{body}</scenario>\n'
    )
    return path
