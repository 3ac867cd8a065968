"""Customer archive (户): one record per account number, with phones, protected ID number, PIN.

The field rules are pure (:func:`clean_fields` collects every problem of a record, so the API
and the importer report them all at once); the async functions below store the result.

Fields and their rules (``clean_fields``):

==================  ============================================================================
account_no          4-32 letters, digits or ``-`` (unique in the tenant)
name                1-200 characters
customer_class      urban_resident | rural_resident | commercial | large_industry | agriculture
voltage             220V | 380V | 10kV | 20kV | 35kV | 110kV | 220kV (case and a blank ignored)
phones              at most 5, each normalised with :func:`hotline.crm.phones.normalize_phone`,
                    duplicates dropped; the first is the primary (``customers.phone``); every
                    one is a ``customer_phones`` row. ``phone`` (one number) is still accepted:
                    it becomes the primary. A record may have none (imports without a phone).
address             the supply address, at most 500 characters
addresses           further addresses, at most 10: ``{"kind": home|mailing|billing|work|other,
                    "text": …}`` (a plain string is kind ``other``)
id_number           see :mod:`hotline.crm.protect` (stored encrypted + search hash + mask)
vip                 true/false (important customer, 重要客户)
preferred_channel   sms | voice | email | wechat | none
email               empty or one address ``local@domain.tld``
blacklisted         true needs a ``blacklist_reason``; false clears the reason
tags                at most 20 distinct tags of 1-32 characters (a string is split at , ， ; 、)
feeder, transformer_area (台区)   at most 64 characters
tariff_code         empty (the tariff in force for class and voltage) or letters, digits ``_.-``
capacity_kva        contracted capacity (合同容量) in kVA, 0 – 10,000,000, at most 2 decimals
status              active | suspended | closed
==================  ============================================================================
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.crm import protect
from hotline.crm.phones import lookup_forms, normalize_phone, phone_kind
from hotline.crm.protect import IdProtector
from hotline.errors import Conflict, Invalid, NotFound
from hotline.store.models import Call, ContactEntry, Customer, CustomerPhone, Unit
from hotline.store.types import valid_id

ACCOUNT_RE = re.compile(r"^[0-9A-Za-z-]{4,32}$")
CUSTOMER_CLASSES = ("urban_resident", "rural_resident", "commercial", "large_industry", "agriculture")
VOLTAGES = ("220V", "380V", "10kV", "20kV", "35kV", "110kV", "220kV")
CHANNELS = ("sms", "voice", "email", "wechat", "none")
STATUSES = ("active", "suspended", "closed")
ADDRESS_KINDS = ("home", "mailing", "billing", "work", "other")
MAX_PHONES = 5
MAX_TAGS = 20
MAX_ADDRESSES = 10
EMAIL_RE = re.compile(
    r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$"
)
TARIFF_CODE_RE = re.compile(r"^[A-Za-z0-9_.-]{0,64}$")
_TAG_SPLIT = re.compile(r"[,，;；、]")
_VOLTAGE_KEY = {v.lower(): v for v in VOLTAGES}

#: every field :func:`clean_fields` knows (``phone`` is the one-number form of ``phones``)
FIELDS = (
    "account_no",
    "name",
    "customer_class",
    "voltage",
    "phone",
    "phones",
    "address",
    "addresses",
    "id_number",
    "vip",
    "preferred_channel",
    "email",
    "blacklisted",
    "blacklist_reason",
    "tags",
    "feeder",
    "transformer_area",
    "tariff_code",
    "capacity_kva",
    "status",
)

Problem = tuple[str, str]  # field, reason


class Keep(Enum):
    KEEP = 0


#: "leave this as it is" (for arguments where None is a value)
KEEP = Keep.KEEP


# -- pure field rules -------------------------------------------------------------------------


def check_account_no(value: str) -> str:
    value = value.strip()
    if not ACCOUNT_RE.match(value):
        raise Invalid(f"account number {value!r} must be 4-32 letters, digits or '-'", field="account_no")
    return value


def check_class(value: str) -> str:
    if value not in CUSTOMER_CLASSES:
        raise Invalid(
            f"unknown customer class {value!r}; classes are: {', '.join(CUSTOMER_CLASSES)}",
            field="customer_class",
        )
    return value


def check_voltage(value: str) -> str:
    found = _VOLTAGE_KEY.get(value.replace(" ", "").lower())
    if found is None:
        raise Invalid(f"unknown voltage {value!r}; voltages are: {', '.join(VOLTAGES)}", field="voltage")
    return found


def _choice(value: Any, choices: Sequence[str], field: str, what: str) -> str:
    v = str(value).strip()
    if v not in choices:
        raise Invalid(f"unknown {what} {v!r}; one of: {', '.join(choices)}", field=field)
    return v


def _text(value: Any, field: str, max_len: int, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Invalid(f"{field} must be text", field=field)
    v = value.strip()
    if required and not v:
        raise Invalid(f"{field} must not be empty", field=field)
    if len(v) > max_len:
        raise Invalid(f"{field} must be at most {max_len} characters", field=field)
    return v


def _bool(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    raise Invalid(f"{field} must be true or false", field=field)


def check_phones(values: Iterable[str], *, field: str = "phones") -> list[str]:
    """Normalised, duplicates dropped, order kept, at most :data:`MAX_PHONES`."""
    out: list[str] = []
    for i, raw in enumerate(values):
        if not isinstance(raw, str):
            raise Invalid(f"{field}[{i}] must be text", field=f"{field}[{i}]")
        if not raw.strip():
            continue
        p = normalize_phone(raw, field=f"{field}[{i}]" if field == "phones" else field)
        if p not in out:
            out.append(p)
    if len(out) > MAX_PHONES:
        raise Invalid(f"a customer has at most {MAX_PHONES} phone numbers", field=field)
    return out


def check_email(value: Any) -> str:
    v = _text(value, "email", 200)
    if v and not EMAIL_RE.match(v):
        raise Invalid(f"{v!r} is not an e-mail address", field="email")
    if v:
        local, _, domain = v.rpartition("@")
        v = f"{local}@{domain.lower()}"
    return v


def check_tags(value: Any) -> list[str]:
    items: list[Any] = _TAG_SPLIT.split(value) if isinstance(value, str) else list(value or [])
    out: list[str] = []
    for i, t in enumerate(items):
        if not isinstance(t, str):
            raise Invalid(f"tags[{i}] must be text", field="tags")
        t = t.strip()
        if not t:
            continue
        if len(t) > 32:
            raise Invalid(f"tag {t!r} is longer than 32 characters", field="tags")
        if t not in out:
            out.append(t)
    if len(out) > MAX_TAGS:
        raise Invalid(f"a customer has at most {MAX_TAGS} tags", field="tags")
    return out


def check_addresses(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list | tuple):
        raise Invalid("addresses must be a list", field="addresses")
    out: list[dict[str, str]] = []
    for i, a in enumerate(value):
        if isinstance(a, str):
            a = {"kind": "other", "text": a}
        if not isinstance(a, Mapping):
            raise Invalid(f"addresses[{i}] must be {{kind, text}}", field=f"addresses[{i}]")
        kind = _choice(a.get("kind", "other"), ADDRESS_KINDS, f"addresses[{i}].kind", "address kind")
        text = _text(a.get("text", ""), f"addresses[{i}].text", 500)
        if text:
            out.append({"kind": kind, "text": text})
    if len(out) > MAX_ADDRESSES:
        raise Invalid(f"a customer has at most {MAX_ADDRESSES} further addresses", field="addresses")
    return out


def _check_one(key: str, value: Any) -> Any:
    if key == "account_no":
        return check_account_no(_text(value, key, 64, required=True))
    if key == "name":
        return _text(value, key, 200, required=True)
    if key == "customer_class":
        return check_class(str(value).strip())
    if key == "voltage":
        return check_voltage(str(value))
    if key == "phone":
        v = _text(value, key, 60)
        return normalize_phone(v, field="phone") if v else ""
    if key == "phones":
        if isinstance(value, str):
            value = [p for p in re.split(r"[,，;；/、\s]+", value) if p]
        if not isinstance(value, list | tuple):
            raise Invalid("phones must be a list", field="phones")
        return check_phones(value)
    if key == "address":
        return _text(value, key, 500)
    if key == "addresses":
        return check_addresses(value)
    if key == "id_number":
        v = _text(value, key, 40)
        return protect.check_id_number(v) if v else ""
    if key in ("vip", "blacklisted"):
        return _bool(value, key)
    if key == "preferred_channel":
        return _choice(value, CHANNELS, key, "notification channel")
    if key == "email":
        return check_email(value)
    if key == "blacklist_reason":
        return _text(value, key, 500)
    if key == "tags":
        return check_tags(value)
    if key in ("feeder", "transformer_area"):
        return _text(value, key, 64)
    if key == "tariff_code":
        v = _text(value, key, 64)
        if not TARIFF_CODE_RE.match(v):
            raise Invalid(f"tariff code {v!r} may hold letters, digits, '_', '.', '-'", field=key)
        return v
    if key == "capacity_kva":
        return check_capacity(value)
    if key == "status":
        return _choice(value, STATUSES, key, "status")
    raise KeyError(key)


def check_capacity(value: Any) -> Decimal:
    """Contracted capacity in kVA: a number 0 – 10,000,000 with at most two decimals."""
    if isinstance(value, bool) or value is None:
        raise Invalid("capacity_kva: give a number of kVA", field="capacity_kva")
    text = str(value).strip() or "0"
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise Invalid(f"capacity_kva: {value!r} is not a number", field="capacity_kva") from None
    exponent = d.as_tuple().exponent
    if not d.is_finite() or (isinstance(exponent, int) and exponent < -2):
        raise Invalid(f"capacity_kva: {value!r} must have at most two decimals", field="capacity_kva")
    if not Decimal(0) <= d <= Decimal(10_000_000):
        raise Invalid(f"capacity_kva: {value!r} must be between 0 and 10,000,000 kVA", field="capacity_kva")
    return d.quantize(Decimal("0.01"))


def clean_fields(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """Check and normalise the known fields present in ``raw`` (other keys are ignored).

    Returns the clean values and every problem found as (field, reason). ``phone`` and
    ``phones`` are merged into ``phones`` (``phone`` first). Cross-field rules that need the
    stored record too (blacklist reason) are :func:`record_problems`.
    """
    out: dict[str, Any] = {}
    problems: list[Problem] = []
    for key in FIELDS:
        if key not in raw:
            continue
        try:
            out[key] = _check_one(key, raw[key])
        except Invalid as exc:
            problems.append((exc.field or key, exc.detail))
    if "phone" in out:
        primary = out.pop("phone")
        phones = out.get("phones", [])
        if primary:
            phones = [primary, *[p for p in phones if p != primary]]
        if len(phones) > MAX_PHONES:
            problems.append(("phones", f"a customer has at most {MAX_PHONES} phone numbers"))
        out["phones"] = phones[:MAX_PHONES]
    if "blacklisted" in out and not out["blacklisted"]:
        out["blacklist_reason"] = ""
    return out, problems


def record_problems(values: Mapping[str, Any]) -> list[Problem]:
    """Rules over the whole record (the stored values merged with the changes)."""
    if values.get("blacklisted") and not str(values.get("blacklist_reason", "")).strip():
        return [("blacklist_reason", "a blacklisted customer needs a reason")]
    return []


def raise_problems(problems: Sequence[Problem]) -> None:
    """:class:`Invalid` naming the first problem and listing all of them (RFC 7807 ``errors``)."""
    if not problems:
        return
    field, reason = problems[0]
    err = Invalid(reason if len(problems) == 1 else f"{reason} (and {len(problems) - 1} more)", field=field)
    err.errors = [{"field": f, "reason": r} for f, r in problems]  # type: ignore[attr-defined]
    raise err


def mask_phone(phone: str) -> str:
    """``+8613912340001`` → ``+86139****0001`` (the last 4 digits and the prefix up to 6 characters)."""
    n = len(phone)
    if n <= 4:
        return "*" * n
    head = max(0, min(n - 8, 6))
    stars = n - head - 4
    return phone[:head] + "*" * stars + phone[-4:]


# -- storing ----------------------------------------------------------------------------------

#: columns :func:`apply_values` writes (id_number and phones are handled apart)
_PLAIN = (
    "account_no",
    "name",
    "customer_class",
    "voltage",
    "address",
    "addresses",
    "vip",
    "preferred_channel",
    "email",
    "blacklisted",
    "blacklist_reason",
    "tags",
    "feeder",
    "transformer_area",
    "tariff_code",
    "capacity_kva",
    "status",
)


def _need_protector(protector: IdProtector | None) -> IdProtector:
    if protector is None:
        raise ValueError("an IdProtector is needed to store an ID number")
    return protector


async def add_customer(
    s: AsyncSession,
    tenant_id: int,
    *,
    unit: Unit,
    account_no: str,
    name: str,
    customer_class: str = "urban_resident",
    phone: str = "",
    address: str = "",
    dedicated_agent_id: int | None = None,
    protector: IdProtector | None = None,
    pin: str | None = None,
    **fields: Any,
) -> Customer:
    """Create a customer. ``fields`` are further fields of :data:`FIELDS` (``phones``, ``voltage``,
    ``id_number`` (needs ``protector``), ``vip``, ``tags`` …); ``pin`` sets the PIN."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise TypeError(f"unknown customer fields: {', '.join(sorted(unknown))}")
    raw: dict[str, Any] = {
        "account_no": account_no,
        "name": name,
        "customer_class": customer_class,
        "phone": phone,
        "address": address,
        **fields,
    }
    values, problems = clean_fields(raw)
    problems += record_problems(values)
    if pin is not None:
        try:
            protect.check_pin_format(pin)
        except Invalid as exc:
            problems.append(("pin", exc.detail))
    raise_problems(problems)
    if unit.tenant_id != tenant_id:
        raise NotFound(f"no unit {unit.id}", field="unit")
    exists = await s.scalar(
        select(Customer.id).where(
            Customer.tenant_id == tenant_id, Customer.account_no == values["account_no"]
        )
    )
    if exists is not None:
        raise Conflict(f"customer account {values['account_no']!r} already exists", field="account_no")
    c = Customer(tenant_id=tenant_id, unit_id=unit.id, dedicated_agent_id=dedicated_agent_id)
    for k in _PLAIN:
        if k in values:
            setattr(c, k, values[k])
    if values.get("id_number"):
        c.id_number_enc, c.id_number_hash, c.id_number_mask = _need_protector(protector).protect(
            values["id_number"]
        )
    if pin is not None:
        c.pin_hash = protect.hash_pin(pin)
    s.add(c)
    await s.flush()
    await set_phones(s, c, values.get("phones", []))
    return c


