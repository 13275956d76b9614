"""KARR: runs -> benchmark results -> metrics, plus the full result document for lossless export."""

from datetime import datetime

from sqlalchemy import Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kitt.projections.models.base import Base, Timestamp, Versioned


class RunRow(Versioned, Base):
    __tablename__ = "karr_runs"
    __table_args__ = (
        Index(None, "started_at", "run_id"),  # the results list's order, ties broken by id
        Index(None, "model", "started_at"),
        Index(None, "engine", "started_at", "run_id"),
        Index(None, "status"),
        Index(None, "invalid_levels"),  # the results list's "with invalid levels" filter
        Index(None, "agent"),
        Index(None, "hardware_fingerprint"),
    )
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(512), nullable=False)
    engine: Mapped[str] = mapped_column(String(64), nullable=False)
    engine_version: Mapped[str | None] = mapped_column(String(128))
    engine_image: Mapped[str | None] = mapped_column(String(512))
    suite: Mapped[str | None] = mapped_column(String(128))
    agent: Mapped[str | None] = mapped_column(String(128))
    kitt_version: Mapped[str | None] = mapped_column(String(64))
    simulated: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    hardware_fingerprint: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)
    duration_s: Mapped[float | None] = mapped_column(Float)
    benchmark_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Levels the client's self-check marked invalid (kitt.bench.validity): lists say so beside the status.
    invalid_levels: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    document: Mapped[str] = mapped_column(Text, nullable=False)  # the ResultDocument, as JSON


class BenchmarkRow(Base):
    __tablename__ = "karr_benchmarks"
    __table_args__ = (Index(None, "name"),)
    # No foreign key to karr_runs: the KARR projector is the only writer and never writes a benchmark for
    # a run it has not started (that event becomes a dead letter); the check doubled a row's cost.
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    mode: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(Timestamp)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)
    sample_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class MetricRow(Base):
    __tablename__ = "karr_metrics"
    __table_args__ = (Index(None, "name"),)
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    benchmark_position: Mapped[int] = mapped_column(Integer, primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(256), nullable=False)
    value: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    percentile: Mapped[str | None] = mapped_column(String(16))
    labels: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # JSON object of strings
