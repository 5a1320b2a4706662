"""mgn_pipeline_ops/onprem_preflight.py, run as an admin would: a subprocess under old and new Pythons, against
real DNS, TLS and TCP listeners on loopback (certificates made by the test, verified by the script)."""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from localcloud.listeners import Certificates, DnsListener, TcpListener, TlsListener, make_certificates

SCRIPT = Path(__file__).resolve().parents[2] / "mgn_pipeline_ops" / "onprem_preflight.py"
PYENV = Path("/root/.pyenv/versions")
MGN = "vpce-0abc123-1234.mgn.us-east-1.vpce.amazonaws.com"
S3_WILDCARD = "*.vpce-0def456-5678.s3.us-east-1.vpce.amazonaws.com"
S3 = "bucket.vpce-0def456-5678.s3.us-east-1.vpce.amazonaws.com"
# The Pythons old source servers have (RHEL 7: 2.7, RHEL 8: 3.6) and the current one.
PYTHONS = [PYENV / "2.7.18/bin/python", PYENV / "3.6.15/bin/python", Path(sys.executable)]
INSECURE_FLAGS = (
    "--insecure",
    " -k ",
    "--no-check-certificate",
    "SkipCertificateCheck",
    "CERT_NONE",
    "verify=False",
)


def _python_id(path: Path) -> str:
    return path.parts[-3] if str(path).startswith(str(PYENV)) else "current"


@pytest.fixture(params=PYTHONS, ids=_python_id)
def python(request: pytest.FixtureRequest) -> str:
    path: Path = request.param
    if not path.exists():
        pytest.skip(f"{path} is not installed")
    return str(path)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    # Issued as Amazon's endpoints are (organization Amazon), by a CA the test makes.
    return make_certificates(
        tmp_path_factory.mktemp("certs"),
        [MGN, S3_WILDCARD],
        ca_name="Amazon RSA 2048 M01",
        ca_organization="Amazon",
    )


@pytest.fixture(scope="module")
def listeners(certs: Certificates) -> Iterator[dict[str, Any]]:
    records = {MGN: ["127.0.0.1"], S3: ["127.0.0.1"], "mgn.us-east-1.amazonaws.com": ["127.0.0.1"]}
    with DnsListener(records) as dns, TlsListener(certs) as tls, TcpListener() as replication:  # noqa: SIM117 - TCP 53 needs the DNS port
        with TcpListener(port=dns.port):  # the Resolver takes TCP 53 as well as UDP 53
            yield {"dns": dns, "tls": tls, "replication": replication}


def preflight(python: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed interpreters running the repo's own script
        [python, str(SCRIPT), *args], capture_output=True, text=True, timeout=30, check=False
    )


def loopback_args(listeners: dict[str, Any], certs: Certificates, **overrides: str) -> list[str]:
    options = {
        "--region": "us-east-1",
        "--mgn-endpoint": MGN,
        "--s3-endpoint": S3_WILDCARD,
        "--dns-server": f"127.0.0.1:{listeners['dns'].port}",
        "--https-port": str(listeners["tls"].port),
        "--replication-ip": "127.0.0.1",
        "--replication-port": str(listeners["replication"].port),
        "--ca-file": str(certs.ca_file),
        "--timeout": "1",
        "--disk-need": "/=1",  # the machine's own free space is not under test here
    } | overrides
    return [part for key, value in options.items() if value for part in (key, value)]


def by_check(output: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["check"]: c for c in output["checks"]}


def test_help_runs(python: str) -> None:
    done = preflight(python, "--help")
    assert done.returncode == 0, done.stderr
    assert "--stack-outputs" in done.stdout and "--ca-file" in done.stdout


def test_healthy_path_passes_and_prints_the_install_command(
    python: str, listeners: dict[str, Any], certs: Certificates
) -> None:
    done = preflight(python, *loopback_args(listeners, certs), "--json")
    output = json.loads(done.stdout)

    assert done.returncode == 0, output
    assert output["ok"] is True
    checks = by_check(output)
    assert checks["dns mgn-endpoint"]["addresses"] == ["127.0.0.1"]
    assert (
        checks["tls mgn-endpoint"]["status"] == "PASS" and "verified" in checks["tls mgn-endpoint"]["message"]
    )
    assert checks["tls s3-endpoint"]["status"] == "PASS"
    assert checks["tcp 1500"]["status"] == "PASS"
    assert checks["dns tcp"]["status"] == "PASS" and checks["disk /"]["status"] == "PASS"
    linux = output["install"]["linux"]
    assert linux[0].endswith(
        f"https://{S3}/aws-application-migration-service-us-east-1/latest/linux/aws-replication-installer-init"
    )
    assert linux[1] == (
        f"sudo python3 aws-replication-installer-init --region us-east-1 --endpoint https://{MGN} "
        f"--s3-endpoint https://{S3} --no-prompt"
    )
    assert "AwsReplicationWindowsInstaller.exe --region us-east-1" in output["install"]["windows"][1]
    everything = json.dumps(output["install"])
    assert not any(flag in everything for flag in INSECURE_FLAGS)


def test_public_answer_fails(python: str, certs: Certificates, listeners: dict[str, Any]) -> None:
    with DnsListener({MGN: ["127.0.0.1"], S3: ["52.216.8.1"]}) as public_dns:
        done = preflight(
            python,
            *loopback_args(listeners, certs, **{"--dns-server": f"127.0.0.1:{public_dns.port}"}),
            "--json",
        )
    output = json.loads(done.stdout)
    assert done.returncode == 1
    checks = by_check(output)
    assert checks["dns s3-endpoint"]["status"] == "FAIL"
    assert "52.216.8.1" in checks["dns s3-endpoint"]["message"]
    # Not forwarding amazonaws.com at all is a warning: the agent's endpoint flags still work.
    assert checks["dns mgn-service-name"]["status"] == "WARN"


