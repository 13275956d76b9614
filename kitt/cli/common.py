"""What every command shares: settings, running coroutines, and one-line errors for known failures."""

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import click
import msgspec
from rich.console import Console

from kitt import config
from kitt.bench.prompts import PromptError
from kitt.campaigns.plan import PlanError
from kitt.commands.client import CommandFailed
from kitt.devon.protocol import DevonError
from kitt.engines.formats import ModelError
from kitt.engines.preflight import PreflightError
from kitt.engines.runtime import EngineError
from kitt.events.bus import AppendError
from kitt.projections.db import DatabaseUrlError
from kitt.projections.influx import InfluxConfigError, InfluxUnavailable
from kitt.projections.registry import UnknownProjection
from kitt.runtime.embedded import RuntimeUnavailable
from kitt.runtime.nats_server import NatsServerError
from kitt.storage.documents import DocumentError
from kitt.storage.profiles import ProfileError
from kitt.yamlfile import YamlError

T = TypeVar("T")

KNOWN_ERRORS = (
    RuntimeUnavailable,
    DevonError,
    DatabaseUrlError,
    InfluxConfigError,
    InfluxUnavailable,
    DocumentError,
    NatsServerError,
    AppendError,
    UnknownProjection,
    PreflightError,
    ModelError,
    EngineError,
    ProfileError,
    PromptError,
    PlanError,
    YamlError,
)


def settings() -> config.Settings:
    try:
        return config.load()
    except (DatabaseUrlError, InfluxConfigError) as exc:
        raise click.ClickException(str(exc)) from None


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; turn known failures into a one-line error and exit code 1."""
    try:
        return asyncio.run(coro)
    except CommandFailed as exc:
        raise click.ClickException(f"{exc.reply.code}: {exc.reply.error}") from None
    except KNOWN_ERRORS as exc:
        raise click.ClickException(str(exc)) from None


def async_command(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        run(fn(*args, **kwargs))

    return wrapper


NOT_A_TERMINAL_WIDTH = 1000


def console(*, stderr: bool = False) -> Console:
    """A terminal's width on a terminal; piped or redirected, wide enough that no table is cut."""
    out = Console(stderr=stderr)
    return out if out.is_terminal else Console(stderr=stderr, width=NOT_A_TERMINAL_WIDTH)


def print_json(value: object) -> None:
    click.echo(msgspec.json.format(msgspec.json.encode(value), indent=2).decode())
