"""`kitt stack`: a generated deployment (NATS with TLS and the auth callout, PostgreSQL from Debian's
package built on the local base, `kitt serve`, `kitt project`) started on the real Docker daemon with
docker-compose, a test run through it on a test agent, stopped and removed; and what a user gets wrong."""

import json
import shutil
import socket
import stat
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from kitt.children import free_port
from tests import workers
from tests.dockerhost import LLAMA_IMAGE, base_image, docker, managed_containers
from tests.test_cli import kitt
from tests.waiting import until

pytestmark = pytest.mark.xdist_group("docker")  # one worker runs every test of the Docker daemon's

_free_port = free_port  # from this worker's band: a stack's published ports never meet another worker's
E2E = workers.project("e2e", workers.number())  # stacks (compose projects kitt-NAME) named by worker
AG = workers.project("ag", workers.number())


def _env_file(folder: Path) -> dict[str, str]:
    lines = (folder / ".env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def test_generate_writes_a_secure_valid_stack(tmp_path):
    home = tmp_path / "home"
    port = _free_port()
    out = kitt(home, "stack", "generate", "lab", "--postgres", "--web", "--port", str(port),
               "--nats-port", str(_free_port()))  # fmt: skip
    folder = home / "stacks" / "lab"
    assert str(folder) in out.stdout
    for secret in (".env", "nats-1.conf", "tls/nats.key"):
        assert stat.S_IMODE((folder / secret).stat().st_mode) == 0o600, secret
    assert not (folder / "tls" / "ca.key").exists()  # the stack's CA signs nothing more
    env = _env_file(folder)
    secrets = [env[k] for k in ("KITT_NATS_PASSWORD", "KITT_NATS_AUTH_PASSWORD", "KITT_NATS_SYS_PASSWORD",
                                "POSTGRES_PASSWORD", "KITT_AUTH_TOKEN")]  # fmt: skip
    assert len(set(secrets)) == len(secrets) and all(len(s) >= 32 for s in secrets)
    compose = (folder / "docker-compose.yaml").read_text()
    assert not any(s in compose for s in secrets)  # the compose file only names them
    assert "postgresql://kitt@postgres:5432/kitt" in compose  # no password in the URL
    assert f'"127.0.0.1:{port}:8080"' in compose  # plain HTTP: published on this machine only
    conf = (folder / "nats-1.conf").read_text()
    assert "tls {" in conf and "auth_callout" in conf and env["KITT_NATS_PASSWORD"] in conf
    again = kitt(home, "stack", "generate", "lab", check=False)
    assert again.returncode == 1 and "exists" in again.stderr
    assert json.loads(kitt(home, "stack", "list", "--json").stdout)[0]["name"] == "lab"


def test_prometheus_scrapes_with_a_viewer_token_and_a_public_url_publishes_on_every_interface(tmp_path):
    home = tmp_path / "home"
    port = _free_port()
    kitt(home, "stack", "generate", "pub", "--web", "--port", str(port), "--monitoring",
         "--public-url", "https://kitt.lab", "--nats-port", str(_free_port()),
         "--grafana-port", str(_free_port()))  # fmt: skip
    folder = home / "stacks" / "pub"
    scraper = (folder / "prometheus" / "kitt-token").read_text().strip()
    assert scraper.startswith("kuser_") and scraper != _env_file(folder)["KITT_AUTH_TOKEN"]
    assert stat.S_IMODE((folder / "prometheus" / "kitt-token").stat().st_mode) == 0o600
    assert f'"{port}:8080"' in (folder / "docker-compose.yaml").read_text()


def test_a_three_node_stack_is_a_cluster(tmp_path):
    home = tmp_path / "home"
    kitt(home, "stack", "generate", "c3", "--nats-replicas", "3", "--nats-port", str(_free_port()))
    folder = home / "stacks" / "c3"
    confs = [(folder / f"nats-{n}.conf").read_text() for n in (1, 2, 3)]
    assert all("cluster {" in c for c in confs)
    assert "nats-2:6222" in confs[0] and "nats-3:6222" in confs[0] and "nats-1:6222" not in confs[0]
    assert 'KITT_STREAM_REPLICAS: "3"' in (folder / "docker-compose.yaml").read_text()


def test_bad_stack_input_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    home = tmp_path / "home"
    bad = kitt(home, "stack", "generate", "Not A Name", check=False)
    assert bad.returncode == 1 and "a stack name is" in bad.stderr
    with socket.socket() as held:
        held.bind(("0.0.0.0", 0))
        held.listen()
        busy = held.getsockname()[1]
        taken = kitt(home, "stack", "generate", "p", "--nats-port", str(busy), check=False)
    assert taken.returncode == 1 and f"port {busy} is in use" in taken.stderr
    assert not (home / "stacks").exists() or list((home / "stacks").iterdir()) == []
    missing = kitt(home, "stack", "start", "--name", "nope", check=False)
    assert missing.returncode == 1 and "no stack 'nope'" in missing.stderr
    kitt(home, "stack", "generate", "d", "--nats-port", str(_free_port()))
    down = kitt(home, "stack", "start", "--name", "d", env={"DOCKER_HOST": f"unix://{tmp_path}/none.sock"},
                check=False)  # fmt: skip
    assert down.returncode == 1 and "the Docker daemon is not answering" in down.stderr
    bare = tmp_path / "bin"
    bare.mkdir()
    (bare / "docker").symlink_to(
        "/usr/local/bin/docker" if Path("/usr/local/bin/docker").exists() else "/usr/bin/docker"
    )
    no_compose = kitt(home, "stack", "start", "--name", "d", env={"PATH": str(bare)}, check=False)
    assert no_compose.returncode == 1 and "Docker Compose is missing" in no_compose.stderr
    no_docker = kitt(
        home, "stack", "start", "--name", "d", env={"PATH": str(tmp_path / "empty")}, check=False
    )
    assert no_docker.returncode == 1 and "docker is not installed" in no_docker.stderr


def _api(port: int, path: str, token: str | None) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except OSError:
        return 0, b""


@pytest.mark.slow
def test_a_stack_starts_runs_a_test_and_stops(tmp_path, kitt_image):
    home = tmp_path / "home"
    env = {"KITT_BASE_IMAGE": base_image()}
    port = _free_port()
    kitt(home, "stack", "generate", E2E, "--postgres", "--web", "--port", str(port), "--monitoring",
         "--grafana-port", str(_free_port()), "--nats-port", str(_free_port()), env=env)  # fmt: skip
    folder = home / "stacks" / E2E
    secrets = _env_file(folder)
    token = secrets["KITT_AUTH_TOKEN"]
    try:  # Grafana's image cannot be pulled here: the rest of the stack starts without it
        kitt(home, "stack", "start", "--name", E2E, "--without", "grafana", env=env, timeout=900)
        until(lambda: _api(port, "/api/v1/runs", token)[0] == 200, 120, 1, what="the stack's API")
        assert _api(port, "/api/v1/runs", None)[0] == 401  # nothing answers without the token
        kitt(home, "stack", "exec", "--name", E2E, "agents", "create-test", "sim-1", "--speed", "0.05")
        ran = kitt(home, "stack", "exec", "--name", E2E, "quicktest", "run", "--agent", "sim-1",
                   "-m", "/models/llama-8b", "-e", "vllm", "--wait", "--json", timeout=300)  # fmt: skip
        test = json.loads(ran.stdout[ran.stdout.index("{") :])
        assert test["status"] == "succeeded" and test["simulated"] is True, test
        status, body = _api(port, "/api/v1/runs", token)
        assert status == 200 and test["run_id"] in body.decode()  # in KARR, on PostgreSQL
        _in_influx_and_scraped(folder, test["run_id"], secrets["INFLUXDB_GRAFANA_PASSWORD"])
        services = json.loads(kitt(home, "stack", "status", "--name", E2E, "--json").stdout)["services"]
        assert {s["service"]: s["state"] for s in services} == {
            "nats-1": "running", "postgres": "running", "serve": "running", "project": "running",
            "prometheus": "running", "influxdb": "running",
        }  # fmt: skip
        kitt(home, "stack", "stop", "--name", E2E)
        stopped = json.loads(kitt(home, "stack", "status", "--name", E2E, "--json").stdout)["services"]
        assert {s["state"] for s in stopped} == {"exited"}
    finally:
        kitt(home, "stack", "remove", "--name", E2E, "--delete-files", check=False)
    assert not folder.exists()
    assert (
        docker("ps", "-aq", "--filter", f"label=com.docker.compose.project=kitt-{E2E}").stdout.strip() == ""
    )
    assert f"kitt-{E2E}" not in docker("volume", "ls", "-q").stdout


def _in_influx_and_scraped(folder: Path, run_id: str, reader_password: str) -> None:
    """The stack's projector wrote the run's figures into its InfluxDB, and its Prometheus scrapes serve."""
    from tests.test_monitoring import _in

    query = f"q=SELECT count(value) FROM kitt_metric WHERE run_id = '{run_id}' AND simulated = 'true'"
    url = "http://127.0.0.1:8086/query?db=kitt"

    def in_influx() -> str | None:
        read = _in(folder, f"kitt-{E2E}", "influxdb", "curl", "-sS", "-u", f"grafana:{reader_password}",
                   "--data-urlencode", query, url)  # fmt: skip
        return read if '"values":[[' in read else None

    until(in_influx, 60, 1, what="the run in the stack's InfluxDB")
    up = 'up{job="kitt"}'

    def scraped() -> bool:
        said = _in(
            folder, f"kitt-{E2E}", "prometheus", "promtool", "query", "instant", "http://127.0.0.1:9090", up
        )
        return "=> 1 @" in said

    until(scraped, 120, 2, what="Prometheus scraping serve")


def _readable_models(tiny_model: Path) -> Path:
    """A model folder the stack's user (not root) can read: outside pytest's 0700 temp folders."""
    folder = Path(tempfile.mkdtemp(prefix="kitt-stack-models-"))
    folder.chmod(0o755)
    shutil.copy(tiny_model, folder / "tiny.gguf")
    (folder / "tiny.gguf").chmod(0o644)
    return folder


@pytest.mark.slow
def test_a_stack_agent_runs_a_real_engine_beside_it(tmp_path, kitt_image, tiny_model):
    """`--agent`: a kitt-agent container on this host, provisioned by its token's SHA-256 at start, runs
    a quick test on the real llama.cpp image as a sibling container reading the stack's model folder."""
    home = tmp_path / "home"
    env = {"KITT_BASE_IMAGE": base_image()}
    if docker("image", "inspect", LLAMA_IMAGE, check=False).returncode != 0:
        kitt(home, "engines", "setup", "llama_cpp", env=env, timeout=900)
    models = _readable_models(tiny_model)
    nats_port = str(_free_port())
    kitt(home, "stack", "generate", AG, "--agent", "--models", str(models), "--nats-port", nats_port, env=env)
    folder = home / "stacks" / AG
    assert stat.S_IMODE((folder / "agent" / "agent.yaml").stat().st_mode) == 0o600
    try:
        kitt(home, "stack", "start", "--name", AG, env=env, timeout=900)

        def agent_online() -> bool:
            listed = kitt(home, "stack", "exec", "--name", AG, "agents", "list", "--json", check=False)
            agents = (
                json.loads(listed.stdout[listed.stdout.find("[") :] or "[]") if listed.returncode == 0 else []
            )
            return any(a["name"] == "stack-agent" and a["online"] for a in agents)

        until(agent_online, 120, 2, what="the stack's agent online")
        ran = kitt(home, "stack", "exec", "--name", AG, "quicktest", "run", "--agent", "stack-agent",
                   "-m", "/models/tiny.gguf", "-e", "llama_cpp", "--runtime", "docker", "--wait", "--json",
                   timeout=600)  # fmt: skip
        test = json.loads(ran.stdout[ran.stdout.index("{") :])
        assert test["status"] == "succeeded" and test["simulated"] is False, ran.stdout[-3000:]
        assert managed_containers() == []  # the engine's container is gone
        again = kitt(home, "stack", "start", "--name", AG, env=env, timeout=300)  # provisioned already: fine
        assert "started" in again.stdout
    finally:
        kitt(home, "stack", "remove", "--name", AG, "--delete-files", check=False)
        shutil.rmtree(models, ignore_errors=True)
    assert docker("ps", "-aq", "--filter", f"label=com.docker.compose.project=kitt-{AG}").stdout.strip() == ""
