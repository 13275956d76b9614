"""`KITT_PORT_RANGE`: the ports KITT hands its embedded NATS and native engines (kitt/children.py)."""

import socket

import pytest

from kitt.children import free_port, port_band


def test_ports_come_from_the_band_and_skip_a_taken_one(monkeypatch):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        taken = held.getsockname()[1]
        monkeypatch.setenv("KITT_PORT_RANGE", f"{taken}-{taken + 20}")
        given = [free_port() for _ in range(100)]  # more than it remembers: it hands out again
    assert taken not in given and all(taken < port <= taken + 20 for port in given)
    assert len(set(given[:10])) == 10  # not one it gave out lately while others are free


def test_a_band_with_nothing_free_is_a_clear_error(monkeypatch):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        taken = held.getsockname()[1]
        monkeypatch.setenv("KITT_PORT_RANGE", f"{taken}-{taken}")
        with pytest.raises(RuntimeError, match=f"no free port in KITT_PORT_RANGE={taken}-{taken}"):
            free_port()


@pytest.mark.parametrize("text", ["8000", "9000-8000", "80-90", "a-b", "8000-70000"])
def test_a_malformed_band_is_refused_with_its_form(text):
    with pytest.raises(ValueError, match="KITT_PORT_RANGE must be LO-HI"):
        port_band(text)


def test_no_band_means_the_kernels_choice(monkeypatch):
    monkeypatch.delenv("KITT_PORT_RANGE", raising=False)
    assert port_band("") is None and 0 < free_port() < 65536