async def update_customer(
    s: AsyncSession,
    c: Customer,
    changes: Mapping[str, Any],
    *,
    unit: Unit | None = None,
    dedicated_agent_id: int | Keep | None = KEEP,
    protector: IdProtector | None = None,
) -> list[str]:
    """Apply ``changes`` (fields of :data:`FIELDS`) to ``c``; returns the names of the fields that
    really changed (sorted). Everything is checked before anything is written."""
    values, problems = clean_fields(changes)
    current = {k: getattr(c, k) for k in ("blacklisted", "blacklist_reason")}
    problems += record_problems({**current, **values})
    raise_problems(problems)
    if "account_no" in values and values["account_no"] != c.account_no:
        taken = await s.scalar(
            select(Customer.id).where(
                Customer.tenant_id == c.tenant_id,
                Customer.account_no == values["account_no"],
                Customer.id != c.id,
            )
        )
        if taken is not None:
            raise Conflict(f"customer account {values['account_no']!r} already exists", field="account_no")
    changed: list[str] = []
    for k in _PLAIN:
        if k in values and getattr(c, k) != values[k]:
            setattr(c, k, values[k])
            changed.append(k)
    if "id_number" in values:
        new = values["id_number"]
        if not new and c.id_number_hash:
            c.id_number_enc = c.id_number_hash = c.id_number_mask = ""
            changed.append("id_number")
        elif new:
            p = _need_protector(protector)
            if p.search_hash(new) != c.id_number_hash:
                c.id_number_enc, c.id_number_hash, c.id_number_mask = p.protect(new)
                changed.append("id_number")
    if unit is not None and unit.id != c.unit_id:
        if unit.tenant_id != c.tenant_id:
            raise NotFound(f"no unit {unit.id}", field="unit")
        c.unit_id = unit.id
        changed.append("unit")
    if not isinstance(dedicated_agent_id, Keep) and dedicated_agent_id != c.dedicated_agent_id:
        c.dedicated_agent_id = dedicated_agent_id
        changed.append("dedicated_agent_id")
    if "phones" in values and await set_phones(s, c, values["phones"]):
        changed.append("phones")
    await s.flush()
    return sorted(changed)


