"""The `kitt` CLI as a user runs it: subprocesses in a temporary KITT_HOME."""

import json
import os
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from kitt.children import free_port
from kitt.projections.db import create_engine
from kitt.storage.documents import dumps
from tests.factories import document
from tests.snapshots import snapshot
from tests.waiting import until

KITT = [sys.executable, "-m", "kitt.cli.main"]


def kitt(
    home: Path, *args: str, env: dict[str, str] | None = None, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "KITT_HOME": str(home), **(env or {})}
    full_env.pop("KITT_NATS_URL", None) if "KITT_NATS_URL" not in (env or {}) else None
    result = subprocess.run([*KITT, *args], env=full_env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"kitt {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


def _nats_children(home: Path) -> list[str]:
    out = subprocess.run(["pgrep", "-f", str(home / "nats")], capture_output=True, text=True)
    return out.stdout.split()


def _until_up(up: subprocess.Popen, home: Path) -> None:
    """`kitt up` has written its instance record, or has exited (its stderr says why)."""

    def started() -> bool:
        assert up.poll() is None, up.stderr.read() if up.stderr else up.returncode
        return (home / "instance.json").exists()

    until(started, 30, 0.1, what="kitt up's instance.json")


@pytest.fixture
def docs_file(tmp_path: Path) -> Path:
    path = tmp_path / "results.json"
    path.write_bytes(dumps([document("run-1"), document("run-2", seed=5)]))
    return path


def test_version():
    assert subprocess.run([*KITT, "--version"], capture_output=True, text=True).stdout.startswith(
        "kitt, version "
    )
    agent = subprocess.run(
        [sys.executable, "-c", "from kitt.agent.cli import main; main()", "--version"],
        capture_output=True,
        text=True,
    )
    assert agent.stdout.startswith("kitt-agent, version ")


def test_every_command_loads_and_help_lists_it():
    """Commands are imported when they run (kitt.cli.main.COMMANDS): each one named there must load, under
    that name, and `kitt --help` lists them all."""
    from kitt.cli.main import COMMANDS, cli

    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0, result.output
    listed = [line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == sorted(COMMANDS)
    assert {"campaign", "storage", "up", "run"} <= set(listed)
    campaign = CliRunner().invoke(cli, ["campaign", "--help"]).output
    assert "create" in campaign and "schedule" in campaign  # added by the modules loaded after its own


def test_events_schema_lists_every_event(tmp_path):
    schema = json.loads(kitt(tmp_path, "events", "schema").stdout)
    assert "RunStarted" in schema["$defs"] and "DispatchRequested" in schema["$defs"]


@pytest.mark.slow
def test_up_serves_other_commands_and_stops_cleanly_on_sigterm(tmp_path, docs_file):
    home = tmp_path / "home"
    env = {**os.environ, "KITT_HOME": str(home)}
    env.pop("KITT_NATS_URL", None)
    env.pop("KITT_DATABASE_URL", None)
    up = subprocess.Popen([*KITT, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _until_up(up, home)
        record = json.loads((home / "instance.json").read_text())
        assert record["pid"] == up.pid and record["nats_url"].startswith("nats://127.0.0.1:")
        assert not record["nats_url"].endswith(":4222")
        assert len(_nats_children(home)) == 1
        # Another command uses the running instance: no second nats-server, and its write lands.
        kitt(home, "storage", "import", str(docs_file))
        listed = json.loads(kitt(home, "storage", "list", "--json").stdout)
        assert sorted(r["run_id"] for r in listed) == ["run-1", "run-2"]
        assert len(_nats_children(home)) == 1
        second = kitt(home, "up", check=False)
        assert second.returncode == 1 and "already running" in second.stderr
    finally:
        up.send_signal(signal.SIGTERM)
        assert up.wait(30) == 0
    assert not (home / "instance.json").exists()
    assert _nats_children(home) == []
    # Started again, it listens where it did: agents on this machine find it after a restart.
    again = subprocess.Popen([*KITT, "up", "--no-api"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        _until_up(again, home)
        assert json.loads((home / "instance.json").read_text())["nats_url"] == record["nats_url"]
    finally:
        again.send_signal(signal.SIGTERM)
        assert again.wait(30) == 0


def test_serving_beyond_loopback_needs_an_auth_token(tmp_path):
    refused = kitt(tmp_path / "home", "up", "--host", "0.0.0.0", check=False)
    assert refused.returncode == 1 and "set KITT_AUTH_TOKEN first" in refused.stderr
    assert not (tmp_path / "home" / "nats").exists()  # refused before anything started
    bad = kitt(tmp_path / "home", "up", "--agents", "somewhere", check=False)
    assert bad.returncode == 1 and "expected HOST:PORT" in bad.stderr


def test_a_stale_instance_record_is_replaced(tmp_path, docs_file):
    home = tmp_path / "home"
    home.mkdir()
    stale = {
        "pid": 999999,
        "nats_url": "nats://127.0.0.1:1",
        "database_url": "sqlite:///x",
        "started_at": "2026-01-01T00:00:00Z",
    }
    (home / "instance.json").write_text(json.dumps(stale))
    kitt(home, "storage", "import", str(docs_file))
    assert len(json.loads(kitt(home, "storage", "list", "--json").stdout)) == 2
    assert _nats_children(home) == []


async def test_export_import_round_trip_is_lossless(tmp_path, docs_file, database_url):
    """import -> export -> import (into a fresh home) -> export: same documents, same rows."""
    first, second = tmp_path / "first", tmp_path / "second"
    db_first = {"KITT_DATABASE_URL": database_url}
    kitt(first, "storage", "import", str(docs_file), env=db_first)
    exported = tmp_path / "export.json"
    kitt(first, "storage", "export", "-o", str(exported), env=db_first)
    kitt(second, "storage", "import", str(exported))
    again = kitt(second, "storage", "export").stdout
    assert again == exported.read_text() == docs_file.read_text()
    engines = [create_engine(database_url), create_engine(f"sqlite:///{second / 'karr.db'}")]
    try:
        a, b = [await snapshot(e) for e in engines]
    finally:
        for e in engines:
            await e.dispose()
    assert a["karr_runs"] == b["karr_runs"] and a["karr_metrics"] == b["karr_metrics"]
    assert a["karr_benchmarks"] == b["karr_benchmarks"]
    # Importing the same runs again changes nothing.
    repeat = kitt(first, "storage", "import", str(exported), env=db_first)
    assert "run-1: skipped" in repeat.stdout


def test_invalid_result_document_is_refused_and_nothing_is_written(tmp_path, docs_file):
    bad = tmp_path / "bad.json"
    good = json.loads(docs_file.read_text())
    good[1]["benchmarks"][0]["metrics"][0]["value"] = "fast"
    bad.write_text(json.dumps(good))
    result = kitt(tmp_path, "storage", "import", str(bad), check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: {bad}[1]: Expected `float | null`, got `str` - at `$.benchmarks[0].metrics[0].value`"
    ]
    assert (
        not (tmp_path / "karr.db").exists()
        or json.loads(kitt(tmp_path, "storage", "list", "--json").stdout) == []
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KITT_DATABASE_URL": "mysql://root@localhost/kitt"}, "unsupported database 'mysql'"),
        ({"KITT_DATABASE_URL": "postgresql://kitt@127.0.0.1:1/kitt"}, "cannot use the database"),
        ({"KITT_DATABASE_URL": "not a url"}, "is not a database URL"),
        ({"KITT_NATS_URL": "nats://127.0.0.1:1"}, "cannot reach NATS at nats://127.0.0.1:1"),
    ],
)
def test_bad_environment_is_a_one_line_error(tmp_path, docs_file, env, message):
    result = kitt(tmp_path, "storage", "import", str(docs_file), env=env, check=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_tail_status_and_rebuild_from_the_command_line(tmp_path, docs_file):
    kitt(tmp_path, "storage", "import", str(docs_file))
    lines = kitt(tmp_path, "events", "tail", "--from-start", "-n", "3", "--subject", "ev.run.run-1.>").stdout
    events = [json.loads(line) for line in lines.splitlines()]
    assert [e["seq"] for e in events] == [1, 2, 3]
    assert [e["event"]["type"] for e in events] == [
        "run_started",
        "benchmark_completed",
        "benchmark_completed",
    ]
    rebuilt = kitt(tmp_path, "projections", "rebuild", "karr").stdout
    assert rebuilt.strip() == "karr: rebuilt up to event 8"
    status = {s["name"]: s for s in json.loads(kitt(tmp_path, "projections", "status", "--json").stdout)}
    assert status["karr"]["last_seq"] == 8 and status["karr"]["lag"] == 0
    assert len(json.loads(kitt(tmp_path, "storage", "list", "--json").stdout)) == 2
    unknown = kitt(tmp_path, "projections", "rebuild", "nope", check=False)
    assert unknown.returncode == 1 and "unknown projection 'nope'" in unknown.stderr


@pytest.mark.slow
def test_web_serves_https_on_kitts_own_ca_and_serve_wants_external_services(tmp_path):
    home = tmp_path / "home"
    env = {**os.environ, "KITT_HOME": str(home)}
    env.pop("KITT_NATS_URL", None)
    env.pop("KITT_DATABASE_URL", None)
    refused = kitt(home, "serve", check=False)
    assert refused.returncode == 1 and "KITT_NATS_URL" in refused.stderr
    port = free_port()
    web = subprocess.Popen(
        [*KITT, "web", "--tls", "--no-open", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = web.stdout.readline()
        assert line.strip() == f"KITT web UI: https://127.0.0.1:{port}", web.stderr.read()
        authority = home / "tls" / "ca.crt"  # the pair is issued by KITT's own CA, the one agents get
        assert (home / "tls" / "kitt-web.key").stat().st_mode & 0o777 == 0o600
        assert (home / "tls" / "ca.key").stat().st_mode & 0o777 == 0o600
        trusted = ssl.create_default_context(cafile=str(authority))
        anonymous = httpx.get(f"https://127.0.0.1:{port}/api/v1/runs", verify=trusted)
        assert anonymous.status_code == 401  # KITT_AUTH_TOKEN unset: the owner's token, still
        token = (home / "api-token").read_text().strip()
        assert (home / "api-token").stat().st_mode & 0o777 == 0o600
        owner = {"Authorization": f"Bearer {token}"}
        page = httpx.get(f"https://127.0.0.1:{port}/runs", verify=trusted, headers=owner)
        assert page.status_code == 200 and "Results" in page.text
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"https://127.0.0.1:{port}/", verify=True)  # self-signed: not trusted by default
        again = kitt(home, "web", "--no-open").stdout.splitlines()
        assert again[0] == f"KITT web UI: https://127.0.0.1:{port}"  # the running one
        assert str(home / "api-token") in again[1] and token not in "".join(again)
        login_page = home / "web-login.html"  # what a browser would open: it posts the token
        assert login_page.stat().st_mode & 0o777 == 0o600 and token in login_page.read_text()
    finally:
        web.send_signal(signal.SIGTERM)
        assert web.wait(30) == 0


def test_users_get_tokens_by_role_and_lose_them_on_revoke(tmp_path):
    issued = kitt(tmp_path, "users", "issue", "grafana", "--role", "viewer").stdout
    token = issued.splitlines()[-1].strip()
    assert token.startswith("kuser_") and "grafana (viewer)" in issued
    by_hash = kitt(tmp_path, "users", "issue", "ci", "--role", "admin", "--token-hash", "a" * 64).stdout
    assert "whose SHA-256 was given" in by_hash and "kuser_" not in by_hash
    bad = kitt(tmp_path, "users", "issue", "x", "--token-hash", "not-a-hash", check=False)
    assert bad.returncode != 0 and "64 lowercase hex digits" in bad.stderr
    reserved = kitt(tmp_path, "users", "issue", "local", check=False)
    assert reserved.returncode == 1 and "not admin, agent or local" in reserved.stderr
    listed = json.loads(kitt(tmp_path, "users", "list", "--json").stdout)
    assert [(u["name"], u["role"]) for u in listed] == [("ci", "admin"), ("grafana", "viewer")]
    kitt(tmp_path, "users", "revoke", "grafana")
    assert [u["name"] for u in json.loads(kitt(tmp_path, "users", "list", "--json").stdout)] == ["ci"]
