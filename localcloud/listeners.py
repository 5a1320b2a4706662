"""Real listeners on loopback for DNS, TCP and TLS probes, and the certificates they present.

Shared by the preflight tests (tests/onprem), the network-health integration test and the benchmark.
Certificates are made here with ``cryptography``: a CA and a server certificate whose SANs are the
names the probes verify (never a disabled check: the client trusts this CA through a CA file).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Certificates:
    ca_file: Path
    cert_file: Path
    key_file: Path


def make_certificates(
    directory: Path,
    names: Iterable[str],
    *,
    ca_name: str = "Test Root CA",
    ca_organization: str | None = None,
) -> Certificates:
    """A CA and a server certificate for ``names`` (DNS names, wildcards allowed) and 127.0.0.1;
    ``ca_organization`` names the issuer's organization (Amazon's endpoints: "Amazon")."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, ca_name)]
        + ([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ca_organization)] if ca_organization else [])
    )
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_subject)
        .issuer_name(ca_subject)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = list(dict.fromkeys(names))
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "localhost")])
        )
        .issuer_name(ca_subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    paths = Certificates(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    paths.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


class _Listener:
    def __init__(self, kind: int = socket.SOCK_STREAM, port: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind(("127.0.0.1", port))
        self.port: int = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def close(self) -> None:
        self._stop.set()
        self.sock.close()

    def __enter__(self) -> _Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TcpListener(_Listener):
    """Accepts TCP connections and closes them (stands in for a replication server's port 1500, or a
    DNS server's TCP 53 on ``port``)."""

    def __init__(self, port: int = 0) -> None:
        super().__init__(port=port)
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self._spawn(self._serve)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            conn.close()


class SilentListener(_Listener):
    """Listens but never accepts: TCP connects (the kernel completes it), TLS never answers."""

    def __init__(self) -> None:
        super().__init__()
        self.sock.listen(64)


class TlsListener(_Listener):
    """Completes TLS handshakes with the given certificate, after ``delay`` seconds."""

    def __init__(self, certs: Certificates, *, delay: float = 0.0) -> None:
        super().__init__()
        self.delay = delay
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(certs.cert_file), str(certs.key_file))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self._spawn(self._serve)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self._spawn(self._handle, conn)

    def _handle(self, conn: socket.socket) -> None:
        try:
            time.sleep(self.delay)
            conn.settimeout(5)
            with self.context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)  # until the client closes
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()


class DnsListener(_Listener):
    """A minimal authoritative DNS server over UDP: A records from ``records``, NXDOMAIN otherwise."""

    def __init__(self, records: Mapping[str, list[str]]) -> None:
        super().__init__(socket.SOCK_DGRAM)
        self.records = {k.lower().rstrip("."): v for k, v in records.items()}
        self.sock.settimeout(0.2)
        self.queries: list[str] = []
        self._spawn(self._serve)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(512)
            except (TimeoutError, OSError):
                continue
            try:
                self.sock.sendto(self._answer(data), peer)
            except (OSError, ValueError, struct.error):
                continue

    def _answer(self, query: bytes) -> bytes:
        (query_id, _flags, _qd, _an, _ns, _ar) = struct.unpack("!6H", query[:12])
        labels, offset = [], 12
        while query[offset]:
            length = query[offset]
            labels.append(query[offset + 1 : offset + 1 + length].decode())
            offset += 1 + length
        question = query[12 : offset + 5]
        qtype = struct.unpack("!H", query[offset + 1 : offset + 3])[0]
        name = ".".join(labels).lower()
        self.queries.append(name)
        addresses = self.records.get(name)
        if addresses is None:
            return struct.pack("!6H", query_id, 0x8183, 1, 0, 0, 0) + question  # NXDOMAIN
        answers = b"".join(
            struct.pack("!HHHLH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(a) for a in addresses if qtype == 1
        )
        count = len(addresses) if qtype == 1 else 0
        return struct.pack("!6H", query_id, 0x8180, 1, count, 0, 0) + question + answers
