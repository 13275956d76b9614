"""`kitt monitoring generate`: Prometheus, InfluxDB and Grafana for KITT, written whole or not at all.

Into KITT_HOME/monitoring/NAME/: docker-compose.yaml; prometheus/ (its configuration, scraping each
target's /metrics with KITT's API token from kitt-token, 0600, and its Dockerfile on Debian's package);
influxdb/ (Dockerfile on Debian's package, auth always on); grafana/ (provisioned datasources and the
fleet, projector and results dashboards); .env (0600: Grafana's and InfluxDB's passwords, made here at
random). `kitt stack generate --monitoring` puts the same services into a stack, scraping its `serve`.
"""

import os
import re
import shutil
from pathlib import Path

import msgspec

from kitt import __version__
from kitt.auth import credentials
from kitt.engines.docker import DOCKERFILES
from kitt.stack import files
from kitt.stack.options import NAME, StackError, port_in_use

GRAFANA = Path(__file__).parent / "grafana"
TARGET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*:\d{1,5}$")


class MonitoringOptions(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    targets: tuple[str, ...]  # HOST:PORT of each KITT API whose /metrics Prometheus scrapes
    scheme: str = "http"
    interval: str = "15s"
    grafana_port: int = 3000
    influxdb_port: int = 8086  # where KITT's projector (kitt up / kitt project) writes its figures

    def __post_init__(self) -> None:
        if not NAME.match(self.name):
            raise StackError(
                "a monitoring stack name is 1-40 lowercase letters, digits, '-' or '_', starting with a "
                f"letter or digit; not {self.name!r}"
            )
        if not self.targets:
            raise StackError("name at least one KITT to scrape: -t HOST:PORT")
        for target in self.targets:
            if not TARGET.match(target) or not 0 < int(target.rsplit(":", 1)[1]) < 65536:
                raise StackError(f"a target is HOST:PORT (e.g. kitt.lan:8080), not {target!r}")
        if self.scheme not in ("http", "https"):
            raise StackError(f"--scheme is http or https, not {self.scheme!r}")
        if self.grafana_port == self.influxdb_port:
            raise StackError(f"Grafana and InfluxDB are both on port {self.grafana_port}")

    @property
    def project(self) -> str:
        return f"kitt-monitoring-{self.name}"


def folder(home: Path, name: str) -> Path:
    return home / "monitoring" / name


def secrets() -> dict[str, str]:
    return {
        "GRAFANA_ADMIN_PASSWORD": credentials.new_password(),
        "INFLUXDB_ADMIN_PASSWORD": credentials.new_password(),
        "INFLUXDB_KITT_PASSWORD": credentials.new_password(),
        "INFLUXDB_GRAFANA_PASSWORD": credentials.new_password(),
    }


def token_path(target: Path) -> Path:
    """The API token Prometheus sends (0600)."""
    return target / "prometheus" / "kitt-token"


def write_services(target: Path, token: str, targets: list[str], scheme: str, interval: str) -> None:
    """The services' own files, in a stack's or a monitoring stack's folder."""
    (target / "prometheus").mkdir()
    prometheus = files.templates.get_template("monitoring/prometheus.yml.j2").render(
        version=__version__, targets=targets, scheme=scheme, interval=interval
    )
    (target / "prometheus" / "prometheus.yml").write_text(prometheus)
    files.write_secret(token_path(target), token)
    shutil.copy(DOCKERFILES / "prometheus.Dockerfile", target / "prometheus" / "Dockerfile")
    (target / "influxdb").mkdir()
    for name in ("influxdb.conf", "influxdb-entrypoint.sh"):
        shutil.copy(DOCKERFILES / name, target / "influxdb" / name)
    shutil.copy(DOCKERFILES / "influxdb.Dockerfile", target / "influxdb" / "Dockerfile")
    provisioning = target / "grafana" / "provisioning"
    for sub in ("datasources", "dashboards"):
        (provisioning / sub).mkdir(parents=True)
        text = files.templates.get_template(f"monitoring/{sub}.yaml").render()
        (provisioning / sub / f"kitt-{sub}.yaml").write_text(text)
    shutil.copytree(GRAFANA, target / "grafana" / "dashboards")


def _render(options: MonitoringOptions, token: str, target: Path) -> None:
    compose = files.templates.get_template("monitoring/docker-compose.yaml.j2").render(
        o=options,
        version=__version__,
        network="monitoring",
        influxdb_port=options.influxdb_port,
        grafana_port=options.grafana_port,
    )
    (target / "docker-compose.yaml").write_text(compose)
    (target / "monitoring.json").write_bytes(msgspec.json.encode(options))
    write_services(target, token, list(options.targets), options.scheme, options.interval)
    owner = files.owner()
    values = {"KITT_UID": str(owner[0]), "KITT_GID": str(owner[1]), **secrets()}
    if os.environ.get("KITT_BASE_IMAGE"):
        values["KITT_BASE_IMAGE"] = os.environ["KITT_BASE_IMAGE"]
    files.write_secret(target / ".env", files.env_file(values))
    files.hand_over(target)


def generate(home: Path, options: MonitoringOptions, token: str, *, force: bool = False) -> Path:
    if not token.strip() or any(c.isspace() for c in token.strip()):
        raise StackError("the KITT API token for Prometheus is empty or not one word")
    target = folder(home, options.name)
    if target.exists() and not force:
        raise StackError(f"monitoring stack {options.name!r} exists at {target}: remove it first, or --force")
    for port in (options.grafana_port, options.influxdb_port):
        if port_in_use(port):
            raise StackError(
                f"port {port} is in use on this host: choose another (--grafana-port / --influxdb-port)"
            )
    with files.staged(target) as staging:
        _render(options, token.strip(), staging)
    return target


def load(home: Path, name: str) -> tuple[MonitoringOptions, Path]:
    where = folder(home, name)
    try:
        return msgspec.json.decode((where / "monitoring.json").read_bytes(), type=MonitoringOptions), where
    except FileNotFoundError:
        raise StackError(
            f"no monitoring stack {name!r} (in {where.parent}): `kitt monitoring list-stacks` shows them"
        ) from None


def stacks(home: Path) -> list[str]:
    root = home / "monitoring"
    return sorted(p.name for p in root.iterdir() if (p / "monitoring.json").exists()) if root.is_dir() else []
