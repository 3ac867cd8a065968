from __future__ import annotations

import numpy as np
import pytest

from hotline.media.mixer import MixMatrix, mix, saturate


def const(v: int, n: int = 160) -> np.ndarray:
    return np.full(n, v, dtype=np.int16)


def test_mix_saturates_and_pads() -> None:
    out = mix([const(30000), const(10000), const(-5000, 80)])
    assert out.dtype == np.int16
    assert out[0] == 32767  # 35000 clipped
    assert out[100] == 32767  # 40000 clipped
    assert mix([const(-30000), const(-30000)])[0] == -32768
    assert mix([const(100), const(-40)]).tolist() == [60] * 160
    assert mix([]).shape == (0,)
    assert saturate(np.array([1.4, -40000.0, 40000.0])).tolist() == [1, -32768, 32767]


def frames(**values: int) -> dict[str, np.ndarray]:
    return {k: const(v) for k, v in values.items()}


def heard(m: MixMatrix, **values: int) -> dict[str, int]:
    return {k: int(v[0]) for k, v in m.mix(frames(**values)).items()}


def test_bridge_and_conference_minus_own_voice() -> None:
    b = MixMatrix.bridge("caller", "agent")
    assert heard(b, caller=1, agent=10) == {"caller": 10, "agent": 1}
    c = MixMatrix.conference(["a", "b", "c"])
    assert heard(c, a=1, b=10, c=100) == {"a": 110, "b": 101, "c": 11}
    assert not c.hears("a", "a")


SUP = {"caller": 1, "agent": 10, "sup": 100}


def test_listen_mode() -> None:
    m = MixMatrix.supervised(["caller", "agent"], "agent", "sup", "listen")
    assert heard(m, **SUP) == {"caller": 10, "agent": 1, "sup": 11}
    assert m.audible_to("sup") == {"caller", "agent"}
    assert not m.hears("caller", "sup") and not m.hears("agent", "sup")


@pytest.mark.parametrize("mode", ["whisper", "coach"])
def test_whisper_mode(mode: str) -> None:
    m = MixMatrix.supervised(["caller", "agent"], "agent", "sup", mode)  # type: ignore[arg-type]
    assert heard(m, **SUP) == {"caller": 10, "agent": 101, "sup": 11}
    assert not m.hears("caller", "sup")


def test_barge_mode() -> None:
    m = MixMatrix.supervised(["caller", "agent"], "agent", "sup", "barge")
    assert heard(m, **SUP) == {"caller": 110, "agent": 101, "sup": 11}
    assert m == MixMatrix.conference(["caller", "agent", "sup"])


def test_supervised_three_way_call() -> None:
    m = MixMatrix.supervised(["c1", "c2", "agent"], "agent", "sup", "whisper")
    assert m.audible_to("c1") == {"c2", "agent"}
    assert m.audible_to("agent") == {"c1", "c2", "sup"}
    assert m.audible_to("sup") == {"c1", "c2", "agent"}


def test_missing_and_silent_inputs_and_unknown_participant() -> None:
    m = MixMatrix.conference(["a", "b", "c"])
    out = m.mix({"a": const(5), "b": None})
    assert int(out["c"][0]) == 5 and int(out["a"][0]) == 0
    short = m.mix({"a": const(5, 100)})
    assert short["b"][:100].tolist() == [5] * 100 and not short["b"][100:].any()
    with pytest.raises(KeyError):
        m.mix({"zzz": const(1)})


def test_gains_mute_and_saturation() -> None:
    m = MixMatrix.conference(["a", "b", "c"]).with_gain("a", "b", 0.5).muted("c")
    assert heard(m, a=0, b=1000, c=7) == {"a": 500, "b": 0, "c": 1000}
    loud = MixMatrix.conference(["a", "b", "c"])
    assert heard(loud, a=20000, b=20000, c=20000) == {"a": 32767, "b": 32767, "c": 32767}


def test_validation_and_diagonal_forced_zero() -> None:
    with pytest.raises(ValueError):
        MixMatrix(["a", "a"])
    with pytest.raises(ValueError):
        MixMatrix(["a", "b"], [[0, 1]])
    with pytest.raises(ValueError):
        MixMatrix(["a", "b"], [[0, -1], [1, 0]])
    with pytest.raises(ValueError):
        MixMatrix.supervised(["caller"], "agent", "sup", "listen")
    with pytest.raises(ValueError):
        MixMatrix.supervised(["caller", "agent"], "agent", "sup", "shout")  # type: ignore[arg-type]
    m = MixMatrix(["a", "b"], np.ones((2, 2)))
    assert not m.hears("a", "a")
    assert "a<-['b']" in repr(m)
    assert hash(m) == hash(MixMatrix.bridge("a", "b"))