async def phones_of(s: AsyncSession, c: Customer) -> list[str]:
    """The customer's phones, the primary one first."""
    rows = list(
        await s.scalars(
            select(CustomerPhone.phone).where(CustomerPhone.customer_id == c.id).order_by(CustomerPhone.id)
        )
    )
    if c.phone in rows:
        rows.remove(c.phone)
        rows.insert(0, c.phone)
    return rows


async def set_phones(s: AsyncSession, c: Customer, phones: Sequence[str]) -> bool:
    """Make ``phones`` (raw or normalised; the first is the primary) the customer's phone rows;
    returns whether anything changed."""
    wanted = check_phones(phones)
    have = list(
        await s.scalars(
            select(CustomerPhone.phone).where(CustomerPhone.customer_id == c.id).order_by(CustomerPhone.id)
        )
    )
    primary = wanted[0] if wanted else ""
    changed = primary != c.phone
    gone = [p for p in have if p not in wanted]
    if gone:
        await s.execute(
            delete(CustomerPhone).where(CustomerPhone.customer_id == c.id, CustomerPhone.phone.in_(gone))
        )
        changed = True
    for p in wanted:
        if p not in have:
            s.add(CustomerPhone(tenant_id=c.tenant_id, customer_id=c.id, phone=p, kind=phone_kind(p)))
            changed = True
    c.phone = primary
    await s.flush()
    return changed


