"""Model staging on an agent, on the real filesystem: only a copy the agent made is ever deleted, and a
layout that could delete the share, `/` or a model that was already local is refused, on the server (the
settings command) and on the agent."""

import ipaddress
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kitt.agent import models, updating
from kitt.agent.config import AgentConfig
from kitt.auth import tokens
from kitt.commands import decide
from kitt.commands import messages as m
from kitt.events import types as ev

TOKEN = tokens.new()


def _config(**settings) -> AgentConfig:
    return AgentConfig(name="gpu", server="nats://127.0.0.1:4222", token=TOKEN, **settings)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_model_copied_from_the_share_is_removed_and_nothing_else(tmp_path):
    share, local = tmp_path / "share", tmp_path / "local"
    (share / "llama").mkdir(parents=True)
    (share / "llama" / "m.gguf").write_bytes(b"GGUF-shared")
    config = _config(nfs_mount=str(share), model_dir=str(local), cleanup_models=True)
    staged = models.stage("llama/m.gguf", config)
    assert staged.copied_from == str((share / "llama" / "m.gguf").resolve())
    assert Path(staged.path).read_bytes() == b"GGUF-shared"
    models.clean(staged)
    assert not Path(staged.path).exists() and (share / "llama" / "m.gguf").exists()


def test_a_model_already_local_is_used_and_kept(tmp_path):
    share, local = tmp_path / "share", tmp_path / "local"
    (share / "m").mkdir(parents=True)
    (share / "m" / "weights.safetensors").write_bytes(b"shared")
    (local / "m").mkdir(parents=True)
    (local / "m" / "weights.safetensors").write_bytes(b"mine, tuned by hand")
    config = _config(nfs_mount=str(share), model_dir=str(local), cleanup_models=True)
    staged = models.stage("m", config)
    assert staged.copied_from is None and not staged.remove_after
    models.clean(staged)
    assert _tree(local) == {"m/weights.safetensors": b"mine, tuned by hand"}


@pytest.mark.parametrize(
    ("mount", "folder", "why"),
    [
        ("/", "{tmp}/local", "cannot be /"),
        ("{tmp}/share", "/", "cannot be /"),
        ("{tmp}/share", "{tmp}/share", "the same folder"),
        ("{tmp}/share", "{tmp}/share/cache", "inside the share"),
    ],
)
def test_layouts_that_could_delete_what_is_not_a_copy_are_refused(tmp_path, mount, folder, why):
    victim = tmp_path / "share" / "victim"
    victim.mkdir(parents=True)
    (victim / "precious.bin").write_bytes(b"do not delete")
    mount, folder = mount.format(tmp=tmp_path), folder.format(tmp=tmp_path)
    config = _config(nfs_mount=mount, model_dir=folder, cleanup_models=True)
    with pytest.raises(models.ModelPathError, match=why):
        models.stage(str(victim), config)
    assert (victim / "precious.bin").read_bytes() == b"do not delete"
    history = [ev.AgentProvisioned(name="gpu", token_hash="0" * 64)]
    command = m.ChangeAgentSettings(agent_id="gpu", settings={"nfs_mount": mount, "model_dir": folder})
    with pytest.raises(decide.Rejected, match=why) as refused:
        decide.change_agent_settings(command, "gpu", history)
    assert refused.value.code == "invalid"


def test_a_failed_copy_leaves_no_half_model(tmp_path):
    share, local = tmp_path / "share", tmp_path / "local"
    (share / "m").mkdir(parents=True)
    (share / "m" / "a.bin").write_bytes(b"a")
    local.mkdir()
    (local / ".m.kitt-partial").mkdir()  # in the way: copytree refuses to copy onto it
    config = _config(nfs_mount=str(share), model_dir=str(local), cleanup_models=True)
    with pytest.raises(OSError):
        models.stage("m", config)
    assert not (local / "m").exists()  # the engine never sees a model that is half there


def test_the_update_takes_only_a_plain_wheel_name():
    assert updating.safe_wheel_name("kitt-0.1.0-py3-none-any.whl") == "kitt-0.1.0-py3-none-any.whl"
    for offered in ("../../.bashrc", "/etc/passwd.whl", "x.whl; rm -rf ~", ".hidden.whl", "kitt.tar.gz"):
        with pytest.raises(updating.UpdateError, match="not a wheel's name"):
            updating.safe_wheel_name(offered)


def test_an_agent_config_never_holds_a_service_password():
    with pytest.raises(ValueError, match="must not carry a user or password"):
        AgentConfig(name="gpu", server="nats://kitt:secret@server:4222", token=TOKEN)
    assert AgentConfig(name="gpu", server="wss://server:4443", token=TOKEN).server == "wss://server:4443"


def _this_hosts_address() -> str:
    """A non-loopback address of this machine (no packet is sent: a UDP socket's route lookup)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("10.255.255.255", 1))
        return probe.getsockname()[0]


def test_an_update_over_plain_http_from_another_host_is_refused_before_anything_is_sent():
    """A fake update server (on this machine, reached by its network address as another host would be)
    offers a wheel with a matching checksum: the agent refuses plain http beyond loopback and sends it
    nothing, not even its token. On loopback it asks (and here refuses a checksum that does not match)."""
    heard: list[str] = []
    wheel = b"PK not really a wheel"

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            heard.append(self.headers.get("Authorization", ""))
            self.send_response(200)
            self.send_header("X-Checksum-Sha256", "0" * 64)
            self.send_header("Content-Disposition", 'attachment; filename="kitt-9.9.9-py3-none-any.whl"')
            self.end_headers()
            self.wfile.write(wheel)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("0.0.0.0", 0), Handler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    token = tokens.new()
    try:
        address = _this_hosts_address()
        assert not ipaddress.ip_address(address).is_loopback
        for api in (f"http://{address}:{port}", f"http://kitt.lab:{port}", f"ftp://127.0.0.1:{port}"):
            with pytest.raises(updating.UpdateError, match="plain http is refused beyond this machine"):
                updating.install_from(api, token)
        assert heard == []
        with pytest.raises(updating.UpdateError, match="the server said 0000"):
            updating.install_from(f"http://127.0.0.1:{port}", token)
        assert heard == [f"Bearer {token}"]
    finally:
        server.shutdown()
        server.server_close()
