"""Relational model of the foundation: tenants, units, calendars, users, grants, sessions, audit.

Every tenant-owned row carries ``tenant_id``; repositories always filter on it (tenant isolation).
Schema changes go through Alembic migrations in ``hotline/store/migrations``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from hotline.store.types import BigIntPK, Fixed2, JsonDoc, UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Calendar(Base):
    """A business calendar: weekly working hours, holidays and make-up workdays, in a time zone."""

    __tablename__ = "calendars"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_calendars_tenant_name"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    #: {"mon": [["08:30", "12:00"], ["13:30", "17:30"]], ...}
    week: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    #: [{"date": "2026-10-01", "name": "National Day"}, ...]
    holidays: Mapped[list[Any]] = mapped_column(JsonDoc, default=list)
    #: Make-up workdays (调休上班): [{"date": "2026-10-10", "as": "fri"}, ...]
    workdays: Mapped[list[Any]] = mapped_column(JsonDoc, default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy reads it


class Unit(Base):
    """An organisation unit: national center, province, city, county, station, branch, department.

    ``path`` is the materialised path of ids (``/1/4/9/``) so a subtree is one indexed prefix query.
    """

    __tablename__ = "units"
    __table_args__ = (UniqueConstraint("tenant_id", "code", name="uq_units_tenant_code"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32), default="unit")
    calendar_id: Mapped[int | None] = mapped_column(ForeignKey("calendars.id"))
    path: Mapped[str] = mapped_column(String(1000), index=True, default="")
    depth: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    calendar: Mapped[Calendar | None] = relationship(lazy="raise")


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "username", name="uq_users_tenant_username"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    username: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    grants: Mapped[list[RoleGrant]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )


class RoleGrant(Base):
    """A role held by a user, with the data scope it applies to, anchored at a unit."""

    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("user_id", "role", name="uq_role_grants_user_role"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(16))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))

    user: Mapped[User] = relationship(back_populates="grants")


class AuthSession(Base):
    """A browser session or an API bearer token. Only the SHA-256 of the secret is stored."""

    __tablename__ = "auth_sessions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # "browser" | "api"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    csrf_token: Mapped[str] = mapped_column(String(64), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """Append-only audit log (database triggers refuse UPDATE and DELETE)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_tenant_at", "tenant_id", "at"),
        Index("ix_audit_log_resource", "resource_type", "resource_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(100), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str] = mapped_column(String(64), default="")
    resource_id: Mapped[str] = mapped_column(String(64), default="")
    outcome: Mapped[str] = mapped_column(String(16), default="ok")
    detail: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)


