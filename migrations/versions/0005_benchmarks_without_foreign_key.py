"""karr_benchmarks loses its foreign key to karr_runs

The KARR projector is the only writer of both tables and never writes a benchmark for a run it has not
started (such an event is a dead letter), so the database's check only repeated it: on PostgreSQL it
more than doubled the cost of writing a benchmark row (16 µs against 7). `kitt projections reset` empties
the tables itself, children first, so nothing relied on the cascade.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 12:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOREIGN_KEY = "fk_karr_benchmarks_run_id_karr_runs"


def upgrade() -> None:
    with op.batch_alter_table("karr_benchmarks") as batch:  # SQLite rebuilds the table; others alter it
        batch.drop_constraint(FOREIGN_KEY, type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("karr_benchmarks") as batch:
        batch.create_foreign_key(FOREIGN_KEY, "karr_runs", ["run_id"], ["run_id"], ondelete="CASCADE")
