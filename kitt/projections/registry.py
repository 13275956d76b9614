"""Every projection KITT runs, by name."""

from kitt.projections.campaigns import CampaignsProjection
from kitt.projections.config import SettingsProjection
from kitt.projections.fleet import AgentsProjection, TestsProjection
from kitt.projections.influx import InfluxProjection, InfluxTarget
from kitt.projections.karr import KarrProjection
from kitt.projections.profiles import EngineProfilesProjection
from kitt.projections.projection import Projection
from kitt.projections.schedules import SchedulesProjection
from kitt.projections.sessions import SessionsProjection
from kitt.projections.users import UsersProjection


def all_projections(influx: InfluxTarget | None = None) -> list[Projection]:
    """KITT's read models, and the InfluxDB projection where a deployment names an InfluxDB."""
    return [
        KarrProjection(),
        AgentsProjection(),
        TestsProjection(),
        CampaignsProjection(),
        SettingsProjection(),
        UsersProjection(),
        EngineProfilesProjection(),
        SchedulesProjection(),
        SessionsProjection(),
        *([InfluxProjection(influx)] if influx is not None else []),
    ]


class UnknownProjection(LookupError):
    pass


def by_name(name: str, influx: InfluxTarget | None = None) -> Projection:
    for projection in all_projections(influx):
        if projection.name == name:
            return projection
    names = ", ".join(p.name for p in all_projections(influx))
    raise UnknownProjection(f"unknown projection {name!r} (known: {names})")
