"""`kitt engines list|check|status|setup|profiles`: what engines KITT knows and whether they can run here."""

import asyncio
import json
import platform
from pathlib import Path

import click
import msgspec
from rich.table import Table

from kitt.cli.common import async_command, console, print_json, settings
from kitt.commands.client import send
from kitt.commands.messages import DeleteEngineProfile, SaveEngineProfile
from kitt.engines import images, preflight, specs
from kitt.engines.native import find_binary
from kitt.hardware import fingerprint
from kitt.runtime.embedded import open_database, session
from kitt.storage import profiles


@click.group()
def engines() -> None:
    """Inference engines: specs, images, native binaries, profiles."""


def _image(spec: specs.EngineSpec, home: Path) -> images.ImageChoice:
    hardware = fingerprint.detect(home).hardware
    overrides = images.load_overrides(home / "engines.yaml")
    cc = fingerprint.compute_capability(hardware)
    return images.choose(
        spec, arch=hardware.arch or platform.machine(), compute_capability=cc, overrides=overrides
    )


class EngineRow(msgspec.Struct, frozen=True, kw_only=True):
    engine: str
    name: str
    formats: tuple[str, ...]
    runtimes: tuple[str, ...]
    architectures: tuple[str, ...]
    image: str | None
    image_source: str
    native_binary: str | None
    native_env: str | None  # its own environment (`kitt engines setup ENGINE --runtime native`), if installed
    dialect: str


@engines.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_(as_json: bool) -> None:
    """Every engine with its formats, runtimes, image for this host and native binary."""
    from kitt.engines import envs

    home = settings().home
    rows = []
    for spec in specs.ENGINES.values():
        choice = _image(spec, home)
        own = envs.installed(spec.name, envs.root(home)) if spec.own_env else None
        rows.append(
            EngineRow(
                engine=spec.name,
                name=spec.display,
                formats=spec.formats,
                runtimes=spec.runtimes,
                architectures=spec.archs,
                image=choice.image,
                image_source=choice.source,
                native_binary=find_binary(spec),
                native_env=own.describe() if own else None,
                dialect=spec.dialect,
            )
        )
    if as_json:
        print_json(rows)
        return
    table = Table("engine", "formats", "runtimes", "image (source)", "native binary")
    for r in rows:
        table.add_row(
            r.engine,
            ", ".join(r.formats),
            ", ".join(r.runtimes),
            f"{r.image} ({r.image_source})",
            f"{r.native_binary} ({r.native_env})" if r.native_env else r.native_binary or "-",
        )
    console().print(table)


@engines.command("check")
@click.argument("engine")
@click.option("-m", "--model", help="Also check that this model's format suits the engine.")
@click.option("--runtime", type=click.Choice(specs.RUNTIMES), default="native", show_default=True)
def check(engine: str, model: str | None, runtime: str) -> None:
    """Is ENGINE usable here (and with MODEL)? Exit status 1 with the reason when not."""
    try:
        spec = specs.get(engine)
        if model:
            result = preflight.check(engine, model, runtime, arch=platform.machine())
            click.echo(f"{spec.display} can serve {model} ({result.model_format}) with the {runtime} runtime")
    except (specs.UnknownEngine, preflight.PreflightError) as exc:
        raise click.ClickException(str(exc)) from None
    if runtime == "native":
        binary = find_binary(spec)
        if binary is None:
            raise click.ClickException(f"{spec.display}: no native binary found")
        click.echo(f"{spec.display}: native binary {binary}")


@engines.command("status")
@click.option("--json", "as_json", is_flag=True)
def status(as_json: bool) -> None:
    """Which engines have a native binary on this host."""
    found = {spec.name: find_binary(spec) for spec in specs.ENGINES.values()}
    if as_json:
        print_json(found)
        return
    for name, binary in found.items():
        click.echo(f"{name:10} {binary or 'not installed'}")


@engines.command("setup")
@click.argument("engine")
@click.option(
    "--runtime",
    type=click.Choice(["docker", "native"]),
    default="docker",
    show_default=True,
    help="docker: pull or build its image. native: install it into an environment of its own.",
)
@click.option(
    "--build",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="native: the CUDA build where a GPU is found, else the CPU build.",
)
@click.option("--dry-run", is_flag=True, help="Say what would be pulled, built or installed, do nothing.")
def setup(engine: str, runtime: str, build: str, dry_run: bool) -> None:
    """Make ENGINE ready here: pull (or build) its image, or install it natively (`--runtime native`)."""
    try:
        spec = specs.get(engine)
    except specs.UnknownEngine as exc:
        raise click.ClickException(str(exc)) from None
    if runtime == "native":
        _setup_native(spec, build, dry_run)
    else:
        asyncio.run(_setup_image(spec, dry_run))