def test_untrusted_certificate_fails_tls(
    python: str, listeners: dict[str, Any], certs: Certificates, tmp_path: Path
) -> None:
    other_ca = make_certificates(tmp_path, [MGN], ca_name="Some Other CA").ca_file
    done = preflight(python, *loopback_args(listeners, certs, **{"--ca-file": str(other_ca)}), "--json")
    checks = by_check(json.loads(done.stdout))
    assert done.returncode == 1
    assert checks["tls mgn-endpoint"]["status"] == "FAIL"
    assert "do not turn certificate checks off" in checks["tls mgn-endpoint"]["message"]


def test_tls_inspection_is_named_with_its_fix_even_when_the_certificate_verifies(
    python: str, listeners: dict[str, Any], tmp_path: Path
) -> None:
    # An inspection appliance re-signs with the bank's CA, which this host trusts: verification passes.
    bank = make_certificates(
        tmp_path, [MGN, S3_WILDCARD], ca_name="Example Bank TLS Inspection CA", ca_organization="Example Bank"
    )
    with TlsListener(bank) as inspected:
        done = preflight(
            python,
            *loopback_args(
                listeners, bank, **{"--https-port": str(inspected.port), "--ca-file": str(bank.ca_file)}
            ),
            "--json",
        )
    output = json.loads(done.stdout)
    checks = by_check(output)
    assert done.returncode == 1
    tls = checks["tls mgn-endpoint"]
    assert tls["status"] == "FAIL" and "Example Bank TLS Inspection CA" in tls["message"]
    assert "not by Amazon" in tls["message"] and f"Allowlist {MGN}" in tls["message"]
    assert "do not turn certificate checks off" in tls["message"]
    # Only the inspected checks fail; and nothing printed turns verification off.
    assert {c["check"] for c in output["checks"] if c["status"] == "FAIL"} == {
        "tls mgn-endpoint",
        "tls s3-endpoint",
    }
    assert not any(flag in done.stdout for flag in INSECURE_FLAGS)


def test_dns_over_tcp_closed_fails_on_its_own(
    python: str, listeners: dict[str, Any], certs: Certificates
) -> None:
    records = {MGN: ["127.0.0.1"], S3: ["127.0.0.1"], "mgn.us-east-1.amazonaws.com": ["127.0.0.1"]}
    with DnsListener(records) as udp_only:
        done = preflight(
            python,
            *loopback_args(listeners, certs, **{"--dns-server": f"127.0.0.1:{udp_only.port}"}),
            "--json",
        )
    output = json.loads(done.stdout)
    assert done.returncode == 1
    assert {c["check"] for c in output["checks"] if c["status"] == "FAIL"} == {"dns tcp"}
    assert "open TCP 53" in by_check(output)["dns tcp"]["message"]


def test_too_little_disk_space_fails_on_its_own(
    python: str, listeners: dict[str, Any], certs: Certificates
) -> None:
    done = preflight(python, *loopback_args(listeners, certs, **{"--disk-need": "/=999999999"}), "--json")
    output = json.loads(done.stdout)
    assert done.returncode == 1
    assert {c["check"] for c in output["checks"] if c["status"] == "FAIL"} == {"disk /"}
    assert "needs 999999999 MB" in by_check(output)["disk /"]["message"]


def test_closed_replication_port_fails(python: str, listeners: dict[str, Any], certs: Certificates) -> None:
    # Bound but not listening: refused, and the port stays ours (a freed loopback port in the ephemeral
    # range can be picked as the client's own source port and "connect" to itself).
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = str(closed.getsockname()[1])
        done = preflight(python, *loopback_args(listeners, certs, **{"--replication-port": port}))
    assert done.returncode == 1
    assert "[FAIL] tcp 1500" in done.stdout
    assert "RESULT: FAILED" in done.stdout


def test_stack_outputs_file_and_usage_errors(
    listeners: dict[str, Any], certs: Certificates, tmp_path: Path
) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps(
            {
                "Stacks": [
                    {
                        "Outputs": [
                            {"OutputKey": "MgnEndpointDns", "OutputValue": MGN},
                            {"OutputKey": "S3EndpointDns", "OutputValue": S3_WILDCARD},
                        ]
                    }
                ]
            }
        )
    )
    args = loopback_args(listeners, certs, **{"--region": "", "--mgn-endpoint": "", "--s3-endpoint": ""})
    done = preflight(sys.executable, "--stack-outputs", str(outputs), *args, "--json")
    assert done.returncode == 0, done.stdout
    assert "--region us-east-1" in json.loads(done.stdout)["install"]["linux"][1]  # from the endpoint name

    missing = preflight(sys.executable, "--region", "us-east-1")
    assert missing.returncode == 2
    assert "--mgn-endpoint" in missing.stderr


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("onprem_preflight", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("address", "private"),
    [
        ("10.1.2.3", True),
        ("172.31.255.1", True),
        ("172.32.0.1", False),
        ("192.168.0.9", True),
        ("100.64.0.1", True),
        ("100.128.0.1", False),
        ("52.216.8.1", False),
        ("fd00::1", True),
        ("2600:1f18::1", False),
    ],
)
def test_private_ranges(address: str, private: bool) -> None:
    assert _load_script().is_private(address) is private
