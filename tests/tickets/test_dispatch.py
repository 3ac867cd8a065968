"""Dispatch rules: the pure choice, and the rules' CRUD on both databases."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotline.errors import Invalid, NotFound
from hotline.org import service as org
from hotline.store.db import transaction
from hotline.tickets import dispatch
from hotline.tickets.dispatch import Facts, Rule, choose


def test_choose_in_priority_order() -> None:
    rules = [
        Rule(id=1, priority=50, target_unit_id=10),  # catch-all
        Rule(id=2, priority=10, target_unit_id=20, type_code="complaint"),
        Rule(id=3, priority=20, target_unit_id=30, supply_path="/1/4/"),
        Rule(id=4, priority=5, target_unit_id=40, category="billing", active=False),
        Rule(id=5, priority=30, target_unit_id=50, address_contains="Dongshan"),
        Rule(id=6, priority=10, target_unit_id=60, type_code="complaint"),  # same priority: lower id wins
    ]
    assert choose(rules, Facts("complaint")) == 20
    assert choose(rules, Facts("fault_repair", unit_path="/1/4/9/")) == 30
    assert choose(rules, Facts("fault_repair", unit_path="/1/5/")) == 10
    assert choose(rules, Facts("fault_repair", address="1 dongshan road")) == 50
    assert choose(rules, Facts("consultation", category="billing")) == 10  # rule 4 inactive
    assert choose([], Facts("complaint")) is None
    assert choose([Rule(id=1, priority=1, target_unit_id=1, supply_path="/1/")], Facts("x")) is None


@given(
    st.lists(
        st.builds(
            Rule,
            id=st.integers(1, 50),
            priority=st.integers(0, 5),
            target_unit_id=st.integers(1, 9),
            type_code=st.sampled_from(["", "a", "b"]),
            category=st.sampled_from(["", "x"]),
            supply_path=st.sampled_from(["", "/1/", "/1/2/"]),
            address_contains=st.sampled_from(["", "road"]),
            active=st.booleans(),
        ),
        max_size=8,
    ),
    st.builds(
        Facts,
        type_code=st.sampled_from(["a", "b"]),
        category=st.sampled_from(["", "x"]),
        unit_path=st.sampled_from(["", "/1/", "/1/2/3/", "/7/"]),
        address=st.sampled_from(["", "Main Road 1"]),
    ),
)
def test_choice_is_the_first_matching_rule(rules: list[Rule], facts: Facts) -> None:
    got = choose(rules, facts)
    matching = [r for r in sorted(rules, key=lambda r: (r.priority, r.id)) if dispatch.matches(r, facts)]
    assert got == (matching[0].target_unit_id if matching else None)
    assert choose(list(reversed(rules)), facts) == got or len({(r.priority, r.id) for r in rules}) < len(
        rules
    )


async def test_rule_crud(factory: Any) -> None:
    async with transaction(factory) as s:
        t = await org.add_tenant(s, "grid", "Grid")
        root = await org.add_unit(s, t.id, "center", "Center")
        nj = await org.add_unit(s, t.id, "nj", "Nanjing", parent=root)
        other = await org.add_tenant(s, "other", "Other")
        ou = await org.add_unit(s, other.id, "x", "X")
        r = await dispatch.create_rule(
            s,
            t.id,
            {
                "priority": 5,
                "name": "南京投诉",
                "type_code": "complaint",
                "supply_unit": "nj",
                "target_unit": nj.id,
            },
        )
        assert (r.supply_unit_id, r.target_unit_id, r.active) == (nj.id, nj.id, True)
        for bad, field in (
            ({"target_unit": ou.id}, "target_unit"),
            ({"target_unit": "x"}, "target_unit"),
            ({}, "target_unit"),
            ({"target_unit": "nj", "type_code": "nonsense"}, "type_code"),
            ({"target_unit": "nj", "priority": -1}, "priority"),
            ({"target_unit": "nj", "colour": "red"}, "colour"),
            ({"target_unit": "nj", "supply_unit": str(ou.id)}, "supply_unit"),
        ):
            with pytest.raises(Invalid) as e:
                await dispatch.create_rule(s, t.id, bad)
            assert e.value.field == field
        r = await dispatch.update_rule(
            s, t.id, r.id, {"active": False, "supply_unit": None, "target_unit": "center"}
        )
        assert (r.active, r.supply_unit_id, r.target_unit_id) == (False, None, root.id)
        doc = await dispatch.rule_doc(s, r)
        assert (
            doc["target_unit"] == {"id": root.id, "code": "center", "name": "Center"}
            and doc["supply_unit"] is None
        )
        assert [x.id for x in await dispatch.list_rules(s, t.id)] == [r.id]
        assert await dispatch.load_rules(s, t.id) == []  # inactive
        with pytest.raises(NotFound):
            await dispatch.update_rule(s, other.id, r.id, {"active": True})
        with pytest.raises(NotFound):
            await dispatch.delete_rule(s, other.id, r.id)
        await dispatch.delete_rule(s, t.id, r.id)
        assert await dispatch.list_rules(s, t.id) == []
