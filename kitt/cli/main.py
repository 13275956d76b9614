"""`kitt`: the entry point and its command groups."""

import click

from kitt import __version__
from kitt import logging as kitt_logging
from kitt.cli import campaign_create, schedules  # noqa: F401  (their commands join `kitt campaign`)
from kitt.cli.agents import agents_group
from kitt.cli.campaign import campaign_group
from kitt.cli.compare import compare
from kitt.cli.engines import engines, fingerprint_cmd
from kitt.cli.events import events
from kitt.cli.models import models
from kitt.cli.monitoring import monitoring_group
from kitt.cli.nats import nats_group
from kitt.cli.projections import project, projections
from kitt.cli.quicktest import quicktest_group
from kitt.cli.remote import remote_group
from kitt.cli.report import report
from kitt.cli.results import results_group
from kitt.cli.run import run
from kitt.cli.settings import settings_group
from kitt.cli.stack import stack_group
from kitt.cli.storage import storage
from kitt.cli.streams import streams
from kitt.cli.tests import test_group
from kitt.cli.up import serve, up, web
from kitt.cli.users import users_group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


cli.add_command(up)
cli.add_command(stack_group)
cli.add_command(monitoring_group)
cli.add_command(remote_group)
cli.add_command(serve)
cli.add_command(web)
cli.add_command(streams)
cli.add_command(nats_group)
cli.add_command(events)
cli.add_command(projections)
cli.add_command(project)
cli.add_command(storage)
cli.add_command(results_group)
cli.add_command(compare)
cli.add_command(report)
cli.add_command(run)
cli.add_command(engines)
cli.add_command(fingerprint_cmd)
cli.add_command(models)
cli.add_command(settings_group)
cli.add_command(test_group)
cli.add_command(agents_group)
cli.add_command(users_group)
cli.add_command(quicktest_group)
cli.add_command(campaign_group)


def main() -> None:
    cli(prog_name="kitt")


if __name__ == "__main__":
    main()
