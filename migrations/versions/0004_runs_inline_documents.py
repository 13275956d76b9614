"""PostgreSQL keeps a run's result document in its row, uncompressed, up to a page

A document is ~2 KB: just over the default TOAST threshold, so every run row written was compressed
with pglz first (about a third of the cost of writing it). Rows up to 8160 bytes now stay as they are;
larger documents are still moved out of line. SQLite has no such step.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 11:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE karr_runs SET (toast_tuple_target = 8160)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE karr_runs RESET (toast_tuple_target)")
