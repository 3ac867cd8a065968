from __future__ import annotations

import inspect

import pytest

from hotline.media import engine
from hotline.media.engine import (
    Conference,
    EndpointId,
    MediaDescription,
    MediaEngine,
    PayloadFormat,
    Supervision,
    mix_matrix_for,
)

EXPECTED_OPERATIONS = {
    "capabilities",
    "subscribe",
    "create_endpoint",
    "update_endpoint",
    "close_endpoint",
    "play",
    "stop_play",
    "record_start",
    "record_pause",
    "record_resume",
    "record_stop",
    "bridge",
    "unbridge",
    "mix",
    "unmix",
    "detect_dtmf",
    "send_dtmf",
    "stats",
    "close",
}


def test_interface_is_abstract_and_complete() -> None:
    assert MediaEngine.__abstractmethods__ == EXPECTED_OPERATIONS
    with pytest.raises(TypeError):
        MediaEngine()  # type: ignore[abstract]
    for name in EXPECTED_OPERATIONS - {"capabilities", "subscribe"}:
        assert inspect.iscoroutinefunction(getattr(MediaEngine, name)), name


def test_all_exports_exist() -> None:
    for name in engine.__all__:
        assert hasattr(engine, name), name


def test_data_types() -> None:
    md = MediaDescription(
        "203.0.113.1",
        40000,
        (PayloadFormat(0, "PCMU"), PayloadFormat(101, "telephone-event", fmtp="0-16")),
    )
    assert md.direction == "sendrecv" and md.ptime_ms == 20
    assert md.formats[1].fmtp == "0-16"


def test_mix_specs_map_to_matrices() -> None:
    c, a, s = EndpointId("c"), EndpointId("a"), EndpointId("s")
    assert mix_matrix_for(Conference((c, a, s))).audible_to("c") == {"a", "s"}
    m = mix_matrix_for(Supervision((c, a), a, s, "whisper"))
    assert m.hears("a", "s") and not m.hears("c", "s") and m.audible_to("s") == {"c", "a"}