async def _setup_image(spec: specs.EngineSpec, dry_run: bool) -> None:
    choice = _image(spec, settings().home)
    action = (
        f"build {choice.image} from docker/{choice.build}.Dockerfile"
        if choice.build
        else f"pull {choice.image}"
    )
    if dry_run:
        click.echo(f"would {action} ({choice.source} image for {spec.display})")
        return
    from kitt.engines.docker import DockerError, ensure_image

    try:
        await ensure_image(choice.image, build=choice.build, log=lambda line: click.echo(line, err=True))
    except DockerError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{spec.display}: {choice.image} is ready")


def _setup_native(spec: specs.EngineSpec, build: str, dry_run: bool) -> None:
    from kitt.engines import envs, install
    from kitt.hardware import gpus

    gpu = bool(gpus.inventory().gpus) if build == "auto" else build == "cuda"
    where = envs.root(settings().home)
    try:
        flavour, recipe = install.recipe(spec.name, gpu=gpu)
    except install.InstallError as exc:
        raise click.ClickException(str(exc)) from None
    if dry_run:
        click.echo(f"would install {recipe} ({flavour}) into {where / spec.name}")
        return
    out = console(stderr=True)
    with out.status(f"{spec.display}: installing into {where / spec.name}") as status:

        def step(what: str) -> None:
            out.log(f"installing {what}")
            status.update(f"{spec.display}: installing {what}")

        try:
            env = install.setup(spec.name, gpu=gpu, where=where, step=step)
        except install.InstallError as exc:
            raise click.ClickException(f"{spec.display} was not installed: {exc}") from None
    click.echo(f"{spec.display}: {env.describe()}, in {env.path}")


@engines.group("profiles")
def profiles_group() -> None:
    """Named engine profiles: extra launch arguments and environment, applied with `kitt run --profile`."""


@profiles_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@async_command
async def profiles_list(as_json: bool) -> None:
    db = await open_database(settings().database_url)
    try:
        found = await profiles.list_profiles(db)
    finally:
        await db.dispose()
    if as_json:
        print_json(found)
        return
    for p in found:
        click.echo(f"{p.name:20} {p.engine:10} {' '.join(p.args)}  {json.dumps(p.env) if p.env else ''}")


@profiles_group.command("save")
@click.argument("name")
@click.option("-e", "--engine", required=True)
@click.option("--env", "env_pairs", multiple=True, help="KEY=VALUE for the engine's environment.")
@click.option("--description", default="")
@click.argument("args", nargs=-1)
@async_command
async def profiles_save(
    name: str, engine: str, env_pairs: tuple[str, ...], description: str, args: tuple[str, ...]
) -> None:
    """Save profile NAME for ENGINE with launch ARGS (after `--`)."""
    try:
        spec = specs.get(engine)
    except specs.UnknownEngine as exc:
        raise click.ClickException(str(exc)) from None
    env = {}
    for pair in env_pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.ClickException(f"--env takes KEY=VALUE, not {pair!r}")
        env[key] = value
    async with session(settings()) as s:
        command = SaveEngineProfile(name=name, engine=spec.name, args=args, env=env, description=description)
        reply = await send(s.nc, command)
        await asyncio.shield(_settle(s, reply.seq))
    click.echo(f"saved engine profile {name} for {spec.display}")


@profiles_group.command("delete")
@click.argument("name")
@async_command
async def profiles_delete(name: str) -> None:
    async with session(settings()) as s:
        reply = await send(s.nc, DeleteEngineProfile(name=name))
        await _settle(s, reply.seq)
    click.echo(f"deleted engine profile {name}")


async def _settle(s, seq: int) -> None:
    from kitt.storage.checkpoints import wait_for_checkpoint

    await wait_for_checkpoint(s.engine, "engine_profiles", seq)


@click.command("fingerprint")
@click.option("--json", "as_json", is_flag=True)
def fingerprint_cmd(as_json: bool) -> None:
    """Detect this machine's hardware (the fingerprint every run records)."""
    details = fingerprint.detect(settings().home)
    if as_json:
        print_json(details)
        return
    hw = details.hardware
    click.echo(f"fingerprint  {hw.fingerprint}")
    click.echo(f"host         {hw.hostname} ({details.environment})")
    click.echo(f"os           {hw.os}, kernel {details.kernel}, {hw.arch}")
    click.echo(f"cpu          {hw.cpu_model} x {hw.cpu_cores}")
    click.echo(f"ram          {hw.ram_mib} MiB" + (" (unified with the GPU)" if hw.unified_memory else ""))
    if details.storage_total_gib is not None:
        click.echo(f"storage      {details.storage_free_gib} GiB free of {details.storage_total_gib} GiB")
    if hw.gpus:
        for g in hw.gpus:
            click.echo(f"gpu {g.index}        {g.name}, {g.memory_mib} MiB, cc {g.compute_capability}")
        click.echo(f"driver       {details.driver}, CUDA {details.cuda}")
    else:
        click.echo(f"gpu          none ({details.gpu_status})")
