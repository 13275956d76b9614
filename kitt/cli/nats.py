"""`kitt nats credentials`: the secrets a distributed NATS (nats.conf) and `kitt serve` share."""

import click

from kitt.auth import credentials
from kitt.cli.common import settings


@click.group("nats")
def nats_group() -> None:
    """The NATS server KITT runs on."""


@nats_group.command("credentials")
def show_credentials() -> None:
    """Print the variables nats.conf and `kitt serve` read (made once, kept 0600 in KITT_HOME/auth.json).

    Secret: print them only where they are to be used (an env file of mode 0600, a secret store)."""
    home = settings().prepare_home()
    creds = credentials.load_or_create(home / "auth.json")
    for name, value in credentials.environment(creds).items():
        click.echo(f"{name}={value}")
