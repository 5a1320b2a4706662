"""TCP probes from inside the VPC (the function's subnets) to a test instance's private address."""

from __future__ import annotations

import socket
from typing import Protocol


class TcpProber(Protocol):
    def is_open(self, host: str, port: int, timeout_seconds: float) -> bool: ...


class SocketProber:
    """A plain TCP connect: the port answers if the handshake completes within the timeout."""

    def is_open(self, host: str, port: int, timeout_seconds: float) -> bool:
        try:
            with socket.create_connection((host, port), timeout=timeout_seconds):
                return True
        except OSError:
            return False
