"""What projections into other systems keep here: the run facts their points are tagged with."""

from datetime import datetime

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from kitt.projections.models.base import Base, Timestamp, Versioned


class InfluxRunRow(Versioned, Base):
    """A run's model, engine, agent and suite, so a benchmark's points carry them whichever batch the
    benchmark arrives in."""

    __tablename__ = "influx_runs"
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(512), nullable=False)
    engine: Mapped[str] = mapped_column(String(64), nullable=False)
    agent: Mapped[str | None] = mapped_column(String(128))
    suite: Mapped[str | None] = mapped_column(String(128))
    simulated: Mapped[bool] = mapped_column(Boolean, nullable=False)
    started_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
