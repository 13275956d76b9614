"""`kitt monitoring`: a generated Prometheus + InfluxDB + Grafana stack. Its files are checked with the
real tools (compose, promtool), its dashboards against what a real KITT's /metrics exposes, and it runs on
the real Docker daemon: Prometheus (Debian's package, on the local base) scrapes a KITT on this host with
its token, and KITT's influxdb projection writes into its InfluxDB. Grafana's image cannot be pulled here,
so Grafana is validated (provisioning and dashboards), not started."""

import asyncio
import json
import re
import socket
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from kitt.projections.influx import InfluxProjection, InfluxTarget
from kitt.projections.runner import Projector, load_checkpoint
from kitt.stack.monitoring import GRAFANA
from tests import factories
from tests.apiserver import TOKEN, app_for, serving
from tests.dockerhost import base_image, docker
from tests.test_cli import kitt
from tests.test_stack import _env_file, _free_port
from tests.test_ui import imported
from tests.waiting import eventually

pytestmark = pytest.mark.xdist_group("docker")  # one worker runs every test of the Docker daemon's


def _generate(home: Path, name: str, *targets: str, **env: str):
    ports = ["--grafana-port", str(_free_port()), "--influxdb-port", str(_free_port())]
    args = [a for t in targets for a in ("-t", t)]
    return kitt(home, "monitoring", "generate", name, *args, *ports, env={"KITT_AUTH_TOKEN": TOKEN, **env})


def _dashboards() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(GRAFANA.glob("*.json"))}


def _queries(kind: str) -> list[str]:
    key = {"prometheus": "expr", "influxdb": "query"}[kind]
    found = []
    for board in _dashboards().values():
        variables = board["templating"]["list"]
        targets = [t for p in board["panels"] for t in p["targets"]] + variables
        found += [t[key] for t in targets if t["datasource"]["type"] == kind]
    return found


def test_generate_writes_a_secure_valid_monitoring_stack(tmp_path):
    home = tmp_path / "home"
    out = _generate(home, "mon", "kitt.lan:8080", "host.docker.internal:9000")
    folder = home / "monitoring" / "mon"
    assert str(folder) in out.stdout and "KITT_INFLUXDB_URL" in out.stdout
    for secret in (".env", "prometheus/kitt-token"):
        assert stat.S_IMODE((folder / secret).stat().st_mode) == 0o600, secret
    assert (folder / "prometheus" / "kitt-token").read_text() == TOKEN
    env = _env_file(folder)
    names = (
        "GRAFANA_ADMIN_PASSWORD",
        "INFLUXDB_ADMIN_PASSWORD",
        "INFLUXDB_KITT_PASSWORD",
        "INFLUXDB_GRAFANA_PASSWORD",
    )
    secrets = [env[n] for n in names]
    assert len(set(secrets)) == 4 and all(len(s) >= 32 for s in secrets)
    texts = "".join(
        p.read_text() for p in folder.rglob("*") if p.is_file() and p.name not in (".env", "kitt-token")
    )
    assert not any(s in texts for s in [*secrets, TOKEN])  # only .env and the token file hold secrets
    prometheus = yaml.safe_load((folder / "prometheus" / "prometheus.yml").read_text())
    job = prometheus["scrape_configs"][0]
    assert job["static_configs"][0]["targets"] == ["kitt.lan:8080", "host.docker.internal:9000"]
    assert job["authorization"]["credentials_file"] == "/etc/prometheus/kitt-token"
    # promtool checks the file as Prometheus reads it (with the token where the container mounts it).
    checked = tmp_path / "check"
    checked.mkdir()
    (checked / "kitt-token").write_text(TOKEN)
    text = (folder / "prometheus" / "prometheus.yml").read_text().replace("/etc/prometheus/", f"{checked}/")
    (checked / "prometheus.yml").write_text(text)
    promtool = subprocess.run(["promtool", "check", "config", str(checked / "prometheus.yml")],
                              capture_output=True, text=True)  # fmt: skip
    assert promtool.returncode == 0, promtool.stdout + promtool.stderr
    datasources = yaml.safe_load(
        next((folder / "grafana" / "provisioning" / "datasources").glob("*.yaml")).read_text()
    )
    uids = {d["uid"]: d for d in datasources["datasources"]}
    assert uids["kitt-influxdb"]["secureJsonData"]["password"] == "$INFLUXDB_GRAFANA_PASSWORD"
    for board in _dashboards().values():
        assert board["uid"].startswith("kitt-") and board["panels"]
        used = {t["datasource"]["uid"] for p in board["panels"] for t in p["targets"]}
        assert used <= set(uids), board["title"]
    assert sorted(p.name for p in (folder / "grafana" / "dashboards").iterdir()) == [
        "fleet.json", "projectors.json", "results.json"
    ]  # fmt: skip
    listed = json.loads(kitt(home, "monitoring", "list-stacks", "--json").stdout)
    assert [(r["name"], r["targets"]) for r in listed] == [
        ("mon", ["kitt.lan:8080", "host.docker.internal:9000"])
    ]


