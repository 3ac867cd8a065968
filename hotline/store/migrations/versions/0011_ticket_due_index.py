"""Deadline columns of ``tickets`` out of the way of the deadline scheduler.

``ix_tickets_due`` (tenant, overdue, due_at) made every deadline event a non-HOT update on
PostgreSQL: ``overdue`` flips when a step goes overdue, so the new row version had to be entered
in every index of the table (a dozen, the trigram index among them). No list used it (newest-first
lists walk ``ix_tickets_list``). It is replaced by a partial index of the open orders by
``due_at`` (the overdue board's "due soon" range), a column the scheduler writes but does not
change when it fires a timer; and ``tickets`` leaves 10 % of each page free (PostgreSQL
``fillfactor``) so that those updates find room for the new version on the same page.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_tickets_due", table_name="tickets")
    op.create_index(
        "ix_tickets_open_due",
        "tickets",
        ["tenant_id", "due_at"],
        postgresql_where=sa.text("closed_at IS NULL"),
        sqlite_where=sa.text("closed_at IS NULL"),
    )
    if op.get_bind().dialect.name == "postgresql":
        # pages written from now on; a VACUUM FULL or pg_repack applies it to the old ones
        op.execute("ALTER TABLE tickets SET (fillfactor = 90)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE tickets RESET (fillfactor)")
    op.drop_index("ix_tickets_open_due", table_name="tickets")
    op.create_index("ix_tickets_due", "tickets", ["tenant_id", "overdue", "due_at"])
