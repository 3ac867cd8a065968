"""Hotline's sans-IO SIP core (see docs/adr/0002-sip-stack.md).

Pure, synchronous and I/O-free: feed bytes/messages/timer events in, get
messages/actions out.  Time is always passed in.

Modules:

* :mod:`hotline.sip.message` — parse/serialize (``parse_message``, ``StreamFramer``,
  ``Request``, ``Response``, ``make_response``, ``error_response``)
* :mod:`hotline.sip.headers` / :mod:`hotline.sip.uri` — structured header values
* :mod:`hotline.sip.digest` — Digest authentication (server and client)
* :mod:`hotline.sip.sdp` — SDP and offer/answer
* :mod:`hotline.sip.transaction` — RFC 3261 §17 transactions and ``TransactionLayer``
* :mod:`hotline.sip.dialog` — RFC 3261 §12 dialogs
* :mod:`hotline.sip.helpers` — branch/tag/Call-ID generation, ``normalize_number``
"""

from hotline.sip.dialog import Dialog, DialogError, DialogId, DialogState, uac_dialog_id, uas_dialog_id
from hotline.sip.digest import (
    AuthResult,
    AuthStatus,
    Challenge,
    Credentials,
    DigestClient,
    DigestServer,
    build_authorization,
    compute_ha1,
    compute_response,
    parse_challenge,
    parse_credentials,
)
from hotline.sip.errors import SipError, SipParseError
from hotline.sip.headers import CSeq, Headers, NameAddr, Via, parse_cseq, parse_name_addr, parse_via
from hotline.sip.helpers import generate_branch, generate_call_id, generate_tag, normalize_number
from hotline.sip.message import (
    REASON_PHRASES,
    Request,
    Response,
    StreamFramer,
    error_response,
    make_request,
    make_response,
    parse_message,
    response_destination,
    stamp_via,
)
from hotline.sip.sdp import (
    OfferAnswerError,
    SdpParseError,
    SessionDescription,
    answer,
    is_hold,
    make_offer,
    parse_sdp,
)
from hotline.sip.transaction import (
    Action,
    CancelTimer,
    OkRetransmitter,
    RequestReceived,
    ResponseReceived,
    Send,
    StartTimer,
    StrayResponse,
    Terminated,
    Timers,
    TransactionError,
    TransactionLayer,
    TransactionTimeout,
    TransportFailure,
    make_ack,
    make_cancel,
)
from hotline.sip.uri import URI, AbsoluteURI, SipURI, parse_uri

__all__ = [
    "REASON_PHRASES", "URI", "AbsoluteURI", "Action", "AuthResult", "AuthStatus", "CSeq",
    "CancelTimer", "Challenge", "Credentials", "Dialog", "DialogError", "DialogId", "DialogState",
    "DigestClient", "DigestServer", "Headers", "NameAddr", "OfferAnswerError", "OkRetransmitter", "Request",
    "RequestReceived", "Response", "ResponseReceived", "SdpParseError", "Send", "SessionDescription",
    "SipError", "SipParseError", "SipURI", "StartTimer", "StrayResponse", "StreamFramer",
    "Terminated", "Timers", "TransactionError", "TransactionLayer", "TransactionTimeout",
    "TransportFailure", "Via", "answer", "build_authorization", "compute_ha1", "compute_response",
    "error_response", "generate_branch", "generate_call_id", "generate_tag", "is_hold", "make_ack",
    "make_cancel", "make_offer", "make_request", "make_response", "normalize_number", "parse_challenge",
    "parse_credentials", "parse_cseq", "parse_message", "parse_name_addr", "parse_sdp", "parse_uri",
    "parse_via", "response_destination", "stamp_via", "uac_dialog_id", "uas_dialog_id",
]  # fmt: skip
