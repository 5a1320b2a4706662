#!/usr/bin/env python
# ruff: noqa: UP004, UP010, UP024, UP031, UP041
# (pyupgrade rules are off on purpose: this file must still run on Python 2.7 and 3.6.)
"""Pre-flight check for installing the AWS MGN replication agent over a closed (private) network.

Run it on a source server, or on a workstation in the same network, before installing the agent:

    python onprem_preflight.py --stack-outputs outputs.json --replication-ip 10.0.10.25
    python onprem_preflight.py --region eu-west-1 \\
        --mgn-endpoint vpce-0abc-1234.mgn.eu-west-1.vpce.amazonaws.com \\
        --s3-endpoint '*.vpce-0def-5678.s3.eu-west-1.vpce.amazonaws.com' --replication-ip 10.0.10.25 --json

``outputs.json`` is what ``aws cloudformation describe-stacks --stack-name <stack>`` prints (outputs
MgnEndpointDns and S3EndpointDns); flags override it.

What it checks, each as PASS / WARN / FAIL:

* DNS, through this machine's resolver (or ``--dns-server`` to ask one server directly): the MGN and
  S3 endpoint names must resolve to private addresses (RFC 1918, 100.64/10); a public answer means
  the agent would leave the private link. ``mgn.REGION.amazonaws.com`` is also resolved: a public
  answer there (WARN) means on-prem DNS does not forward amazonaws.com to the Route 53 Resolver
  inbound endpoint yet.
* TCP 443 plus a TLS handshake with certificate and host-name verification to both endpoints
  (system CAs, or ``--ca-file``). Verification is never turned off, here or in the printed command.
* that certificate's issuer is Amazon (``--expected-issuer`` otherwise): a verified certificate from
  another CA means TLS inspection or a proxy re-signs the connection; the fix is to allowlist the
  endpoint names there, never to turn verification off.
* TCP 53 to the DNS server given with ``--dns-server`` (the Resolver inbound endpoint): large answers
  fall back to TCP.
* Free disk space for the agent's installer (2 GB on /, 500 MB in /tmp; 2 GB on C:\\ on Windows).
* TCP 1500 to a replication server (``--replication-ip``; ``--staging-cidr`` alone can only be
  checked for being private, replication servers' addresses are not known in advance).

Then it prints the agent install commands (Linux and Windows) built from those names. Exit status:
0 if nothing failed, 1 if a check failed, 2 for bad arguments. ``--json`` prints one JSON object.

Standard library only; runs on Python 2.7 and 3.6+ (tested in tests/onprem under 2.7, 3.6 and 3.13).
"""

from __future__ import print_function

import argparse
import json
import os
import shutil
import socket
import ssl
import struct
import sys
import time

INSTALLER_LINUX = "latest/linux/aws-replication-installer-init"
INSTALLER_WINDOWS = "latest/windows/AwsReplicationWindowsInstaller.exe"
PASS, WARN, FAIL = "PASS", "WARN", "FAIL"

# Address ranges that never route on the internet: (network, prefix length).
PRIVATE_V4 = (
    ("10.0.0.0", 8),
    ("172.16.0.0", 12),
    ("192.168.0.0", 16),
    ("100.64.0.0", 10),  # shared address space (carrier-grade NAT, some SD-WANs)
    ("169.254.0.0", 16),
    ("127.0.0.0", 8),
)


class UsageError(Exception):
    pass


# ---------------------------------------------------------------------- addresses
def _v4_int(address):
    return struct.unpack("!I", socket.inet_aton(address))[0]


