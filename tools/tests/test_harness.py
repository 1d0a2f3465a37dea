"""The harness's own helpers (the emulator and stand-in are exercised by every e2e test)."""

from __future__ import annotations

import socket

import harness


def test_free_ports_are_distinct_and_bindable():
    ports = harness.free_ports(64)
    assert len(set(ports)) == 64
    for port in ports[:8]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))
