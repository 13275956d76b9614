from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kitt.projections.models.base import Base, Timestamp, Versioned


class CampaignRow(Versioned, Base):
    __tablename__ = "campaigns"
    campaign_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)  # states.CampaignStatus
    spec: Mapped[str] = mapped_column(Text, nullable=False)  # CampaignSpec, as JSON
    total_items: Mapped[int] = mapped_column(Integer, nullable=False)
    finished_items: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    failed_items: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    launched_at: Mapped[datetime | None] = mapped_column(Timestamp)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    skipped_items: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    source: Mapped[str | None] = mapped_column(Text)  # the campaign file
    resumes: Mapped[str | None] = mapped_column(String(64))


class CampaignItemRow(Versioned, Base):
    """One cell of a campaign's plan (key 001...), or one it skipped (key s001..., with the reason)."""

    __tablename__ = "campaign_items"
    __table_args__ = (Index(None, "test_id"),)
    campaign_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(16), primary_key=True)
    model: Mapped[str] = mapped_column(String(512), nullable=False)
    engine: Mapped[str] = mapped_column(String(64), nullable=False)
    suite: Mapped[str] = mapped_column(String(128), nullable=False)
    agent: Mapped[str | None] = mapped_column(String(128))
    runtime: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # states.ItemStatus
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    test_id: Mapped[str | None] = mapped_column(String(64))
    run_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    simulated: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    size_bytes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    started_at: Mapped[datetime | None] = mapped_column(Timestamp)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)
