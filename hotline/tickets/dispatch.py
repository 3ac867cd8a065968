"""Automatic dispatch of work orders: which unit is responsible for a new order.

:func:`choose` is pure: the first active :class:`Rule` (lowest ``priority``, then lowest id)
whose conditions all hold names the target unit; an empty condition matches anything. The
conditions: the ticket type, the business category, the customer's supply unit (the rule's unit
or any unit below it: a path prefix) and a substring of the address.

:func:`resolve` loads the tenant's rules and asks :func:`choose`; the CRUD helpers below serve the
admin API (``hotline/web/api/ticket_admin.py``) and check that the named units are the tenant's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from hotline.crm.facts import CustomerFacts
from hotline.errors import Invalid, NotFound
from hotline.org import service as org
from hotline.store.cache import Cache, db_key
from hotline.store.models import DispatchRule, Unit
from hotline.store.types import valid_id


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    priority: int
    target_unit_id: int
    type_code: str = ""
    category: str = ""
    #: the path (``/1/4/``) of the rule's supply unit; "" = any
    supply_path: str = ""
    address_contains: str = ""
    active: bool = True


@dataclass(frozen=True, slots=True)
class Facts:
    type_code: str
    category: str = ""
    #: the path of the customer's supply unit ("" when there is no customer)
    unit_path: str = ""
    address: str = ""


def matches(rule: Rule, facts: Facts) -> bool:
    if not rule.active:
        return False
    if rule.type_code and rule.type_code != facts.type_code:
        return False
    if rule.category and rule.category != facts.category:
        return False
    if rule.supply_path and not (facts.unit_path and facts.unit_path.startswith(rule.supply_path)):
        return False
    return not (rule.address_contains and rule.address_contains.casefold() not in facts.address.casefold())


def choose(rules: Sequence[Rule], facts: Facts) -> int | None:
    """The target unit of the first matching rule in priority order (None: no rule matches)."""
    for rule in sorted(rules, key=lambda r: (r.priority, r.id)):
        if matches(rule, facts):
            return rule.target_unit_id
    return None


# -- the shell ----------------------------------------------------------------------------------------


#: the tenant's active rules, for dispatching new orders (:mod:`hotline.store.cache`)
_ACTIVE: Cache[tuple[str, int], list[Rule]] = Cache(("ticket_dispatch_rules", "units"))


async def load_rules(s: AsyncSession, tenant_id: int, *, active_only: bool = True) -> list[Rule]:
    supply = aliased(Unit)
    q = (
        select(DispatchRule, supply.path)
        .outerjoin(supply, supply.id == DispatchRule.supply_unit_id)
        .where(DispatchRule.tenant_id == tenant_id)
        .order_by(DispatchRule.priority, DispatchRule.id)
    )
    if active_only:
        q = q.where(DispatchRule.active.is_(True))
    return [_rule(r, path) for r, path in (await s.execute(q)).all()]


def _rule(r: DispatchRule, supply_path: str | None) -> Rule:
    return Rule(
        id=r.id,
        priority=r.priority,
        target_unit_id=r.target_unit_id,
        type_code=r.type_code,
        category=r.category,
        supply_path=supply_path or "",
        address_contains=r.address_contains,
        active=r.active,
    )


async def resolve(
    s: AsyncSession,
    tenant_id: int,
    *,
    type_code: str,
    category: str = "",
    customer: CustomerFacts | None = None,
    address: str = "",
    unit_path: str | None = None,
) -> int | None:
    """The unit the tenant's dispatch rules name for a new order (None: no rule matches).
    ``unit_path``: the customer's supply unit's path when the caller knows it."""
    rules = await _ACTIVE.fetch((db_key(s), tenant_id), lambda: load_rules(s, tenant_id))
    if not rules:
        return None
    if unit_path is None and customer is not None:
        unit_path = await s.scalar(select(Unit.path).where(Unit.id == customer.unit_id)) or ""
    return choose(
        rules, Facts(type_code, category, unit_path or "", address or (customer.address if customer else ""))
    )


# -- CRUD for the admin API ---------------------------------------------------------------------------

RULE_FIELDS = (
    "priority",
    "name",
    "type_code",
    "category",
    "supply_unit",
    "address_contains",
    "target_unit",
    "active",
)
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


async def _unit(s: AsyncSession, tenant_id: int, key: Any, field: str) -> Unit:
    if isinstance(key, bool) or not isinstance(key, int | str) or (isinstance(key, str) and not key.strip()):
        raise Invalid(f"{field} must be a unit code or id", field=field)
    try:
        return await org.get_unit(s, tenant_id, key.strip() if isinstance(key, str) else key)
    except NotFound:
        if isinstance(key, str) and key.strip().isdecimal() and valid_id(int(key)):
            try:
                return await org.get_unit(s, tenant_id, int(key))
            except NotFound:
                pass
        raise Invalid(f"no unit {key!r} in this tenant", field=field) from None


async def _apply(s: AsyncSession, tenant_id: int, rule: DispatchRule, values: Mapping[str, Any]) -> None:
    for key in values:
        if key not in RULE_FIELDS:
            raise Invalid(f"unknown field {key!r}; fields: {', '.join(RULE_FIELDS)}", field=key)
    if "priority" in values:
        p = values["priority"]
        if isinstance(p, bool) or not isinstance(p, int) or not 0 <= p <= 1_000_000:
            raise Invalid("priority must be a whole number from 0 to 1000000", field="priority")
        rule.priority = p
    for key, limit in (("name", 200), ("category", 64), ("address_contains", 200)):
        if key in values:
            v = values[key] if values[key] is not None else ""
            if not isinstance(v, str) or len(v.strip()) > limit:
                raise Invalid(f"{key} must be text of at most {limit} characters", field=key)
            setattr(rule, key, v.strip())
    if "type_code" in values:
        code = (values["type_code"] or "").strip() if isinstance(values["type_code"], str | None) else None
        if code is None or (code and not _CODE.match(code)):
            raise Invalid("type_code must be a ticket type code", field="type_code")
        if code:
            from hotline.tickets.service import types_for  # service imports this module

            known = await types_for(s, tenant_id)
            if code not in known:
                raise Invalid(f"unknown ticket type {code!r}; types: {', '.join(known)}", field="type_code")
        rule.type_code = code
    if "supply_unit" in values:
        key = values["supply_unit"]
        rule.supply_unit_id = (
            None if key in (None, "") else (await _unit(s, tenant_id, key, "supply_unit")).id
        )
    if "target_unit" in values:
        rule.target_unit_id = (await _unit(s, tenant_id, values["target_unit"], "target_unit")).id
    if "active" in values:
        if not isinstance(values["active"], bool):
            raise Invalid("active must be true or false", field="active")
        rule.active = values["active"]


async def list_rules(s: AsyncSession, tenant_id: int) -> list[DispatchRule]:
    """Every rule of the tenant (inactive ones too), in the order they are tried."""
    q = (
        select(DispatchRule)
        .where(DispatchRule.tenant_id == tenant_id)
        .order_by(DispatchRule.priority, DispatchRule.id)
    )
    return list((await s.scalars(q)).all())


async def get_rule(s: AsyncSession, tenant_id: int, rule_id: int) -> DispatchRule:
    if not valid_id(rule_id):  # beyond BIGINT: no such rule (and no query a driver would refuse)
        raise NotFound(f"no dispatch rule {rule_id}", field="rule")
    row = await s.scalar(
        select(DispatchRule).where(DispatchRule.tenant_id == tenant_id, DispatchRule.id == rule_id)
    )
    if row is None:
        raise NotFound(f"no dispatch rule {rule_id}", field="rule")
    return row


async def create_rule(s: AsyncSession, tenant_id: int, values: Mapping[str, Any]) -> DispatchRule:
    """A new rule from ``values`` (:data:`RULE_FIELDS`; units by code or id; ``target_unit``
    required)."""
    if values.get("target_unit") in (None, ""):
        raise Invalid("a dispatch rule needs a target_unit", field="target_unit")
    rule = DispatchRule(
        tenant_id=tenant_id, priority=100, name="", type_code="", category="", address_contains=""
    )
    rule.active = True
    await _apply(s, tenant_id, rule, values)
    s.add(rule)
    await s.flush()
    return rule


async def update_rule(
    s: AsyncSession, tenant_id: int, rule_id: int, changes: Mapping[str, Any]
) -> DispatchRule:
    rule = await get_rule(s, tenant_id, rule_id)
    if "target_unit" in changes and changes["target_unit"] in (None, ""):
        raise Invalid("a dispatch rule needs a target_unit", field="target_unit")
    await _apply(s, tenant_id, rule, changes)
    await s.flush()
    return rule


async def delete_rule(s: AsyncSession, tenant_id: int, rule_id: int) -> None:
    rule = await get_rule(s, tenant_id, rule_id)
    await s.delete(rule)
    await s.flush()


async def rule_doc(s: AsyncSession, rule: DispatchRule) -> dict[str, Any]:
    """The API form of a rule (units with id, code and name)."""
    ids = [i for i in (rule.supply_unit_id, rule.target_unit_id) if i is not None]
    units = {u.id: u for u in (await s.scalars(select(Unit).where(Unit.id.in_(ids)))).all()}

    def unit(i: int | None) -> dict[str, Any] | None:
        u = units.get(i) if i is not None else None
        return {"id": u.id, "code": u.code, "name": u.name} if u else None

    return {
        "id": rule.id,
        "priority": rule.priority,
        "name": rule.name,
        "type_code": rule.type_code,
        "category": rule.category,
        "supply_unit": unit(rule.supply_unit_id),
        "address_contains": rule.address_contains,
        "target_unit": unit(rule.target_unit_id),
        "active": rule.active,
        "created_at": rule.created_at.isoformat() if rule.created_at else None,
    }
