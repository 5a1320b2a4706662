"""Network probes from inside the VPC: DNS resolution, TCP connect, verified TLS handshake.

Every probe has its own timeout. The resolver and the connector are injectable (``ProbeTools``) so
tests point them at loopback listeners; the TLS context is always ``ssl.create_default_context``
(certificate and hostname verified; a CA file may be injected for tests, verification is never off).
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# (hostname, timeout seconds) -> addresses
Resolver = Callable[[str, float], list[str]]
# (address, port, timeout seconds) -> a connected socket
Connector = Callable[[str, int, float], socket.socket]


class ProbeFailed(Exception):
    """A probe did not succeed; ``stage`` says which step ("dns", "tcp", "tls", "api")."""

    def __init__(self, stage: str, message: str, **evidence: Any) -> None:
        super().__init__(message)
        self.stage = stage
        self.evidence = evidence


def system_resolve(hostname: str, timeout: float) -> list[str]:
    """The VPC resolver's answer (AmazonProvidedDNS in a Lambda), bounded by ``timeout``.

    ``getaddrinfo`` takes no timeout, so it runs in a daemon thread that is abandoned if late.
    """
    answer: list[list[str]] = []
    error: list[BaseException] = []

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(hostname, 443, type=socket.SOCK_STREAM)
            answer.append(sorted({str(info[4][0]) for info in infos}))
        except BaseException as exc:  # reported to the caller below
            error.append(exc)

    worker = threading.Thread(target=lookup, name=f"dns-{hostname}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"no DNS answer for {hostname} within {timeout:.1f} s")
    if error:
        raise error[0]
    return answer[0]


def system_connect(address: str, port: int, timeout: float) -> socket.socket:
    return socket.create_connection((address, port), timeout=timeout)


@dataclass(frozen=True, slots=True)
class ProbeTools:
    resolve: Resolver = system_resolve
    connect: Connector = system_connect
    ca_file: str | None = None  # None: the system's trust store
    timeout_seconds: float = 2.0


def resolve(tools: ProbeTools, hostname: str) -> list[str]:
    try:
        addresses = tools.resolve(hostname, tools.timeout_seconds)
    except (OSError, TimeoutError) as exc:
        raise ProbeFailed("dns", f"{hostname} does not resolve: {exc}", hostname=hostname) from exc
    if not addresses:
        raise ProbeFailed("dns", f"{hostname} resolved to no address", hostname=hostname)
    return addresses


def tls_handshake(tools: ProbeTools, hostname: str, addresses: list[str], port: int = 443) -> dict[str, Any]:
    """Connect to the first address that answers on ``port``, then complete a verified TLS handshake
    for ``hostname``. Returns timings and what the server presented."""
    context = ssl.create_default_context(cafile=tools.ca_file)
    errors: dict[str, str] = {}
    for address in addresses:
        started = time.perf_counter()
        try:
            raw = tools.connect(address, port, tools.timeout_seconds)
        except OSError as exc:
            errors[address] = f"{type(exc).__name__}: {exc}"
            continue
        connected = time.perf_counter()
        try:
            raw.settimeout(tools.timeout_seconds)
            with context.wrap_socket(raw, server_hostname=hostname) as tls:
                cert = tls.getpeercert() or {}
                done = time.perf_counter()
                return {
                    "address": address,
                    "port": port,
                    "tcpMs": round((connected - started) * 1000, 1),
                    "tlsMs": round((done - connected) * 1000, 1),
                    "tlsVersion": tls.version(),
                    "certificateSubject": _name(cert.get("subject", ())),
                    "certificateIssuer": _name(cert.get("issuer", ())),
                    "certificateNotAfter": cert.get("notAfter"),
                }
        except ssl.SSLCertVerificationError as exc:
            raise ProbeFailed(
                "tls",
                f"{hostname} at {address}:{port} presented a certificate that does not verify: {exc.verify_message}",
                address=address,
            ) from exc
        except TimeoutError as exc:
            raise ProbeFailed(
                "tls",
                f"TLS handshake with {hostname} at {address}:{port} timed out after {tools.timeout_seconds:.1f} s",
                address=address,
            ) from exc
        except (ssl.SSLError, OSError) as exc:
            raise ProbeFailed(
                "tls", f"TLS handshake with {hostname} at {address}:{port} failed: {exc}", address=address
            ) from exc
        finally:
            raw.close()
    raise ProbeFailed(
        "tcp",
        f"no TCP connection to {hostname} on port {port} at {', '.join(addresses)}",
        connectErrors=errors,
    )


def _name(parts: Any) -> str:
    return ", ".join(f"{k}={v}" for rdn in parts for k, v in rdn)
