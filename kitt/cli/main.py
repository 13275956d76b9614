"""`kitt`: the entry point and its command groups."""

import importlib

import click

from kitt import __version__
from kitt import logging as kitt_logging

# Each command's module is imported only when that command runs (or help lists it): a command pays for
# its own imports, not for every other command's (the campaign wizard's, the stack's ...). The modules
# after the first add their commands to its group.
COMMANDS: dict[str, tuple[str, ...]] = {
    "up": ("kitt.cli.up:up",),
    "serve": ("kitt.cli.up:serve",),
    "web": ("kitt.cli.up:web",),
    "stack": ("kitt.cli.stack:stack_group",),
    "monitoring": ("kitt.cli.monitoring:monitoring_group",),
    "remote": ("kitt.cli.remote:remote_group",),
    "streams": ("kitt.cli.streams:streams",),
    "nats": ("kitt.cli.nats:nats_group",),
    "events": ("kitt.cli.events:events",),
    "projections": ("kitt.cli.projections:projections",),
    "project": ("kitt.cli.projections:project",),
    "storage": ("kitt.cli.storage:storage",),
    "results": ("kitt.cli.results:results_group",),
    "compare": ("kitt.cli.compare:compare",),
    "report": ("kitt.cli.report:report",),
    "run": ("kitt.cli.run:run",),
    "engines": ("kitt.cli.engines:engines",),
    "fingerprint": ("kitt.cli.engines:fingerprint_cmd",),
    "models": ("kitt.cli.models:models",),
    "settings": ("kitt.cli.settings:settings_group",),
    "test": ("kitt.cli.tests:test_group",),
    "agents": ("kitt.cli.agents:agents_group",),
    "users": ("kitt.cli.users:users_group",),
    "quicktest": ("kitt.cli.quicktest:quicktest_group",),
    "campaign": ("kitt.cli.campaign:campaign_group", "kitt.cli.campaign_create", "kitt.cli.schedules"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = COMMANDS.get(cmd_name)
        if where is None:
            return None
        module, _, name = where[0].partition(":")
        for extra in where[1:]:
            importlib.import_module(extra)
        command = getattr(importlib.import_module(module), name)
        assert isinstance(command, click.Command) and command.name == cmd_name, (cmd_name, command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="kitt")
@click.option(
    "--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"])
)
@click.option(
    "--json-logs/--pretty-logs", default=None, help="Log format (default: pretty on a terminal, else JSON)."
)
def cli(log_level: str, json_logs: bool | None) -> None:
    """KITT: test LLM inference engines end to end, and keep every result in KARR."""
    kitt_logging.configure(log_level, json=json_logs)


def main() -> None:
    cli(prog_name="kitt")


if __name__ == "__main__":
    main()
