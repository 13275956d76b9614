"""Agents and the tests dispatched to them."""

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kitt.projections.models.base import Base, Timestamp, Versioned


class AgentRow(Versioned, Base):
    __tablename__ = "agents"
    agent_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # provisioned | registered | revoked
    token_hash: Mapped[str | None] = mapped_column(String(64))
    hardware: Mapped[str | None] = mapped_column(Text)  # Hardware, as JSON
    engines: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    kitt_version: Mapped[str | None] = mapped_column(String(64))
    capacity: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    simulated: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    settings: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)


class TestRow(Versioned, Base):
    __tablename__ = "tests"
    __table_args__ = (Index(None, "agent"), Index(None, "campaign_id"), Index(None, "status"))
    test_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent: Mapped[str | None] = mapped_column(String(128))
    campaign_id: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(512), nullable=False)
    engine: Mapped[str] = mapped_column(String(64), nullable=False)
    suite: Mapped[str] = mapped_column(String(128), nullable=False)
    runtime: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    run_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    dispatched_at: Mapped[datetime | None] = mapped_column(Timestamp)
    started_at: Mapped[datetime | None] = mapped_column(Timestamp)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)
    simulated: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
