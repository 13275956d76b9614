"""Every projection KITT runs, by name."""

from kitt.projections.campaigns import CampaignsProjection
from kitt.projections.config import SettingsProjection
from kitt.projections.fleet import AgentsProjection, TestsProjection
from kitt.projections.karr import KarrProjection
from kitt.projections.profiles import EngineProfilesProjection
from kitt.projections.projection import Projection
from kitt.projections.schedules import SchedulesProjection
from kitt.projections.sessions import SessionsProjection
from kitt.projections.users import UsersProjection


def all_projections() -> list[Projection]:
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
    ]


class UnknownProjection(LookupError):
    pass


def by_name(name: str) -> Projection:
    for projection in all_projections():
        if projection.name == name:
            return projection
    names = ", ".join(p.name for p in all_projections())
    raise UnknownProjection(f"unknown projection {name!r} (known: {names})")