async def set_pin(s: AsyncSession, c: Customer, pin: str | None) -> None:
    """Set (4-8 digits) or, with None / "", clear the customer's authorisation PIN."""
    c.pin_hash = protect.hash_pin(pin) if pin else ""
    await s.flush()


def check_pin(c: Customer, pin: str) -> bool:
    """Whether ``pin`` is the customer's PIN (False when none is set)."""
    return protect.check_pin(c.pin_hash, pin)


def reveal_id_number(c: Customer, protector: IdProtector) -> str:
    """The full ID number (callers check ``customer.private`` / verification and audit it)."""
    if not c.id_number_enc:
        return ""
    return protector.decrypt(c.id_number_enc)


# -- finding ----------------------------------------------------------------------------------


async def get_customer(s: AsyncSession, tenant_id: int, customer_id: int) -> Customer:
    if not valid_id(customer_id):
        raise NotFound(f"no customer {customer_id}", field="customer")
    c = await s.scalar(select(Customer).where(Customer.tenant_id == tenant_id, Customer.id == customer_id))
    if c is None:
        raise NotFound(f"no customer {customer_id}", field="customer")
    return c


async def get_by_account(s: AsyncSession, tenant_id: int, account_no: str) -> Customer | None:
    """The customer with this account number in the tenant, or None."""
    return await s.scalar(
        select(Customer).where(Customer.tenant_id == tenant_id, Customer.account_no == account_no.strip())
    )