class Customer(Base):
    """Customer archive (户): one row per account number.

    ``phone`` is the primary phone (normalised, see :mod:`hotline.crm.phones`); every phone of the
    customer, the primary one included, is also a row of :class:`CustomerPhone` (screen pop looks
    them up there). The ID number is stored protected: encrypted (``id_number_enc``), a keyed
    hash for exact search (``id_number_hash``) and a masked form for display (``id_number_mask``).
    ``feeder`` and ``transformer_area`` (台区) place the customer in the grid for outages.
    """

    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("tenant_id", "account_no", name="uq_customers_tenant_account"),
        Index("ix_customers_grid", "tenant_id", "feeder", "transformer_area"),
        Index("ix_customers_id_hash", "tenant_id", "id_number_hash"),
        Index("ix_customers_name", "tenant_id", "name"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    account_no: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    #: urban_resident | rural_resident | commercial | large_industry | agriculture
    customer_class: Mapped[str] = mapped_column(String(32), default="urban_resident")
    #: supply voltage: 220V | 380V | 10kV | 35kV | 110kV | 220kV
    voltage: Mapped[str] = mapped_column(String(16), default="220V")
    phone: Mapped[str] = mapped_column(String(40), default="", index=True)
    address: Mapped[str] = mapped_column(Text, default="")
    #: further addresses: [{"kind": "mailing", "text": "…"}]
    addresses: Mapped[list[Any]] = mapped_column(JsonDoc, default=list)
    id_number_enc: Mapped[str] = mapped_column(Text, default="")
    id_number_hash: Mapped[str] = mapped_column(String(64), default="")
    id_number_mask: Mapped[str] = mapped_column(String(32), default="")
    vip: Mapped[bool] = mapped_column(Boolean, default=False)
    dedicated_agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: sms | voice | email | wechat | none
    preferred_channel: Mapped[str] = mapped_column(String(16), default="sms")
    email: Mapped[str] = mapped_column(String(200), default="")
    blacklisted: Mapped[bool] = mapped_column(Boolean, default=False)
    blacklist_reason: Mapped[str] = mapped_column(Text, default="")
    #: argon2 hash of the authorisation PIN ("" = none set)
    pin_hash: Mapped[str] = mapped_column(String(200), default="")
    tags: Mapped[list[Any]] = mapped_column(JsonDoc, default=list)
    feeder: Mapped[str] = mapped_column(String(64), default="")
    transformer_area: Mapped[str] = mapped_column(String(64), default="")
    #: tariff code; "" = the tariff in force for the class and voltage
    tariff_code: Mapped[str] = mapped_column(String(64), default="")
    #: contracted capacity (合同容量) in kVA: the base of capacity-based two-part tariffs
    capacity_kva: Mapped[Decimal] = mapped_column(Fixed2, default=Decimal(0))
    #: active | suspended | closed
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CustomerPhone(Base):
    """A phone number of a customer, normalised; several customers may share one (family, landlord)."""

    __tablename__ = "customer_phones"
    __table_args__ = (
        UniqueConstraint("customer_id", "phone", name="uq_customer_phones_customer_phone"),
        Index("ix_customer_phones_lookup", "tenant_id", "phone"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    phone: Mapped[str] = mapped_column(String(40))
    #: mobile | landline | other
    kind: Mapped[str] = mapped_column(String(16), default="mobile")


class ContactEntry(Base):
    """One entry of a customer's contact history (timeline): a call, chat, e-mail, SMS, work order,
    note or verification. ``ref`` points at the source record (call id, order id)."""

    __tablename__ = "contact_history"
    __table_args__ = (Index("ix_contact_history_customer_at", "tenant_id", "customer_id", "at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: voice | chat | email | sms | web | counter | system
    channel: Mapped[str] = mapped_column(String(16), default="voice")
    #: call | note | ticket | verification | payment | notification
    kind: Mapped[str] = mapped_column(String(16))
    ref: Mapped[str] = mapped_column(String(64), default="", index=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    detail: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)


class Extension(Base):
    """A phone extension (SIP account). Only digest HA1 values are stored, never the password.

    The digest realm is the tenant's slug, so HA1 = H(number:slug:password).
    """

    __tablename__ = "extensions"
    __table_args__ = (UniqueConstraint("tenant_id", "number", name="uq_extensions_tenant_number"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    number: Mapped[str] = mapped_column(String(32))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    ha1_md5: Mapped[str] = mapped_column(String(64))
    ha1_sha256: Mapped[str] = mapped_column(String(64))
    #: The user who normally sits at this phone (owner, for data scope); agents may log in elsewhere.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Call(Base):
    """Call detail record: one row per call, written when it starts and updated as it progresses.

    ``id`` is Hotline's call id (also sent to agents' phones as ``X-Hotline-Call-Id``).
    Numbers are normalised (E.164-like); the raw values are kept beside them.
    """

    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_tenant_started", "tenant_id", "started_at"),
        Index("ix_calls_caller", "tenant_id", "caller"),
        Index("ix_calls_dialed", "tenant_id", "dialed"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    direction: Mapped[str] = mapped_column(String(16))  # inbound | internal | outbound | diagnostic
    caller: Mapped[str] = mapped_column(String(64), default="")
    caller_raw: Mapped[str] = mapped_column(String(200), default="")
    caller_name: Mapped[str] = mapped_column(String(200), default="")
    dialed: Mapped[str] = mapped_column(String(64), default="")
    dialed_raw: Mapped[str] = mapped_column(String(200), default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: normal | busy | no_answer | cancelled | rejected | failed | unreachable | timeout
    end_cause: Mapped[str] = mapped_column(String(32), default="")
    ended_by: Mapped[str] = mapped_column(String(16), default="")  # caller | callee | system
    sip_code: Mapped[int | None] = mapped_column(Integer)
    #: the user who answered (owner for data scope)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recording_path: Mapped[str] = mapped_column(String(500), default="")
    #: call-associated data (随路数据): IVR inputs, verification result, queue, …
    data: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    #: the IVR flow and version the call ran, and its path: [{"node", "flow", "at", "digits", "result"}]
    flow: Mapped[str] = mapped_column(String(64), default="")
    flow_version: Mapped[int | None] = mapped_column(Integer)
    ivr_path: Mapped[list[Any]] = mapped_column(JsonDoc, default=list)
    #: the last queue the call waited in; times it entered (first queue) and left the ACD
    queue: Mapped[str] = mapped_column(String(64), default="")
    queue_entered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    queue_left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    queue_position: Mapped[int | None] = mapped_column(Integer)  # 1 = first in line on entry
    #: agents offered the call, in order: [{"agent", "at", "outcome"}] (answered, rona, busy, …)
    offers: Mapped[list[Any]] = mapped_column(JsonDoc, default=list)
    wait_seconds: Mapped[float | None] = mapped_column(Float)
    talk_seconds: Mapped[float | None] = mapped_column(Float)
    hold_seconds: Mapped[float | None] = mapped_column(Float)
    wrap_up_seconds: Mapped[float | None] = mapped_column(Float)
    disposition: Mapped[str] = mapped_column(String(64), default="")
    disposition_notes: Mapped[str] = mapped_column(Text, default="")
    #: where an unanswered caller gave up: ivr | queue | ringing ("" when answered or not abandoned)
    abandon_point: Mapped[str] = mapped_column(String(16), default="")

    legs: Mapped[list[CallLeg]] = relationship(
        back_populates="call", cascade="all, delete-orphan", lazy="selectin", order_by="CallLeg.id"
    )


class CallLeg(Base):
    """One SIP dialog of a call (the B2BUA owns two or more per call), with its media statistics."""

    __tablename__ = "call_legs"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # caller | callee | agent | supervisor
    sip_call_id: Mapped[str] = mapped_column(String(200), default="")
    remote_uri: Mapped[str] = mapped_column(String(300), default="")
    remote_addr: Mapped[str] = mapped_column(String(80), default="")
    extension_id: Mapped[int | None] = mapped_column(ForeignKey("extensions.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str] = mapped_column(String(64), default="")
    sip_code: Mapped[int | None] = mapped_column(Integer)
    codec: Mapped[str] = mapped_column(String(16), default="")
    packets_sent: Mapped[int] = mapped_column(Integer, default=0)
    packets_received: Mapped[int] = mapped_column(Integer, default=0)
    packets_lost: Mapped[int] = mapped_column(Integer, default=0)
    jitter_ms: Mapped[float] = mapped_column(Float, default=0.0)

    call: Mapped[Call] = relationship(back_populates="legs")


class IvrFlow(Base):
    """One version of an IVR flow (YAML source). At most one version of a name is active."""

    __tablename__ = "ivr_flows"
    __table_args__ = (UniqueConstraint("tenant_id", "name", "version", name="uq_ivr_flows_version"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NumberRoute(Base):
    """Number plan: a dialed service number (DNIS) → IVR flow, with calendar variants."""

    __tablename__ = "number_routes"
    __table_args__ = (UniqueConstraint("tenant_id", "number", name="uq_number_routes_number"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    number: Mapped[str] = mapped_column(String(64))
    flow: Mapped[str] = mapped_column(String(64))
    calendar_id: Mapped[int | None] = mapped_column(ForeignKey("calendars.id"))
    after_hours_flow: Mapped[str] = mapped_column(String(64), default="")
    holiday_flow: Mapped[str] = mapped_column(String(64), default="")
    description: Mapped[str] = mapped_column(String(200), default="")


class QueueDef(Base):
    """A call queue: ACD policy and caller experience (see :class:`hotline.cti.queues.QueueSettings`)."""

    __tablename__ = "queues"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_queues_name"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    settings: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AgentProfile(Base):
    """A user who takes calls: résumé (skill → level) and the queues served."""

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    agent_no: Mapped[str] = mapped_column(String(32), default="")
    skills: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    queues: Mapped[list[Any]] = mapped_column(JsonDoc, default=list)
    #: back to available after wrap-up by itself (True) or only when the agent says so
    auto_ready: Mapped[bool] = mapped_column(Boolean, default=True)


class ServiceCode(Base):
    """Disposition codes (wrap-up) and not-ready reasons, per tenant."""

    __tablename__ = "service_codes"
    __table_args__ = (UniqueConstraint("tenant_id", "kind", "code", name="uq_service_codes_code"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # disposition | not_ready
    code: Mapped[str] = mapped_column(String(64))
    label_zh: Mapped[str] = mapped_column(String(200), default="")
    label_en: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class QueueEvent(Base):
    """Append-only queue and agent event log (like Asterisk's queue_log); reports recompute from it."""

    __tablename__ = "queue_events"
    __table_args__ = (
        Index("ix_queue_events_tenant_at", "tenant_id", "at"),
        Index("ix_queue_events_call", "call_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    call_id: Mapped[str] = mapped_column(String(40), default="")
    queue: Mapped[str] = mapped_column(String(64), default="")
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    event: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)


class Voicemail(Base):
    """A message left by a caller (a task for the back office: new → done)."""

    __tablename__ = "voicemails"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    call_id: Mapped[str] = mapped_column(String(40), index=True)
    box: Mapped[str] = mapped_column(String(64), default="general")
    caller: Mapped[str] = mapped_column(String(64), default="")
    path: Mapped[str] = mapped_column(String(500))
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(16), default="new")  # new | done
    handled_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CallbackRequest(Base):
    """A caller asked to be called back; it keeps the caller's place in line (``queued_since``)."""

    __tablename__ = "callbacks"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    call_id: Mapped[str] = mapped_column(String(40), index=True)
    number: Mapped[str] = mapped_column(String(64))
    queue: Mapped[str] = mapped_column(String(64))
    queued_since: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | offered | done | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Webhook(Base):
    """An integration's subscription: matching events are POSTed to ``url``, signed with HMAC."""

    __tablename__ = "webhooks"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_webhooks_name"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(1000))
    secret: Mapped[str] = mapped_column(String(200))
    #: event types to send (fnmatch patterns such as ``call.*``); empty: every event
    events: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """The outbox: one event for one webhook, kept until delivered or given up (survives restarts)."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id"), index=True)
    event: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # pending | done | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AgentMessage(Base):
    """A message from a supervisor or agent to agents (normal, urgent, emergency)."""

    __tablename__ = "agent_messages"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    sender_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    priority: Mapped[str] = mapped_column(String(16), default="normal")  # normal | urgent | emergency
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AgentMessageRecipient(Base):
    """Who a message went to, and when they read it."""

    __tablename__ = "agent_message_recipients"
    __table_args__ = (UniqueConstraint("message_id", "user_id", name="uq_agent_message_recipients"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("agent_messages.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TenantSetting(Base):
    """Per-tenant settings documents by key (e.g. ``wallboard`` thresholds)."""

    __tablename__ = "tenant_settings"
    __table_args__ = (UniqueConstraint("tenant_id", "key", name="uq_tenant_settings_key"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    value: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# -- utility back-end (built-in CIS: tariffs, readings, bills, payments, outages) -------------------


class Tariff(Base):
    """A tariff version: ``spec`` is the validated document of :mod:`hotline.utility.tariffs`.

    The version in force on a day is the one with the latest ``effective_from`` not after it.
    """

    __tablename__ = "tariffs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code", "effective_from", name="uq_tariffs_code_from"),
        Index("ix_tariffs_class", "tenant_id", "customer_class", "voltage"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    #: tiered | tou | flat | two_part
    kind: Mapped[str] = mapped_column(String(16))
    customer_class: Mapped[str] = mapped_column(String(32))
    #: voltage it applies to, "*" = any
    voltage: Mapped[str] = mapped_column(String(16), default="*")
    effective_from: Mapped[date] = mapped_column(Date)
    spec: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Meter(Base):
    """An electricity meter of a customer."""

    __tablename__ = "meters"
    __table_args__ = (UniqueConstraint("tenant_id", "meter_no", name="uq_meters_tenant_meter"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    meter_no: Mapped[str] = mapped_column(String(32))
    #: single | tou | demand (TOU registers and a maximum-demand register)
    kind: Mapped[str] = mapped_column(String(16), default="single")
    #: CT/PT multiplier (倍率): consumption = register difference × multiplier
    multiplier: Mapped[int] = mapped_column(Integer, default=1)
    installed_on: Mapped[date | None] = mapped_column(Date)


class MeterReading(Base):
    """A monthly meter reading (抄表): the register value shown on the meter and the consumption of
    the period already derived from it (difference × multiplier), per TOU register where the meter
    has them (``kwh_total`` = their sum), and the maximum demand for two-part tariffs."""

    __tablename__ = "meter_readings"
    __table_args__ = (
        UniqueConstraint("tenant_id", "customer_id", "period", name="uq_meter_readings_period"),
        Index("ix_meter_readings_period", "tenant_id", "period"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    meter_no: Mapped[str] = mapped_column(String(32), default="")
    #: billing month, "YYYY-MM"
    period: Mapped[str] = mapped_column(String(7))
    read_on: Mapped[date] = mapped_column(Date)
    register_value: Mapped[Decimal] = mapped_column(Fixed2, default=Decimal(0))
    kwh_total: Mapped[Decimal] = mapped_column(Fixed2, default=Decimal(0))
    kwh_sharp: Mapped[Decimal] = mapped_column(Fixed2, default=Decimal(0))
    kwh_peak: Mapped[Decimal] = mapped_column(Fixed2, default=Decimal(0))
    kwh_flat: Mapped[Decimal] = mapped_column(Fixed2, default=Decimal(0))
    kwh_valley: Mapped[Decimal] = mapped_column(Fixed2, default=Decimal(0))
    demand_kw: Mapped[Decimal] = mapped_column(Fixed2, default=Decimal(0))
    #: manual | remote (AMI) | estimated | import
    source: Mapped[str] = mapped_column(String(16), default="remote")


class Bill(Base):
    """A monthly bill (电费账单) with its line items; ``paid`` grows with payments."""

    __tablename__ = "bills"
    __table_args__ = (
        UniqueConstraint("tenant_id", "customer_id", "period", name="uq_bills_customer_period"),
        Index("ix_bills_open", "tenant_id", "status", "due_on"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(7))
    tariff_id: Mapped[int | None] = mapped_column(ForeignKey("tariffs.id"))
    kwh: Mapped[Decimal] = mapped_column(Fixed2, default=Decimal(0))
    amount: Mapped[Decimal] = mapped_column(Fixed2, default=Decimal(0))
    paid: Mapped[Decimal] = mapped_column(Fixed2, default=Decimal(0))
    #: late fees settled on this bill so far
    late_fee_paid: Mapped[Decimal] = mapped_column(Fixed2, default=Decimal(0))
    #: open | partial | paid | cancelled
    status: Mapped[str] = mapped_column(String(16), default="open")
    issued_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    settled_on: Mapped[date | None] = mapped_column(Date)
    #: [{"code", "label", "kwh", "price", "amount"}] (strings: exact decimals)
    lines: Mapped[list[Any]] = mapped_column(JsonDoc, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Payment(Base):
    """A payment (缴费) and how it was applied: ``allocations`` = [{"bill_id", "period", "principal",
    "late_fee"}]; whatever is left over is credit (预存) on the account."""

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("tenant_id", "channel", "reference", name="uq_payments_reference"),
        Index("ix_payments_customer", "tenant_id", "customer_id", "paid_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    amount: Mapped[Decimal] = mapped_column(Fixed2)
    #: counter | bank | online | agent
    channel: Mapped[str] = mapped_column(String(16))
    #: the payer's or bank's reference: (channel, reference) is unique, so a retry is not paid twice
    reference: Mapped[str] = mapped_column(String(64))
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    late_fee: Mapped[Decimal] = mapped_column(Fixed2, default=Decimal(0))
    credit: Mapped[Decimal] = mapped_column(Fixed2, default=Decimal(0))
    allocations: Mapped[list[Any]] = mapped_column(JsonDoc, default=list)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    call_id: Mapped[str] = mapped_column(String(40), default="")


class Outage(Base):
    """A planned or unplanned outage (停电) over grid areas (:class:`OutageArea`)."""

    __tablename__ = "outages"
    __table_args__ = (Index("ix_outages_window", "tenant_id", "status", "start_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    #: planned | unplanned
    kind: Mapped[str] = mapped_column(String(16))
    #: scheduled | active | restored | cancelled
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    cause: Mapped[str] = mapped_column(Text, default="")
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expected_end_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    actual_end_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: optional text announced instead of the generated one: {"zh": "…", "en": "…"}
    notice: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class OutageArea(Base):
    """One affected area: a whole feeder (``transformer_area`` = "") or one transformer area."""

    __tablename__ = "outage_areas"
    __table_args__ = (Index("ix_outage_areas_lookup", "tenant_id", "feeder", "transformer_area"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    outage_id: Mapped[int] = mapped_column(ForeignKey("outages.id", ondelete="CASCADE"), index=True)
    feeder: Mapped[str] = mapped_column(String(64))
    transformer_area: Mapped[str] = mapped_column(String(64), default="")


class ServiceApplication(Base):
    """A service application (业扩报装: new connection, capacity increase, …) and its progress."""

    __tablename__ = "service_applications"
    __table_args__ = (Index("ix_service_applications_customer", "tenant_id", "customer_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    #: new_connection | capacity_increase | change_of_use | transfer_of_name | suspension
    kind: Mapped[str] = mapped_column(String(32))
    #: accepted | survey | design | construction | connected | completed | rejected
    status: Mapped[str] = mapped_column(String(32), default="accepted")
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: [{"step", "at", "note"}]
    steps: Mapped[list[Any]] = mapped_column(JsonDoc, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


# -- work orders (工单): tickets, history, attachments, deadlines, dispatch rules --------------------


class TicketTypeDef(Base):
    """A tenant's ticket type replacing (or adding to) the defaults of
    :data:`hotline.tickets.workflow.DEFAULT_TYPES`: ``doc`` is the validated type document."""

    __tablename__ = "ticket_types"
    __table_args__ = (UniqueConstraint("tenant_id", "code", name="uq_ticket_types_tenant_code"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    code: Mapped[str] = mapped_column(String(64))
    doc: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Ticket(Base):
    """A work order (工单). The workflow columns mirror :class:`hotline.tickets.workflow.TicketState`;
    ``version`` is the optimistic lock (compared on every change, the loser gets 409).

    ``unit_id`` is the responsible unit (the intake unit until dispatched), ``handler_id`` the
    handler in it. ``search`` holds the tokens of subject and description for full-text search
    (see :mod:`hotline.tickets.search`). Deadline columns summarise the running steps:
    ``due_at`` is the earliest due time of a running step, ``overdue`` is set when any step ran
    past its due time (kept after the step is done: the order was overdue), ``overdue_seconds`` the
    summed overdue time of finished steps.
    """

    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number", name="uq_tickets_tenant_number"),
        Index("ix_tickets_list", "tenant_id", "created_at", "id"),
        Index("ix_tickets_state", "tenant_id", "state", "created_at"),
        Index("ix_tickets_unit", "tenant_id", "unit_id", "state", "created_at"),
        Index("ix_tickets_type", "tenant_id", "type_code", "created_at"),
        Index("ix_tickets_customer", "tenant_id", "customer_id", "created_at"),
        # open orders by deadline (the overdue board's "due soon"); nothing indexes ``overdue``, so
        # the deadline scheduler's updates stay on the row's page (HOT, migration 0011)
        Index(
            "ix_tickets_open_due",
            "tenant_id",
            "due_at",
            postgresql_where=text("closed_at IS NULL"),
            sqlite_where=text("closed_at IS NULL"),
        ),
        Index("ix_tickets_outage", "tenant_id", "outage_id"),
        Index("ix_tickets_call", "tenant_id", "call_id"),
        Index("ix_tickets_handler", "tenant_id", "handler_id", "created_at"),
        # PostgreSQL only (migration 0009): trigram GIN over the full-text tokens
        Index(
            "ix_tickets_search_trgm",
            "search",
            postgresql_using="gin",
            postgresql_ops={"search": "gin_trgm_ops"},
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    #: the order number people quote (GD + local date + sequence), unique per tenant
    number: Mapped[str] = mapped_column(String(32))
    type_code: Mapped[str] = mapped_column(String(64))
    subtype: Mapped[str] = mapped_column(String(64), default="")
    urgency: Mapped[str] = mapped_column(String(32), default="normal")
    state: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer, default=1)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: phone | web | app | wechat | sms | email | letter | visit
    channel: Mapped[str] = mapped_column(String(16), default="phone")
    #: responsible unit (intake unit until dispatched) and handler
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    handler_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    intake_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    account_no: Mapped[str] = mapped_column(String(32), default="")
    call_id: Mapped[str] = mapped_column(String(40), default="")
    caller_number: Mapped[str] = mapped_column(String(40), default="")
    contact_name: Mapped[str] = mapped_column(String(200), default="")
    contact_phone: Mapped[str] = mapped_column(String(40), default="")
    address: Mapped[str] = mapped_column(Text, default="")
    #: urban | rural | remote (repair arrival deadlines by area)
    area_class: Mapped[str] = mapped_column(String(16), default="urban")
    #: business category (业务类别) used by dispatch rules and statistics
    category: Mapped[str] = mapped_column(String(64), default="")
    subject: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    #: the type's form fields, validated (hotline.tickets.workflow.check_form)
    form: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    search: Mapped[str] = mapped_column(Text, default="")
    #: workflow bookkeeping (TicketState)
    held_from: Mapped[str | None] = mapped_column(String(32))
    held_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    held_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    substantiated: Mapped[bool | None] = mapped_column(Boolean)
    returns: Mapped[int] = mapped_column(Integer, default=0)
    reopens: Mapped[int] = mapped_column(Integer, default=0)
    #: satisfied | basically_satisfied | dissatisfied
    satisfaction: Mapped[str | None] = mapped_column(String(32))
    urges: Mapped[int] = mapped_column(Integer, default=0)
    merged_into: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: deadline summary (see the class docstring)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    overdue_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    escalations: Mapped[int] = mapped_column(Integer, default=0)
    #: repeat complaints: the earlier open/recent order of the same customer and type
    repeat_of: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    repeat_count: Mapped[int] = mapped_column(Integer, default=0)
    #: mass event (incident): the outage this fault order is linked to
    outage_id: Mapped[int | None] = mapped_column(ForeignKey("outages.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TicketHistory(Base):
    """One transition of a ticket: who, when, what, note, attachments (append-only)."""

    __tablename__ = "ticket_history"
    __table_args__ = (Index("ix_ticket_history_ticket", "ticket_id", "version"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: the user (None for the system: scheduler, incident restoration, IVR survey)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(200))
    #: accept | a workflow action | warned | overdue | escalated | linked | …
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    attachments: Mapped[list[Any]] = mapped_column(JsonDoc, default=list)
    data: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)


class TicketAttachment(Base):
    """A file attached to a ticket (photo, scan, recording extract); the bytes are under
    ``<data_dir>/attachments/`` by ``sha256``. Uploaded first (``ticket_id`` None), then named
    by id in a create or transition, which binds it to the ticket."""

    __tablename__ = "ticket_attachments"
    __table_args__ = (
        Index("ix_ticket_attachments_ticket", "tenant_id", "ticket_id"),
        # the files: is a digest still named (hotline.tickets.sweeper)
        Index("ix_ticket_attachments_sha256", "sha256"),
        # uploads never attached, oldest first (the sweeper)
        Index(
            "ix_ticket_attachments_unbound",
            "created_at",
            postgresql_where=text("ticket_id IS NULL"),
            sqlite_where=text("ticket_id IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TicketStep(Base):
    """One deadline step of a ticket (dispatch, acknowledge, arrive, reply, …): the inputs the
    :class:`hotline.tickets.deadlines.TicketClock` is rebuilt from, and what it decided."""

    __tablename__ = "ticket_steps"
    __table_args__ = (UniqueConstraint("ticket_id", "step", name="uq_ticket_steps_ticket_step"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    on_time: Mapped[bool | None] = mapped_column(Boolean)
    overdue_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    #: stages already fired (warn / due / escalations) and escalations sent
    fired: Mapped[int] = mapped_column(Integer, default=0)
    escalations: Mapped[int] = mapped_column(Integer, default=0)


class TicketTimer(Base):
    """The one pending deadline timer of a (ticket, step): the scheduler's durable queue."""

    __tablename__ = "ticket_timers"
    __table_args__ = (
        UniqueConstraint("ticket_id", "step", name="uq_ticket_timers_ticket_step"),
        Index("ix_ticket_timers_due", "fire_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(32))
    #: warn | due | escalate
    kind: Mapped[str] = mapped_column(String(16))
    fire_at: Mapped[datetime] = mapped_column(UTCDateTime)
    generation: Mapped[int] = mapped_column(Integer, default=1)
    level: Mapped[int] = mapped_column(Integer, default=0)


class DispatchRule(Base):
    """Automatic dispatch: the first active rule (lowest ``priority``) whose conditions all match
    (empty = any) names the responsible unit. Without a match the customer's supply unit is used."""

    __tablename__ = "ticket_dispatch_rules"
    __table_args__ = (Index("ix_ticket_dispatch_rules_tenant", "tenant_id", "priority"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    priority: Mapped[int] = mapped_column(Integer, default=100)
    name: Mapped[str] = mapped_column(String(200), default="")
    type_code: Mapped[str] = mapped_column(String(64), default="")
    category: Mapped[str] = mapped_column(String(64), default="")
    #: the customer's supply unit (its subtree matches)
    supply_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    #: substring of the address (e.g. a district or street name)
    address_contains: Mapped[str] = mapped_column(String(200), default="")
    target_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
