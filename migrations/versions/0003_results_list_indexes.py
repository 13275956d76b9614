"""results list indexes: (started_at, run_id) and (engine, started_at, run_id), so a page of the list
reads only its rows, also when many runs share a start time

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 09:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_karr_runs_started_at", table_name="karr_runs")
    op.drop_index("ix_karr_runs_engine_started_at", table_name="karr_runs")
    op.create_index("ix_karr_runs_started_at_run_id", "karr_runs", ["started_at", "run_id"])
    op.create_index("ix_karr_runs_engine_started_at_run_id", "karr_runs", ["engine", "started_at", "run_id"])


def downgrade() -> None:
    op.drop_index("ix_karr_runs_engine_started_at_run_id", table_name="karr_runs")
    op.drop_index("ix_karr_runs_started_at_run_id", table_name="karr_runs")
    op.create_index("ix_karr_runs_engine_started_at", "karr_runs", ["engine", "started_at"])
    op.create_index("ix_karr_runs_started_at", "karr_runs", ["started_at"])
