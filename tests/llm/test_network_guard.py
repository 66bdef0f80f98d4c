"""The network guard blocks non-loopback connections before any packet leaves, and allows loopback."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from tests import network_guard


@pytest.fixture(autouse=True)
def guard() -> None:
    network_guard.install()
    assert network_guard.guard_installed()


@pytest.mark.parametrize("address", [("10.255.255.1", 80), ("192.0.2.1", 80), ("2001:db8::1", 80)])
def test_connect_to_the_outside_fails_loudly_before_sending(address: tuple[str, int]) -> None:
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # A blocking connect to these addresses would hang until the OS times out; the guard must refuse
    # at once, which the short timeout would expose as a socket.timeout instead of NetworkBlocked.
    sock.settimeout(0.5)
    try:
        with pytest.raises(network_guard.NetworkBlocked, match="network access blocked"):
            sock.connect(address)
        with pytest.raises(network_guard.NetworkBlocked):
            sock.connect_ex(address)
    finally:
        sock.close()


def test_create_connection_to_a_hostname_is_refused_without_dns() -> None:
    with pytest.raises(network_guard.NetworkBlocked, match=r"api\.openai\.com"):
        socket.create_connection(("api.openai.com", 443), timeout=0.5)


def test_loopback_connections_work() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    accepted = threading.Event()

    def accept() -> None:
        conn, _ = server.accept()
        conn.sendall(b"ok")
        conn.close()
        accepted.set()

    thread = threading.Thread(target=accept)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            assert client.recv(2) == b"ok"
        with socket.create_connection(("localhost", port), timeout=5) as client:
            pass
    finally:
        thread.join(timeout=5)
        server.close()
    assert accepted.is_set()


def test_unix_sockets_are_allowed(tmp_path: Path) -> None:
    path = str(tmp_path / "s")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(path)  # queued in the backlog; no accept needed
    finally:
        client.close()
        server.close()


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("localhost", True),
        ("10.0.0.1", False),
        ("8.8.8.8", False),
        ("example.com", False),
        (None, False),
    ],
)
def test_is_allowed(host: object, allowed: bool) -> None:
    assert network_guard.is_allowed(host) is allowed