def test_bad_monitoring_input_is_one_line_and_leaves_nothing(tmp_path):
    home = tmp_path / "home"
    cases = [
        (["Bad Name", "-t", "a:1"], {"KITT_AUTH_TOKEN": TOKEN}, "a monitoring stack name is"),
        (["m", "-t", "no-port"], {"KITT_AUTH_TOKEN": TOKEN}, "a target is HOST:PORT"),
        (["m"], {"KITT_AUTH_TOKEN": TOKEN}, "name at least one KITT to scrape"),
        (["m", "-t", "a:1"], {"KITT_AUTH_TOKEN": ""}, "Prometheus needs a KITT API token"),
    ]
    for args, env, why in cases:
        done = kitt(home, "monitoring", "generate", *args, env=env, check=False)
        assert done.returncode == 1 and why in done.stderr and "Traceback" not in done.stderr, done.stderr
    with socket.socket() as held:
        held.bind(("0.0.0.0", 0))
        held.listen()
        busy = held.getsockname()[1]
        taken = kitt(home, "monitoring", "generate", "m", "-t", "a:1", "--grafana-port", str(busy),
                     env={"KITT_AUTH_TOKEN": TOKEN}, check=False)  # fmt: skip
    assert taken.returncode == 1 and f"port {busy} is in use" in taken.stderr
    assert not (home / "monitoring").exists() or list((home / "monitoring").iterdir()) == []
    missing = kitt(home, "monitoring", "start", "--name", "nope", check=False)
    assert missing.returncode == 1 and "no monitoring stack 'nope'" in missing.stderr
    _generate(home, "m", "a:1")
    unknown = kitt(home, "monitoring", "start", "--name", "m", "--without", "nope", check=False)
    assert unknown.returncode == 1 and "no service nope here" in unknown.stderr


async def test_the_dashboards_plot_only_what_kitt_exposes(runtime):
    """Every metric a Prometheus panel reads is one a real KITT's /metrics serves."""
    await imported(runtime, factories.sweep_document("run-d"))
    async with serving(app_for(runtime, token=TOKEN)) as client:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert (
            await client.put("/api/v1/settings/devon_tab_visible", json={"value": True}, headers=auth)
        ).is_success
        exposed = (await client.get("/metrics", headers=auth)).text
    served = set(re.findall(r"^# TYPE (kitt_[a-z_]+) ", exposed, re.M))  # declared, with or without samples
    expressions = _queries("prometheus")
    assert len(expressions) >= 10
    for expr in expressions:
        for name in re.findall(r"\bkitt_[a-z_]+", expr):
            family = re.sub(r"_(bucket|count|sum)$", "", name)
            assert family in served, f"{name} (in {expr!r}) is not in /metrics"
    assert 'kitt_latest_figure{engine="vllm",figure="output_throughput"' in exposed


