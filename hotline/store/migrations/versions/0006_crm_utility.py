"""Customers (CRM) and the built-in utility back-end: phones, contact history, tariffs, meters,
readings, bills, payments, outages, service applications.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)
FIX2 = sa.BigInteger()  # hotline.store.types.Fixed2: hundredths


def _fk(table: str, column: str, target: str, ondelete: str | None = None) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}", ondelete=ondelete
    )


def _id(table: str) -> list[Any]:
    return [
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", PK, nullable=False),
        _fk(table, "tenant_id", "tenants"),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
    ]


CUSTOMER_COLUMNS: list[tuple[str, Any, str]] = [
    ("voltage", sa.String(16), "220V"),
    ("addresses", JSON, "[]"),
    ("id_number_enc", sa.Text(), ""),
    ("id_number_hash", sa.String(64), ""),
    ("id_number_mask", sa.String(32), ""),
    ("vip", sa.Boolean(), "0"),
    ("preferred_channel", sa.String(16), "sms"),
    ("email", sa.String(200), ""),
    ("blacklisted", sa.Boolean(), "0"),
    ("blacklist_reason", sa.Text(), ""),
    ("pin_hash", sa.String(200), ""),
    ("tags", JSON, "[]"),
    ("feeder", sa.String(64), ""),
    ("transformer_area", sa.String(64), ""),
    ("tariff_code", sa.String(64), ""),
    ("status", sa.String(16), "active"),
]


def upgrade() -> None:
    bind = op.get_bind()
    false = "false" if bind.dialect.name == "postgresql" else "0"
    for name, type_, default in CUSTOMER_COLUMNS:
        server_default: sa.TextClause | str = default
        if isinstance(type_, sa.Boolean):
            server_default = sa.text(false)
        op.add_column("customers", sa.Column(name, type_, nullable=False, server_default=server_default))
    op.add_column(
        "customers",
        sa.Column("updated_at", TS, nullable=False, server_default=sa.text("CURRENT_TIMESTAMP")),
    )
    op.create_index("ix_customers_grid", "customers", ["tenant_id", "feeder", "transformer_area"])
    op.create_index("ix_customers_id_hash", "customers", ["tenant_id", "id_number_hash"])
    op.create_index("ix_customers_name", "customers", ["tenant_id", "name"])

    op.create_table(
        "customer_phones",
        *_id("customer_phones"),
        sa.Column("customer_id", PK, nullable=False),
        sa.Column("phone", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        _fk("customer_phones", "customer_id", "customers", "CASCADE"),
        sa.UniqueConstraint("customer_id", "phone", name="uq_customer_phones_customer_phone"),
    )
    op.create_index("ix_customer_phones_lookup", "customer_phones", ["tenant_id", "phone"])
    op.create_index("ix_customer_phones_customer_id", "customer_phones", ["customer_id"])

    op.create_table(
        "contact_history",
        *_id("contact_history"),
        sa.Column("customer_id", PK, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(64), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("agent_id", PK, nullable=True),
        sa.Column("detail", JSON, nullable=False),
        _fk("contact_history", "customer_id", "customers", "CASCADE"),
        _fk("contact_history", "agent_id", "users"),
    )
    op.create_index("ix_contact_history_customer_at", "contact_history", ["tenant_id", "customer_id", "at"])
    op.create_index("ix_contact_history_ref", "contact_history", ["ref"])

    op.create_table(
        "tariffs",
        *_id("tariffs"),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("customer_class", sa.String(32), nullable=False),
        sa.Column("voltage", sa.String(16), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("spec", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", PK, nullable=True),
        _fk("tariffs", "created_by", "users"),
        sa.UniqueConstraint("tenant_id", "code", "effective_from", name="uq_tariffs_code_from"),
    )
    op.create_index("ix_tariffs_class", "tariffs", ["tenant_id", "customer_class", "voltage"])

    op.create_table(
        "meters",
        *_id("meters"),
        sa.Column("customer_id", PK, nullable=False),
        sa.Column("meter_no", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("multiplier", sa.Integer(), nullable=False),
        sa.Column("installed_on", sa.Date(), nullable=True),
        _fk("meters", "customer_id", "customers", "CASCADE"),
        sa.UniqueConstraint("tenant_id", "meter_no", name="uq_meters_tenant_meter"),
    )
    op.create_index("ix_meters_customer_id", "meters", ["customer_id"])

    op.create_table(
        "meter_readings",
        *_id("meter_readings"),
        sa.Column("customer_id", PK, nullable=False),
        sa.Column("meter_no", sa.String(32), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("read_on", sa.Date(), nullable=False),
        *[
            sa.Column(c, FIX2, nullable=False)
            for c in (
                "register_value",
                "kwh_total",
                "kwh_sharp",
                "kwh_peak",
                "kwh_flat",
                "kwh_valley",
                "demand_kw",
            )
        ],
        sa.Column("source", sa.String(16), nullable=False),
        _fk("meter_readings", "customer_id", "customers", "CASCADE"),
        sa.UniqueConstraint("tenant_id", "customer_id", "period", name="uq_meter_readings_period"),
    )
    op.create_index("ix_meter_readings_period", "meter_readings", ["tenant_id", "period"])

    op.create_table(
        "bills",
        *_id("bills"),
        sa.Column("customer_id", PK, nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("tariff_id", PK, nullable=True),
        sa.Column("kwh", FIX2, nullable=False),
        sa.Column("amount", FIX2, nullable=False),
        sa.Column("paid", FIX2, nullable=False),
        sa.Column("late_fee_paid", FIX2, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("settled_on", sa.Date(), nullable=True),
        sa.Column("lines", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        _fk("bills", "customer_id", "customers", "CASCADE"),
        _fk("bills", "tariff_id", "tariffs"),
        sa.UniqueConstraint("tenant_id", "customer_id", "period", name="uq_bills_customer_period"),
    )
    op.create_index("ix_bills_open", "bills", ["tenant_id", "status", "due_on"])

    op.create_table(
        "payments",
        *_id("payments"),
        sa.Column("customer_id", PK, nullable=False),
        sa.Column("amount", FIX2, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("paid_at", TS, nullable=False),
        sa.Column("late_fee", FIX2, nullable=False),
        sa.Column("credit", FIX2, nullable=False),
        sa.Column("allocations", JSON, nullable=False),
        sa.Column("agent_id", PK, nullable=True),
        sa.Column("call_id", sa.String(40), nullable=False),
        _fk("payments", "customer_id", "customers", "CASCADE"),
        _fk("payments", "agent_id", "users"),
        sa.UniqueConstraint("tenant_id", "channel", "reference", name="uq_payments_reference"),
    )
    op.create_index("ix_payments_customer", "payments", ["tenant_id", "customer_id", "paid_at"])

    op.create_table(
        "outages",
        *_id("outages"),
        sa.Column("unit_id", PK, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("start_at", TS, nullable=False),
        sa.Column("expected_end_at", TS, nullable=True),
        sa.Column("actual_end_at", TS, nullable=True),
        sa.Column("notice", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", PK, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        _fk("outages", "unit_id", "units"),
        _fk("outages", "created_by", "users"),
    )
    op.create_index("ix_outages_window", "outages", ["tenant_id", "status", "start_at"])
    op.create_index("ix_outages_unit_id", "outages", ["unit_id"])

    op.create_table(
        "outage_areas",
        *_id("outage_areas"),
        sa.Column("outage_id", PK, nullable=False),
        sa.Column("feeder", sa.String(64), nullable=False),
        sa.Column("transformer_area", sa.String(64), nullable=False),
        _fk("outage_areas", "outage_id", "outages", "CASCADE"),
    )
    op.create_index("ix_outage_areas_lookup", "outage_areas", ["tenant_id", "feeder", "transformer_area"])
    op.create_index("ix_outage_areas_outage_id", "outage_areas", ["outage_id"])

    op.create_table(
        "service_applications",
        *_id("service_applications"),
        sa.Column("customer_id", PK, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("submitted_at", TS, nullable=False),
        sa.Column("steps", JSON, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        _fk("service_applications", "customer_id", "customers", "CASCADE"),
    )
    op.create_index(
        "ix_service_applications_customer", "service_applications", ["tenant_id", "customer_id"]
    )


def downgrade() -> None:
    for table in (
        "service_applications",
        "outage_areas",
        "outages",
        "payments",
        "bills",
        "meter_readings",
        "meters",
        "tariffs",
        "contact_history",
        "customer_phones",
    ):
        op.drop_table(table)
    op.drop_index("ix_customers_name", "customers")
    op.drop_index("ix_customers_id_hash", "customers")
    op.drop_index("ix_customers_grid", "customers")
    with op.batch_alter_table("customers") as batch:
        for name, _type, _default in reversed(CUSTOMER_COLUMNS):
            batch.drop_column(name)
        batch.drop_column("updated_at")
