"""runs count their invalid load levels

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("karr_runs") as batch:
        batch.add_column(sa.Column("invalid_levels", sa.Integer(), nullable=False, server_default="0"))
    op.create_index(op.f("ix_karr_runs_invalid_levels"), "karr_runs", ["invalid_levels"])
    # Runs projected before: a benchmark that said `invalid` counts as one level (what
    # kitt.events.validity reads from a document without per-level verdicts). A rebuild gives the same.
    op.execute(
        "UPDATE karr_runs SET invalid_levels = (SELECT COUNT(*) FROM karr_benchmarks b"
        " WHERE b.run_id = karr_runs.run_id AND b.status = 'invalid')"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_karr_runs_invalid_levels"), table_name="karr_runs")
    with op.batch_alter_table("karr_runs") as batch:
        batch.drop_column("invalid_levels")