def in_cidr(address, cidr):
    network, _, bits = cidr.partition("/")
    bits = int(bits or 32)
    mask = (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF
    return (_v4_int(address) & mask) == (_v4_int(network) & mask)


def is_private(address):
    if ":" in address:
        packed = socket.inet_pton(socket.AF_INET6, address)
        first = ord(packed[0:1])
        return packed == b"\x00" * 15 + b"\x01" or (first & 0xFE) == 0xFC or packed[0:2] in (b"\xfe\x80",)
    return any(in_cidr(address, "%s/%d" % (net, bits)) for net, bits in PRIVATE_V4)


# ---------------------------------------------------------------------- DNS
def resolve_system(name, timeout):
    """This machine's resolver (what the agent will use). getaddrinfo takes no timeout; the
    resolver's own (resolv.conf / Windows DNS client) applies."""
    infos = socket.getaddrinfo(name, 443, 0, socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


def _read_name(message, offset):
    """Skip a (possibly compressed) name in a DNS message; return the offset after it."""
    while True:
        length = ord(message[offset : offset + 1])
        if length & 0xC0 == 0xC0:
            return offset + 2
        if length == 0:
            return offset + 1
        offset += 1 + length


def resolve_with_server(name, server, timeout):
    """Ask one DNS server directly (UDP, A records): to test the on-prem DNS server that forwards
    amazonaws.com, whatever this machine's resolver is."""
    host, _, port = server.partition(":")
    query_id = struct.unpack("!H", os.urandom(2))[0]
    question = b"".join(
        struct.pack("!B", len(label)) + label.encode("ascii") for label in name.rstrip(".").split(".")
    )
    packet = struct.pack("!6H", query_id, 0x0100, 1, 0, 0, 0) + question + b"\x00" + struct.pack("!2H", 1, 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.settimeout(timeout)
        sock.sendto(packet, (host, int(port or 53)))
        while True:
            reply, _ = sock.recvfrom(4096)
            if struct.unpack("!H", reply[:2])[0] == query_id:
                break
    finally:
        sock.close()
    flags, qdcount, ancount = struct.unpack("!3H", reply[2:8])
    rcode = flags & 0x000F
    if rcode == 3:
        raise socket.gaierror("NXDOMAIN from %s" % server)
    if rcode != 0:
        raise socket.gaierror("DNS error code %d from %s" % (rcode, server))
    offset = 12
    for _ in range(qdcount):
        offset = _read_name(reply, offset) + 4
    addresses = []
    for _ in range(ancount):
        offset = _read_name(reply, offset)
        rtype, _rclass, _ttl, length = struct.unpack("!HHIH", reply[offset : offset + 10])
        offset += 10
        if rtype == 1 and length == 4:
            addresses.append(socket.inet_ntoa(reply[offset : offset + 4]))
        offset += length
    return sorted(set(addresses))


# ---------------------------------------------------------------------- TCP / TLS
def tcp_connect(address, port, timeout):
    started = time.time()
    sock = socket.create_connection((address, port), timeout)
    return sock, (time.time() - started) * 1000


def tls_handshake(sock, hostname, ca_file, timeout):
    # create_default_context: CERT_REQUIRED and host-name checking; a CA file replaces the system
    # store only when given (tests). Never CERT_NONE.
    context = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    sock.settimeout(timeout)
    started = time.time()
    tls = context.wrap_socket(sock, server_hostname=hostname)
    try:
        version = tls.version() if hasattr(tls, "version") else "TLS"
        return version, (time.time() - started) * 1000, issuer_of(tls.getpeercert() or {})
    finally:
        tls.close()


def issuer_of(cert):
    """The issuer of a verified peer certificate (``getpeercert()``) as {field: value}."""
    issuer = {}
    for rdn in cert.get("issuer", ()):
        for key, value in rdn:
            issuer[key] = value
    return issuer


def issuer_text(issuer):
    parts = [(k, issuer[k]) for k in ("commonName", "organizationName", "countryName") if k in issuer]
    return ", ".join("%s=%s" % kv for kv in parts) or "an unnamed issuer"


# ---------------------------------------------------------------------- the checks
class Report(object):
    def __init__(self):
        self.checks = []

    def add(self, check, status, message, **details):
        entry = {"check": check, "status": status, "message": message}
        entry.update(details)
        self.checks.append(entry)
        return entry

    @property
    def failed(self):
        return [c for c in self.checks if c["status"] == FAIL]


def check_dns(report, label, name, resolver, timeout, must_be_private=True):
    try:
        addresses = resolver(name, timeout)
    except (socket.error, socket.gaierror, socket.timeout) as exc:
        report.add(
            "dns " + label,
            FAIL if must_be_private else WARN,
            "%s does not resolve (%s). On-prem DNS must forward amazonaws.com to the Route 53 Resolver "
            "inbound endpoint's addresses (see the network-health report's dnsForwarder)." % (name, exc),
            name=name,
        )
        return []
    public = [a for a in addresses if not is_private(a)]
    if public:
        status = FAIL if must_be_private else WARN
        report.add(
            "dns " + label,
            status,
            "%s resolves to public address(es) %s: traffic would leave the private link. Forward "
            "amazonaws.com to the Resolver inbound endpoint, and check the endpoint name."
            % (name, ", ".join(public)),
            name=name,
            addresses=addresses,
        )
        return [] if must_be_private else addresses
    report.add(
        "dns " + label, PASS, "%s -> %s" % (name, ", ".join(addresses)), name=name, addresses=addresses
    )
    return addresses


def check_tls(report, label, name, addresses, port, ca_file, timeout, issuers=("Amazon",)):
    errors = []
    for address in addresses:
        try:
            sock, tcp_ms = tcp_connect(address, port, timeout)
        except (socket.error, socket.timeout) as exc:
            errors.append("%s: %s" % (address, exc))
            continue
        try:
            version, tls_ms, issuer = tls_handshake(sock, name, ca_file, timeout)
        except (ssl.SSLError, ssl.CertificateError, socket.error, socket.timeout) as exc:
            report.add(
                "tls " + label,
                FAIL,
                "TCP %d to %s works but the TLS handshake for %s failed: %s. Something other than the AWS "
                "endpoint answers (proxy or TLS inspection?): exempt this name from inspection; do not turn "
                "certificate checks off." % (port, address, name, exc),
                name=name,
                address=address,
            )
            return
        finally:
            sock.close()
        if issuer.get("organizationName") not in issuers:
            # Verified, but against a CA this machine trusts that is not Amazon's: something on the
            # way (TLS inspection, a proxy) opens and re-signs the connection.
            report.add(
                "tls " + label,
                FAIL,
                "The TLS certificate presented for %s is issued by %s, not by Amazon: TLS inspection or a "
                "proxy between this host and the endpoint re-signs the connection. Allowlist %s (and the "
                "other VPC endpoint names) in the inspection or proxy policy so the connection reaches "
                "the endpoint untouched; do not turn certificate checks off."
                % (name, issuer_text(issuer), name),
                name=name,
                address=address,
                issuer=issuer,
            )
            return
        report.add(
            "tls " + label,
            PASS,
            "%s:%d TCP %.0f ms, %s handshake verified %.0f ms" % (address, port, tcp_ms, version, tls_ms),
            name=name,
            address=address,
        )
        return
    report.add(
        "tls " + label,
        FAIL,
        "No TCP connection to %s on port %d (%s): open TCP %d from this host to the VPC's endpoint subnets in "
        "the on-prem firewalls, the OS firewall and the endpoint's security group."
        % (name, port, "; ".join(errors) or "no address", port),
        name=name,
    )


def check_dns_tcp(report, server, timeout):
    """DNS falls back to TCP for answers that do not fit UDP (many records, DNSSEC): the Resolver
    inbound endpoint must take TCP 53 over the link as well as UDP 53."""
    host, _, port = server.partition(":")
    port = int(port or 53)
    try:
        sock, tcp_ms = tcp_connect(host, port, timeout)
        sock.close()
    except (socket.error, socket.timeout) as exc:
        report.add(
            "dns tcp",
            FAIL,
            "No TCP connection to the DNS server %s on port %d (%s): open TCP 53 (not only UDP 53) from "
            "this host to the Route 53 Resolver inbound endpoint in the on-prem firewalls and the "
            "endpoint's security group." % (host, port, exc),
            server=server,
        )
        return
    report.add("dns tcp", PASS, "%s TCP %d %.0f ms" % (host, port, tcp_ms), server=server)


def free_bytes(path):
    if hasattr(shutil, "disk_usage"):
        return shutil.disk_usage(path).free
    stats = os.statvfs(path)  # Python 2.7 on Linux
    return stats.f_bavail * stats.f_frsize


# The agent's installer needs room on the system disk and in the temporary directory (MGN User
# Guide, installation requirements: 2 GB free on / and 500 MB in /tmp on Linux, 2 GB on Windows).
DISK_NEEDS_MB = (("/", 2048), ("/tmp", 500)) if os.name != "nt" else (("C:\\", 2048),)  # noqa: S108


def check_disk(report, needs):
    for path, need_mb in needs:
        try:
            free_mb = free_bytes(path) // (1024 * 1024)
        except OSError as exc:
            report.add("disk " + path, WARN, "cannot read the free space of %s: %s" % (path, exc), path=path)
            continue
        if free_mb < need_mb:
            report.add(
                "disk " + path,
                FAIL,
                "%s has %d MB free; the agent's installer needs %d MB there. Free space (or grow the "
                "volume) before installing." % (path, free_mb, need_mb),
                path=path,
                free_mb=free_mb,
            )
        else:
            report.add(
                "disk " + path, PASS, "%s: %d MB free (needs %d MB)" % (path, free_mb, need_mb), path=path
            )


def check_replication(report, replication_ips, staging_cidrs, port, timeout):
    for cidr in staging_cidrs:
        network = cidr.partition("/")[0]
        if not is_private(network):
            report.add(
                "staging cidr", FAIL, "%s is not a private range: data replication must stay private." % cidr
            )
    for ip in replication_ips:
        outside = [c for c in staging_cidrs if not in_cidr(ip, c)]
        if staging_cidrs and len(outside) == len(staging_cidrs):
            report.add(
                "tcp 1500", WARN, "%s is not inside --staging-cidr %s" % (ip, ", ".join(staging_cidrs))
            )
        try:
            sock, ms = tcp_connect(ip, port, timeout)
            sock.close()
            report.add(
                "tcp 1500", PASS, "TCP %d to replication server %s: %.0f ms" % (port, ip, ms), address=ip
            )
        except (socket.error, socket.timeout) as exc:
            report.add(
                "tcp 1500",
                FAIL,
                "No TCP %d to replication server %s (%s): open TCP %d from the source servers to the staging "
                "subnet in on-prem firewalls; the replication security group and NACL must allow it too."
                % (port, ip, exc, port),
                address=ip,
            )
    if not replication_ips:
        report.add(
            "tcp 1500",
            WARN,
            "Not tested: pass --replication-ip with a replication server's private IP (EC2 instances tagged "
            "AWSApplicationMigrationServiceManaged in the staging subnet) once one runs.",
        )


# ---------------------------------------------------------------------- install command
def _bare(name):
    name = name.strip()
    for prefix in ("https://", "http://"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return name.rstrip("/")


def s3_endpoint_host(name):
    """S3 interface endpoint names start with '*.' (the bucket label); clients use 'bucket.<rest>'."""
    name = _bare(name)
    return "bucket." + name[2:] if name.startswith("*.") else name


def install_commands(region, mgn_host, s3_host):
    bucket = "aws-application-migration-service-%s" % region
    base = "https://%s/%s" % (s3_host, bucket)
    flags = "--region %s --endpoint https://%s --s3-endpoint https://%s --no-prompt" % (
        region,
        mgn_host,
        s3_host,
    )
    return {
        "linux": [
            "curl --fail --output aws-replication-installer-init %s/%s" % (base, INSTALLER_LINUX),
            "sudo python3 aws-replication-installer-init %s" % flags,
        ],
        "windows": [
            "Invoke-WebRequest -UseBasicParsing -Uri %s/%s -OutFile AwsReplicationWindowsInstaller.exe"
            % (base, INSTALLER_WINDOWS),
            ".\\AwsReplicationWindowsInstaller.exe %s" % flags,
        ],
        "replaces": "https://%s.s3.%s.amazonaws.com/%s (the public URL)" % (bucket, region, INSTALLER_LINUX),
    }


# ---------------------------------------------------------------------- command line
def stack_outputs(path):
    with open(path) as handle:
        data = json.load(handle)
    stacks = data.get("Stacks", [data]) if isinstance(data, dict) else data
    outputs = {}
    for stack in stacks:
        for output in stack.get("Outputs", []):
            outputs[output["OutputKey"]] = output["OutputValue"]
    return outputs


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Check DNS, TLS and port 1500 from on-premises before installing the MGN agent "
        "over a private network, then print the install command."
    )
    parser.add_argument("--region", help="AWS Region of the MGN service, e.g. eu-west-1")
    parser.add_argument(
        "--mgn-endpoint", help="DNS name of the MGN interface endpoint (output MgnEndpointDns)"
    )
    parser.add_argument("--s3-endpoint", help="DNS name of the S3 interface endpoint (output S3EndpointDns)")
    parser.add_argument(
        "--stack-outputs", metavar="FILE", help="JSON of 'aws cloudformation describe-stacks'"
    )
    parser.add_argument(
        "--replication-ip", action="append", default=[], help="a replication server's IP (repeatable)"
    )
    parser.add_argument(
        "--staging-cidr", action="append", default=[], help="the staging subnet's CIDR (repeatable)"
    )
    parser.add_argument(
        "--dns-server", help="ask this DNS server (HOST[:PORT]) instead of the system resolver"
    )
    parser.add_argument(
        "--timeout", type=float, default=5.0, help="seconds per DNS query, connection, handshake"
    )
    parser.add_argument("--ca-file", help="PEM CA bundle to verify TLS against (default: the system's CAs)")
    parser.add_argument(
        "--expected-issuer",
        action="append",
        default=[],
        help="organization that issues the endpoints' certificates (default: Amazon; repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    # Test hook: PATH=MB pairs replacing the agent's disk needs.
    parser.add_argument("--disk-need", action="append", default=[], help=argparse.SUPPRESS)
    # Test hooks (loopback listeners cannot bind the real ports without root).
    parser.add_argument("--https-port", type=int, default=443, help=argparse.SUPPRESS)
    parser.add_argument("--replication-port", type=int, default=1500, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    outputs = stack_outputs(args.stack_outputs) if args.stack_outputs else {}
    args.mgn_endpoint = args.mgn_endpoint or outputs.get("MgnEndpointDns")
    args.s3_endpoint = args.s3_endpoint or outputs.get("S3EndpointDns")
    if not args.region:
        for name in (args.mgn_endpoint or "", args.s3_endpoint or ""):
            parts = _bare(name).split(".")
            if "vpce" in parts and parts.index("vpce") >= 1:
                args.region = parts[parts.index("vpce") - 1]
                break
    missing = [
        flag
        for flag, value in (
            ("--region", args.region),
            ("--mgn-endpoint", args.mgn_endpoint),
            ("--s3-endpoint", args.s3_endpoint),
        )
        if not value
    ]
    if missing:
        raise UsageError("missing %s (give the flags or --stack-outputs)" % ", ".join(missing))
    return args


def run(args):
    report = Report()
    timeout = args.timeout
    if args.dns_server:
        server = args.dns_server

        def resolver(name, t):
            return resolve_with_server(name, server, t)

    else:
        resolver = resolve_system
    mgn_host = _bare(args.mgn_endpoint)
    s3_host = s3_endpoint_host(args.s3_endpoint)
    for label, host in (("mgn-endpoint", mgn_host), ("s3-endpoint", s3_host)):
        addresses = check_dns(report, label, host, resolver, timeout)
        if addresses:
            check_tls(
                report,
                label,
                host,
                addresses,
                args.https_port,
                args.ca_file,
                timeout,
                tuple(args.expected_issuer or ["Amazon"]),
            )
    # The service name resolves privately only if on-prem DNS forwards amazonaws.com to the Resolver.
    check_dns(
        report,
        "mgn-service-name",
        "mgn.%s.amazonaws.com" % args.region,
        resolver,
        timeout,
        must_be_private=False,
    )
    if args.dns_server:
        check_dns_tcp(report, args.dns_server, timeout)
    check_replication(report, args.replication_ip, args.staging_cidr, args.replication_port, timeout)
    needs = [
        (pair.rsplit("=", 1)[0], int(pair.rsplit("=", 1)[1])) for pair in args.disk_need
    ] or DISK_NEEDS_MB
    check_disk(report, needs)
    return report, install_commands(args.region, mgn_host, s3_host)


def main(argv=None):
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 2
    report, commands = run(args)
    ok = not report.failed
    if args.json:
        print(json.dumps({"ok": ok, "checks": report.checks, "install": commands}, indent=2, sort_keys=True))
    else:
        for check in report.checks:
            print("[%s] %-22s %s" % (check["status"], check["check"], check["message"]))
        print("")
        print("Install the agent (Linux), after the checks pass:")
        for line in commands["linux"]:
            print("  " + line)
        print("Windows (PowerShell):")
        for line in commands["windows"]:
            print("  " + line)
        print("")
        print("RESULT: %s" % ("OK" if ok else "FAILED (%d check(s))" % len(report.failed)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
