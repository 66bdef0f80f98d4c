"""Pytest plugin: any socket connection to a non-loopback address fails loudly, before a packet leaves.

Registered from the root ``tests/conftest.py`` via ``pytest_plugins``. It patches
``socket.socket.connect`` / ``connect_ex`` and ``socket.create_connection`` at ``pytest_configure``, so it
covers every test, fixture and import-time side effect (litellm fetching its price map, SDK telemetry).
Allowed: 127.0.0.0/8, ::1, ``localhost`` and unix-domain sockets. Fake provider servers bind 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any

import pytest

__all__ = ["NetworkBlocked", "guard_installed", "install", "is_allowed", "uninstall"]


class NetworkBlocked(RuntimeError):
    """A test tried to reach the network. Use a local fake server (127.0.0.1) or a mock transport."""


_originals: dict[str, Callable[..., Any]] = {}


def is_allowed(host: object) -> bool:
    """Return True for loopback hosts (IPv4 127/8, ::1, ``localhost``)."""
    if not isinstance(host, str):
        return False
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        # A name other than localhost would need DNS (itself a network call): refuse it.
        return False


def _check(sock_family: int, address: object) -> None:
    if sock_family == getattr(socket, "AF_UNIX", object()):
        return
    host = address[0] if isinstance(address, tuple) and address else address
    if not is_allowed(host):
        raise NetworkBlocked(
            f"network access blocked in tests: connection to {address!r}. "
            "Tests may only reach 127.0.0.1/::1 (start a local fake server or use a mock transport)."
        )


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check(self.family, address)
    _originals["connect"](self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check(self.family, address)
    result: int = _originals["connect_ex"](self, address)
    return result


def _guarded_create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
    _check(socket.AF_INET, address)
    sock: socket.socket = _originals["create_connection"](address, *args, **kwargs)
    return sock


def install() -> None:
    """Patch the socket module (idempotent)."""
    if _originals:
        return
    _originals["connect"] = socket.socket.connect
    _originals["connect_ex"] = socket.socket.connect_ex
    _originals["create_connection"] = socket.create_connection
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign,assignment]
    socket.create_connection = _guarded_create_connection


def uninstall() -> None:
    """Restore the original socket functions."""
    if not _originals:
        return
    socket.socket.connect = _originals.pop("connect")  # type: ignore[method-assign]
    socket.socket.connect_ex = _originals.pop("connect_ex")  # type: ignore[method-assign]
    socket.create_connection = _originals.pop("create_connection")


def guard_installed() -> bool:
    return bool(_originals)


def pytest_configure(config: pytest.Config) -> None:
    install()


def pytest_unconfigure(config: pytest.Config) -> None:
    uninstall()