async def find_by_phone(s: AsyncSession, tenant_id: int, phone: str) -> list[Customer]:
    """Customers having this phone number (any of their phones; normalised first), by id."""
    forms = lookup_forms(phone)
    if not forms or not forms[0]:
        return []
    q = (
        select(Customer)
        .join(CustomerPhone, CustomerPhone.customer_id == Customer.id)
        .where(CustomerPhone.tenant_id == tenant_id, CustomerPhone.phone.in_(forms))
        .distinct()
        .order_by(Customer.id)
    )
    return list(await s.scalars(q))


def search_query(
    tenant_id: int,
    *,
    phone: str | None = None,
    account_no: str | None = None,
    name: str | None = None,
    id_hash: str | None = None,
) -> Select[Customer]:
    """Customers of the tenant matching every criterion given (joined with their unit, so a
    data scope filter on ``Unit.path`` can be added): phone (normalised, any of the customer's
    phones), exact account number, name prefix, ID number (its search hash)."""
    q = select(Customer).join(Unit, Unit.id == Customer.unit_id).where(Customer.tenant_id == tenant_id)
    if phone:
        forms = lookup_forms(phone)
        q = q.where(
            Customer.id.in_(
                select(CustomerPhone.customer_id).where(
                    CustomerPhone.tenant_id == tenant_id, CustomerPhone.phone.in_(forms)
                )
            )
        )
    if account_no:
        q = q.where(Customer.account_no == account_no.strip())
    if name:
        q = q.where(Customer.name.startswith(name.strip(), autoescape=True))
    if id_hash:
        q = q.where(Customer.id_number_hash == id_hash)
    return q


async def search(
    s: AsyncSession,
    tenant_id: int,
    *,
    phone: str | None = None,
    account_no: str | None = None,
    name: str | None = None,
    id_number: str | None = None,
    protector: IdProtector | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Customer]:
    """Unscoped search (services, CLI); the API adds the caller's data scope to :func:`search_query`."""
    id_hash = _need_protector(protector).search_hash(id_number) if id_number else None
    q = search_query(tenant_id, phone=phone, account_no=account_no, name=name, id_hash=id_hash)
    return list(await s.scalars(q.order_by(Customer.id).limit(limit).offset(offset)))


async def verified_on_call(s: AsyncSession, c: Customer, call_id: str) -> bool:
    """Whether the caller of ``call_id`` was verified as this customer: the call's data has
    ``verified_account`` == the account number (IVR PIN), or an agent recorded a verification
    (``contact_history`` kind ``verification``, ref = the call id)."""
    if not call_id:
        return False
    data = await s.scalar(select(Call.data).where(Call.tenant_id == c.tenant_id, Call.id == call_id))
    if isinstance(data, dict) and data.get("verified_account") == c.account_no:
        return True
    found = await s.scalar(
        select(ContactEntry.id)
        .where(
            ContactEntry.tenant_id == c.tenant_id,
            ContactEntry.customer_id == c.id,
            ContactEntry.kind == "verification",
            ContactEntry.ref == call_id,
        )
        .limit(1)
    )
    return found is not None