def _in(folder: Path, project: str, service: str, *command: str) -> str:
    compose = ["docker-compose", "-p", project, "-f", str(folder / "docker-compose.yaml")]
    done = subprocess.run(
        [*compose, "exec", "-T", service, *command], capture_output=True, text=True, timeout=60
    )
    return done.stdout + done.stderr


def _prometheus_up(folder: Path, project: str) -> str:
    return _in(
        folder,
        project,
        "prometheus",
        "promtool",
        "query",
        "instant",
        "http://127.0.0.1:9090",
        'up{job="kitt"}',
    )


@pytest.mark.slow
async def test_a_monitoring_stack_scrapes_kitt_and_takes_its_figures(runtime, tmp_path):
    home = tmp_path / "home"
    env = {"KITT_BASE_IMAGE": await asyncio.to_thread(base_image)}
    port = _free_port()
    app = app_for(runtime, token=TOKEN, own_url=f"http://0.0.0.0:{port}")  # reachable from the bridge
    name, project = "live", "kitt-monitoring-live"
    await asyncio.to_thread(_generate, home, name, f"host.docker.internal:{port}", **env)
    folder = home / "monitoring" / name
    secrets = _env_file(folder)
    influx_port = json.loads((folder / "monitoring.json").read_text())["influxdb_port"]
    try:
        async with serving(app):
            await asyncio.to_thread(kitt, home, "monitoring", "start", "--name", name, "--without", "grafana",
                                    env=env, timeout=900)  # fmt: skip

            async def scraped() -> bool:
                return "=> 1 @" in await asyncio.to_thread(_prometheus_up, folder, project)

            await eventually(scraped, 90, 2, what="Prometheus scraping KITT")
            target = InfluxTarget(url=f"http://127.0.0.1:{influx_port}", user="kitt",
                                  password=secrets["INFLUXDB_KITT_PASSWORD"])  # fmt: skip
            stop = asyncio.Event()
            projector = Projector(InfluxProjection(target), runtime.nc, runtime.engine)
            task = asyncio.create_task(projector.run(stop))
            await imported(runtime, factories.sweep_document("run-live"))
            seq = await load_checkpoint(runtime.engine, "karr")
            await eventually(lambda: _reached(runtime.engine, seq), timeout=90)
            stop.set()
            await asyncio.wait_for(task, 10)
        reader = f"grafana:{secrets['INFLUXDB_GRAFANA_PASSWORD']}"
        count = "q=SELECT count(value) FROM kitt_metric WHERE run_id = 'run-live'"
        url = "http://127.0.0.1:8086/query?db=kitt"
        read = _in(folder, project, "influxdb", "curl", "-sS", "-u", reader, "--data-urlencode", count, url)
        assert ",56]]" in read, read  # 3 levels x (16 latencies + 2 rates) + 2 scores, as Grafana reads them
        refused = _in(
            folder,
            project,
            "influxdb",
            "curl",
            "-sS",
            "http://127.0.0.1:8086/query?db=kitt&q=SHOW+MEASUREMENTS",
        )
        assert "unable to parse authentication credentials" in refused or "authorization failed" in refused, (
            refused
        )
        status = json.loads(
            (await asyncio.to_thread(kitt, home, "monitoring", "status", "--name", name, "--json")).stdout
        )
        assert {s["service"]: s["state"] for s in status["services"]} == {
            "prometheus": "running",
            "influxdb": "running",
        }
    finally:
        await asyncio.to_thread(
            kitt, home, "monitoring", "remove-stack", "--name", name, "--delete-files", check=False
        )
    assert not folder.exists()
    assert docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}").stdout.strip() == ""


async def _reached(engine, seq: int) -> bool:
    return await load_checkpoint(engine, "influxdb") >= seq
