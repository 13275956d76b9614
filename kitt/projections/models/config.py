"""Settings, named engine profiles and schedules."""

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kitt.projections.models.base import Base, Timestamp, Versioned


class SettingRow(Versioned, Base):
    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)  # JSON scalar
    updated_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)


class UserRow(Versioned, Base):
    """A user's live API token (its SHA-256) and role; revoking deletes the row."""

    __tablename__ = "users"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False, server_default="admin")
    issued_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)


class EndedSessionRow(Versioned, Base):
    """A browser session that was logged out (until its cookie would have expired anyway)."""

    __tablename__ = "ended_sessions"
    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user: Mapped[str] = mapped_column(String(64), nullable=False)
    ended_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)


class EngineProfileRow(Versioned, Base):
    __tablename__ = "engine_profiles"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    engine: Mapped[str] = mapped_column(String(64), nullable=False)
    args: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    env: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    updated_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)


class ScheduleRow(Versioned, Base):
    __tablename__ = "schedules"
    schedule_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), nullable=False)
    cron: Mapped[str] = mapped_column(String(128), nullable=False)
    campaign_name: Mapped[str] = mapped_column(String(256), nullable=False)
    template: Mapped[str] = mapped_column(Text, nullable=False)  # CampaignSpec, as JSON
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    last_slot: Mapped[datetime | None] = mapped_column(Timestamp)
    last_campaign_id: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    missed_slots: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_missed: Mapped[datetime | None] = mapped_column(Timestamp)
