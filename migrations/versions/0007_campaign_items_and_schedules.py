"""campaign items, campaigns' new columns, schedules of campaign templates, tests marked simulated

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("tests") as batch:
        batch.add_column(sa.Column("simulated", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("campaigns") as batch:
        batch.alter_column("status", type_=sa.String(length=32), existing_nullable=False)
        batch.add_column(sa.Column("description", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("skipped_items", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("source", sa.Text(), nullable=True))
        batch.add_column(sa.Column("resumes", sa.String(length=64), nullable=True))
    op.create_table(
        "campaign_items",
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=16), nullable=False),
        sa.Column("model", sa.String(length=512), nullable=False),
        sa.Column("engine", sa.String(length=64), nullable=False),
        sa.Column("suite", sa.String(length=128), nullable=False),
        sa.Column("agent", sa.String(length=128), nullable=True),
        sa.Column("runtime", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("test_id", sa.String(length=64), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("simulated", sa.Boolean(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("last_event_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "key", name=op.f("pk_campaign_items")),
    )
    op.create_index(op.f("ix_campaign_items_test_id"), "campaign_items", ["test_id"])
    op.drop_table("schedules")  # held only schedules no command could create a campaign from
    op.create_table(
        "schedules",
        sa.Column("schedule_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("cron", sa.String(length=128), nullable=False),
        sa.Column("campaign_name", sa.String(length=256), nullable=False),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("last_slot", TIMESTAMP, nullable=True),
        sa.Column("last_campaign_id", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("missed_slots", sa.Integer(), nullable=False),
        sa.Column("last_missed", TIMESTAMP, nullable=True),
        sa.Column("last_event_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("schedule_id", name=op.f("pk_schedules")),
    )


def downgrade() -> None:
    op.drop_table("schedules")
    op.create_table(
        "schedules",
        sa.Column("schedule_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("cron", sa.String(length=128), nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("last_event_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("schedule_id", name=op.f("pk_schedules")),
    )
    op.drop_index(op.f("ix_campaign_items_test_id"), table_name="campaign_items")
    op.drop_table("campaign_items")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("resumes")
        batch.drop_column("source")
        batch.drop_column("skipped_items")
        batch.drop_column("description")
        batch.alter_column("status", type_=sa.String(length=16), existing_nullable=False)
    with op.batch_alter_table("tests") as batch:
        batch.drop_column("simulated")
