"""Queue settings and announcements wording (pure), and the number plan's calendar variants."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from httpx import AsyncClient
from pydantic import ValidationError

from hotline.acd import Strategy
from hotline.cti.queues import expected_wait_words, parse_settings, position_words, to_queue_config


def test_defaults_and_conversion_to_the_engine() -> None:
    s = parse_settings({"strategy": "most_qualified", "requirements": "billing>=2",
                        "overflow": [{"target": "general", "after": 30}],
                        "priority_rules": [{"when": "data.vip == true", "set_to": 50}],
                        "max_wait": 300, "max_wait_action": {"destination": "flow:after-hours-zh"}})  # fmt: skip
    cfg = to_queue_config("billing", s)
    assert cfg.strategy is Strategy.MOST_QUALIFIED and cfg.requirements == "billing>=2"
    assert cfg.max_wait == 300 and cfg.max_wait_action.destination == "flow:after-hours-zh"
    assert [type(r).__name__ for r in cfg.rules] == ["PriorityRule", "OverflowRule"]
    assert s.skills() == {"billing"}
    assert parse_settings(None).wrap_up == 15.0


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"callback_key": "12"}, "callback_key"),
        ({"exit_key": "1"}, "exit_key needs exit_flow"),
        ({"max_wait": float("inf")}, "max_wait"),
        ({"language": "fr"}, "language"),
        ({"wrap_up": -1}, "wrap_up"),
    ],
)
def test_bad_settings_name_the_field(data: dict[str, object], where: str) -> None:
    with pytest.raises((ValidationError, ValueError)) as exc:
        parse_settings(data)
    assert where in str(exc.value)


def test_wording() -> None:
    assert expected_wait_words(0, 60, "zh-CN") == "大约1分钟"  # never "zero minutes"
    assert expected_wait_words(61, 60, "zh-CN") == "大约2分钟"
    assert expected_wait_words(125, 30, "en") == "about 2 minutes 30 seconds"
    assert expected_wait_words(20, 30, "en") == "about 30 seconds"
    assert position_words(1, "zh-CN") == "您是下一位。"
    assert position_words(4, "zh-CN") == "您前面还有3位客户在等待。"
    assert position_words(3, "en") == "You are number 3 in line."


async def test_number_plan_variants(app_client: AsyncClient) -> None:
    center = app_client.app.state.hotline.center  # type: ignore[attr-defined]
    flows = center.flows
    # the demo's office line: 95598100 with the "Office hours 2026" calendar
    monday_10 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, a Monday
    monday_20 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # 20:00
    national_day = datetime(2026, 10, 2, 2, 0, tzinfo=UTC)  # a public holiday, 10:00
    makeup_sat = datetime(2026, 10, 10, 2, 0, tzinfo=UTC)  # make-up working Saturday, 10:00
    got = {
        at: await flows.route(1, "95598100", at) for at in (monday_10, monday_20, national_day, makeup_sat)
    }
    assert (got[monday_10].flow, got[monday_10].variant) == ("95598-zh", "normal")
    assert (got[monday_20].flow, got[monday_20].variant) == ("after-hours-zh", "after_hours")
    assert (got[national_day].flow, got[national_day].variant) == ("after-hours-zh", "holiday")
    assert got[makeup_sat].variant == "normal" and got[makeup_sat].calendar_open
    assert (await flows.route(1, "95598", monday_20)).variant == "normal"  # no calendar: always
    assert await flows.route(1, "12345", monday_10) is None
