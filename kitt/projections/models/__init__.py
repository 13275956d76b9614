"""SQLAlchemy 2.0 typed read models. Only projectors write these tables."""

from kitt.projections.models.base import Base, table
from kitt.projections.models.bookkeeping import Checkpoint, DeadLetter
from kitt.projections.models.campaigns import CampaignItemRow, CampaignRow
from kitt.projections.models.config import (
    EndedSessionRow,
    EngineProfileRow,
    ScheduleRow,
    SettingRow,
    UserRow,
)
from kitt.projections.models.fleet import AgentRow, TestRow
from kitt.projections.models.karr import BenchmarkRow, MetricRow, RunRow
from kitt.projections.models.sinks import InfluxRunRow

__all__ = [
    "AgentRow",
    "Base",
    "BenchmarkRow",
    "CampaignItemRow",
    "CampaignRow",
    "Checkpoint",
    "DeadLetter",
    "EndedSessionRow",
    "EngineProfileRow",
    "InfluxRunRow",
    "MetricRow",
    "RunRow",
    "ScheduleRow",
    "SettingRow",
    "TestRow",
    "UserRow",
    "table",
]
