"""`kitt-agent`: console script. The agent's commands arrive with the agents work; this is its entry point."""

import click

from kitt import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="kitt-agent")
def cli() -> None:
    """KITT agent for GPU hosts: receives tests over JetStream and reports results."""


def main() -> None:
    cli(prog_name="kitt-agent")
