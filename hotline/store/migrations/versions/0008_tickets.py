"""Work orders (工单): tickets, their history, attachments, deadline steps and timers, tenant
ticket types and dispatch rules.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


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


def upgrade() -> None:
    op.create_table(
        "ticket_types",
        *_id("ticket_types"),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("doc", JSON, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("tenant_id", "code", name="uq_ticket_types_tenant_code"),
    )

    op.create_table(
        "tickets",
        *_id("tickets"),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("type_code", sa.String(64), nullable=False),
        sa.Column("subtype", sa.String(64), nullable=False),
        sa.Column("urgency", sa.String(32), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changed_at", TS, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("unit_id", PK, nullable=False),
        sa.Column("handler_id", PK, nullable=True),
        sa.Column("intake_unit_id", PK, nullable=True),
        sa.Column("created_by", PK, nullable=True),
        sa.Column("customer_id", PK, nullable=True),
        sa.Column("account_no", sa.String(32), nullable=False),
        sa.Column("call_id", sa.String(40), nullable=False),
        sa.Column("caller_number", sa.String(40), nullable=False),
        sa.Column("contact_name", sa.String(200), nullable=False),
        sa.Column("contact_phone", sa.String(40), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("area_class", sa.String(16), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("form", JSON, nullable=False),
        sa.Column("search", sa.Text(), nullable=False),
        sa.Column("held_from", sa.String(32), nullable=True),
        sa.Column("held_since", TS, nullable=True),
        sa.Column("held_seconds", sa.Float(), nullable=False),
        sa.Column("replied_at", TS, nullable=True),
        sa.Column("substantiated", sa.Boolean(), nullable=True),
        sa.Column("returns", sa.Integer(), nullable=False),
        sa.Column("reopens", sa.Integer(), nullable=False),
        sa.Column("satisfaction", sa.String(32), nullable=True),
        sa.Column("urges", sa.Integer(), nullable=False),
        sa.Column("merged_into", PK, nullable=True),
        sa.Column("closed_at", TS, nullable=True),
        sa.Column("due_at", TS, nullable=True),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("overdue_seconds", sa.Float(), nullable=False),
        sa.Column("escalations", sa.Integer(), nullable=False),
        sa.Column("repeat_of", PK, nullable=True),
        sa.Column("repeat_count", sa.Integer(), nullable=False),
        sa.Column("outage_id", PK, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        _fk("tickets", "unit_id", "units"),
        _fk("tickets", "handler_id", "users"),
        _fk("tickets", "intake_unit_id", "units"),
        _fk("tickets", "created_by", "users"),
        _fk("tickets", "customer_id", "customers"),
        _fk("tickets", "merged_into", "tickets"),
        _fk("tickets", "repeat_of", "tickets"),
        _fk("tickets", "outage_id", "outages"),
        sa.UniqueConstraint("tenant_id", "number", name="uq_tickets_tenant_number"),
    )
    for name, cols in (
        ("ix_tickets_list", ["tenant_id", "created_at", "id"]),
        ("ix_tickets_state", ["tenant_id", "state", "created_at"]),
        ("ix_tickets_unit", ["tenant_id", "unit_id", "state", "created_at"]),
        ("ix_tickets_type", ["tenant_id", "type_code", "created_at"]),
        ("ix_tickets_customer", ["tenant_id", "customer_id", "created_at"]),
        ("ix_tickets_due", ["tenant_id", "overdue", "due_at"]),
        ("ix_tickets_outage", ["tenant_id", "outage_id"]),
        ("ix_tickets_call", ["tenant_id", "call_id"]),
    ):
        op.create_index(name, "tickets", cols)

    op.create_table(
        "ticket_history",
        *_id("ticket_history"),
        sa.Column("ticket_id", PK, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("user_id", PK, nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_state", sa.String(32), nullable=True),
        sa.Column("to_state", sa.String(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("attachments", JSON, nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _fk("ticket_history", "ticket_id", "tickets", "CASCADE"),
        _fk("ticket_history", "user_id", "users"),
    )
    op.create_index("ix_ticket_history_ticket", "ticket_history", ["ticket_id", "version"])

    op.create_table(
        "ticket_attachments",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("tenant_id", PK, nullable=False),
        sa.Column("ticket_id", PK, nullable=True),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("uploaded_by", PK, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ticket_attachments"),
        _fk("ticket_attachments", "tenant_id", "tenants"),
        _fk("ticket_attachments", "ticket_id", "tickets", "CASCADE"),
        _fk("ticket_attachments", "uploaded_by", "users"),
    )
    op.create_index("ix_ticket_attachments_ticket", "ticket_attachments", ["tenant_id", "ticket_id"])

    op.create_table(
        "ticket_steps",
        *_id("ticket_steps"),
        sa.Column("ticket_id", PK, nullable=False),
        sa.Column("step", sa.String(32), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("due_at", TS, nullable=True),
        sa.Column("warn_at", TS, nullable=True),
        sa.Column("done_at", TS, nullable=True),
        sa.Column("on_time", sa.Boolean(), nullable=True),
        sa.Column("overdue_seconds", sa.Float(), nullable=False),
        sa.Column("fired", sa.Integer(), nullable=False),
        sa.Column("escalations", sa.Integer(), nullable=False),
        _fk("ticket_steps", "ticket_id", "tickets", "CASCADE"),
        sa.UniqueConstraint("ticket_id", "step", name="uq_ticket_steps_ticket_step"),
    )

    op.create_table(
        "ticket_timers",
        *_id("ticket_timers"),
        sa.Column("ticket_id", PK, nullable=False),
        sa.Column("step", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("fire_at", TS, nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        _fk("ticket_timers", "ticket_id", "tickets", "CASCADE"),
        sa.UniqueConstraint("ticket_id", "step", name="uq_ticket_timers_ticket_step"),
    )
    op.create_index("ix_ticket_timers_due", "ticket_timers", ["fire_at"])

    op.create_table(
        "ticket_dispatch_rules",
        *_id("ticket_dispatch_rules"),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("type_code", sa.String(64), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("supply_unit_id", PK, nullable=True),
        sa.Column("address_contains", sa.String(200), nullable=False),
        sa.Column("target_unit_id", PK, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        _fk("ticket_dispatch_rules", "supply_unit_id", "units"),
        _fk("ticket_dispatch_rules", "target_unit_id", "units"),
    )
    op.create_index(
        "ix_ticket_dispatch_rules_tenant", "ticket_dispatch_rules", ["tenant_id", "priority"]
    )


def downgrade() -> None:
    for table in (
        "ticket_dispatch_rules",
        "ticket_timers",
        "ticket_steps",
        "ticket_attachments",
        "ticket_history",
        "tickets",
        "ticket_types",
    ):
        op.drop_table(table)
