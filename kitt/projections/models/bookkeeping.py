from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kitt.projections.models.base import Base, Timestamp


class Checkpoint(Base):
    """Where each projection stands; written in the same transaction as the rows it describes."""

    __tablename__ = "projection_checkpoints"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    unknown_skipped: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    dead_letters: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    updated_at: Mapped[datetime | None] = mapped_column(Timestamp)


class DeadLetter(Base):
    """A message a projection could not apply, with why; the projection moved on past it."""

    __tablename__ = "dead_letters"
    __table_args__ = (UniqueConstraint("projection", "stream_seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    projection: Mapped[str] = mapped_column(String(64), nullable=False)
    stream_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    subject: Mapped[str] = mapped_column(String(512), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    payload: Mapped[str] = mapped_column(Text, nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
