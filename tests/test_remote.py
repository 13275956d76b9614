"""`kitt remote` end to end against a real sshd on loopback (the "remote" is this machine under another
HOME, tests/sshhost.py): setup installs this KITT there from this server's package, a campaign runs there
detached on a test agent (its results say simulated), and sync brings its runs into this KARR as events.
And what goes wrong: bad targets, an unreachable host, a wrong key, a host whose key changed, a bad file."""

import json
import shlex
import subprocess

import pytest
import yaml

from kitt import __version__
from tests.sshhost import SshHost, keypair
from tests.test_cli import kitt

pytestmark = pytest.mark.slow  # a real sshd

CAMPAIGN = "name: remote-sweep\nagent: sim-r\nmodels: [/m/llama-8b, /m/qwen-7b]\nengines: [vllm]\n"


@pytest.fixture
def sshd(tmp_path):
    host = SshHost(tmp_path / "ssh")
    host.start()
    yield host
    host.stop()


def _setup_args(sshd: SshHost, *extra: str) -> list[str]:
    return ["remote", "setup", f"{sshd.user}@127.0.0.1", "--name", "lab", "--port", str(sshd.port),
            "--ssh-key", str(sshd.client_key), *extra]  # fmt: skip


def _on_remote(sshd: SshHost, *args: str) -> str:
    """kitt on the remote host, as a user would type it there (for what `kitt remote` does not do)."""
    command = f'cd "$HOME" && .kitt-venv/bin/kitt {shlex.join(args)}'
    ssh = ["ssh", "-i", str(sshd.client_key), "-p", str(sshd.port), "-o", "BatchMode=yes",
           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]  # fmt: skip
    done = subprocess.run(
        [*ssh, f"{sshd.user}@127.0.0.1", command], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_setup_run_a_campaign_there_and_sync_its_results_here(sshd, tmp_path):
    home = tmp_path / "home"
    done = kitt(home, *_setup_args(sshd), timeout=1200)
    assert f"lab: KITT {__version__}" in done.stdout and "python 3." in done.stdout
    assert (sshd.home / ".kitt-venv" / "bin" / "kitt").exists()  # in the remote HOME, not the real one
    recorded = yaml.safe_load((home / "hosts.yaml").read_text())["hosts"]
    assert [(h["name"], h["kitt_version"], h["port"]) for h in recorded] == [("lab", __version__, sshd.port)]
    assert (home / "hosts.yaml").stat().st_mode & 0o077 == 0
    host_key = (sshd.root / "host-key.pub").read_text().split()[1]
    assert host_key in (home / "ssh" / "known_hosts").read_text()  # its key, recorded on first contact
    listed = json.loads(kitt(home, "remote", "list", "--json").stdout)
    assert [(h["name"], h["user"], h["hostname"]) for h in listed] == [("lab", sshd.user, "127.0.0.1")]
    assert f"KITT {__version__}" in kitt(home, "remote", "test", "lab").stdout
    plan = kitt(home, "remote", "engines", "setup", "llama_cpp", "--host", "lab", "--dry-run").stdout
    assert "llama" in plan.lower()

    _on_remote(sshd, "agents", "create-test", "sim-r", "--speed", "0.02")
    campaign = tmp_path / "campaign.yaml"
    campaign.write_text(CAMPAIGN)
    dry = kitt(home, "remote", "run", str(campaign), "--host", "lab", "--dry-run").stdout
    assert "2 items to run" in dry
    ran = kitt(home, "remote", "run", str(campaign), "--host", "lab", "--wait", timeout=600)
    assert "campaign started on lab" in ran.stdout and "succeeded" in ran.stdout, ran.stdout
    status = json.loads(kitt(home, "remote", "status", "--host", "lab", "--json").stdout)
    assert status["last_run_state"] == "ended (0)"
    assert [(c["name"], c["status"], c["finished_items"]) for c in status["campaigns"]] == [
        ("remote-sweep", "succeeded", 2)
    ]
    assert kitt(home, "remote", "logs", "--host", "lab", "--tail", "3").stdout.strip()

    synced = kitt(home, "remote", "sync", "--host", "lab", "-o", str(tmp_path / "synced"), timeout=600)
    assert synced.stdout.count(": imported") == 2, synced.stdout
    runs = json.loads(kitt(home, "storage", "list", "--json").stdout)
    assert sorted(r["model"] for r in runs) == ["/m/llama-8b", "/m/qwen-7b"]
    assert all(r["simulated"] and r["agent"] == "sim-r" for r in runs)
    again = kitt(home, "remote", "sync", "--host", "lab", "-o", str(tmp_path / "synced"), timeout=600)
    assert again.stdout.count("skipped") == 2  # the same runs: imported once
    assert len(json.loads(kitt(home, "storage", "list", "--json").stdout)) == 2

    kitt(home, "remote", "remove", "lab")
    assert json.loads(kitt(home, "remote", "list", "--json").stdout) == []


def test_what_goes_wrong_is_one_line(sshd, tmp_path):
    home = tmp_path / "home"
    bad = kitt(home, "remote", "setup", "no-user-here", check=False)
    assert bad.returncode == 1 and "a remote host is USER@HOST" in bad.stderr
    closed = kitt(home, "remote", "setup", f"{sshd.user}@127.0.0.1", "--port", "1", "--ssh-key",
                  str(sshd.client_key), check=False)  # fmt: skip
    assert closed.returncode == 1 and "cannot reach" in closed.stderr and "Traceback" not in closed.stderr
    stranger = keypair(tmp_path / "stranger")
    refused = kitt(home, "remote", "setup", f"{sshd.user}@127.0.0.1", "--port", str(sshd.port), "--ssh-key",
                   str(stranger), check=False)  # fmt: skip
    assert refused.returncode == 1 and "Permission denied" in refused.stderr
    nothing = kitt(home, *_setup_args(sshd, "--no-install"), check=False)
    assert nothing.returncode == 1 and "no KITT in .kitt-venv" in nothing.stderr
    assert not (home / "hosts.yaml").exists()  # nothing recorded for a host that failed its setup
    unknown = kitt(home, "remote", "status", "--host", "nowhere", check=False)
    assert unknown.returncode == 1 and "no remote host 'nowhere'" in unknown.stderr

    # A host recorded with --no-install (KITT put there by hand) whose key then changes is refused.
    (sshd.home / ".kitt-venv" / "bin").mkdir(parents=True)
    fake = sshd.home / ".kitt-venv" / "bin" / "kitt"
    fake.write_text(f"#!/bin/sh\necho 'kitt, version {__version__}'\n")
    fake.chmod(0o755)
    kitt(home, *_setup_args(sshd, "--no-install"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nagent: sim\nmodels: [/m/a]\nengines: vllm: [\n")
    parsed = kitt(home, "remote", "run", str(broken), "--host", "lab", check=False)
    assert parsed.returncode == 1 and "broken.yaml: line" in parsed.stderr
    assert not (sshd.home / ".kitt-remote").exists()  # nothing was sent
    logs = kitt(home, "remote", "logs", "--host", "lab", check=False)
    assert logs.returncode == 1 and "no campaign started on lab" in logs.stderr
    sshd.stop()
    sshd.new_host_key()
    sshd.start()
    changed = kitt(home, "remote", "test", "lab", check=False)
    assert changed.returncode == 1 and "Host key verification failed" in changed.stderr
