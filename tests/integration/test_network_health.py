"""The network-health function against a closed VPC in moto, the MGN emulator and loopback listeners.

Each switch of ``localcloud.vpc`` breaks one piece; the run must FAIL exactly that piece's check (with a
fix), every other check passes or is skipped *because of* that failure. DNS answers come from an injected
resolver (VPC-private addresses for endpoint names, public ones for the gateway services' names); TCP and
TLS go to a real loopback TLS listener whose certificate is signed by a CA made here; the read-only API
calls go through moto (EC2) and the MGN emulator.
"""

from __future__ import annotations

import importlib
import json
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from localcloud.clock import SimClock
from localcloud.listeners import Certificates, TlsListener, make_certificates
from localcloud.mgn import MgnEmulator
from localcloud.vpc import ClosedVpc, build_closed_vpc
from mgn_pipeline.health.errors import InvalidHealthRequest, NetworkHealthGateFailed
from mgn_pipeline.health.probes import ProbeTools
from tests.conftest import LAMBDA_ENV, FakeLambdaContext, load_event

pytestmark = pytest.mark.integration
REGION = "us-east-1"
IN_VPC_ADDRESS = "10.0.1.50"  # what AmazonProvidedDNS returns for a private-DNS endpoint name
PUBLIC_S3_ADDRESS = "52.216.8.1"


@dataclass
class Stack:
    ec2: Any
    r53: Any
    dynamodb: Any
    sqs: Any
    vpc: ClosedVpc
    inbox: str
    certs: Certificates
    listener: TlsListener
    env: dict[str, str]

    def notices(self) -> list[dict[str, Any]]:
        messages = []
        while batch := self.sqs.receive_message(QueueUrl=self.inbox, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            messages += [json.loads(m["Body"]) for m in batch]
            for m in batch:
                self.sqs.delete_message(QueueUrl=self.inbox, ReceiptHandle=m["ReceiptHandle"])
        return messages

    def probe_tools(self) -> ProbeTools:
        def resolve(hostname: str, _timeout: float) -> list[str]:
            # Gateway services keep their public names (the prefix-list route carries them).
            return [PUBLIC_S3_ADDRESS] if hostname.startswith(("s3.", "dynamodb.")) else [IN_VPC_ADDRESS]

        def connect(_address: str, _port: int, timeout: float) -> socket.socket:
            return socket.create_connection(("127.0.0.1", self.listener.port), timeout=timeout)

        return ProbeTools(resolve, connect, str(self.certs.ca_file), timeout_seconds=1.0)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
        for key, value in LAMBDA_ENV.items():
            mp.setenv(key, value)
        with mock_aws():
            ec2, r53 = (
                boto3.client("ec2", region_name=REGION),
                boto3.client("route53resolver", region_name=REGION),
            )
            vpc = build_closed_vpc(ec2, r53, REGION)
            dynamodb, sns, sqs = boto3.client("dynamodb"), boto3.client("sns"), boto3.client("sqs")
            # Key schema and TTL attribute as in the HealthReportsTable snippet of the report.
            dynamodb.create_table(
                TableName="health-reports",
                AttributeDefinitions=[{"AttributeName": "reportId", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "reportId", "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )
            topic = sns.create_topic(Name="notifications")["TopicArn"]
            inbox = sqs.create_queue(QueueName="health-inbox")["QueueUrl"]
            inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
            s3_names = [
                d["DnsName"]
                for d in ec2.describe_vpc_endpoints(VpcEndpointIds=[vpc.endpoint_ids["s3"]])["VpcEndpoints"][
                    0
                ]["DnsEntries"]
            ]
            certs = make_certificates(
                tmp_path_factory.mktemp("certs"), [f"*.{REGION}.amazonaws.com", *s3_names]
            )
            env = {
                "HEALTH_REPORTS_TABLE_NAME": "health-reports",
                "NOTIFICATION_TOPIC_ARN": topic,
                "HEALTH_VPC_ID": vpc.vpc_id,
                "HEALTH_FUNCTION_SUBNET_IDS": ",".join(vpc.private_subnet_ids),
                "STAGING_SUBNET_ID": vpc.staging_subnet_id,
                "REPLICATION_SECURITY_GROUP_IDS": ",".join(vpc.replication_security_group_ids),
                "HEALTH_ON_PREM_CIDRS": ",".join(vpc.on_prem_cidrs),
            }
            emulator = MgnEmulator(
                SimClock(), staging_subnet_id=vpc.staging_subnet_id, launch_subnet_id=vpc.launch_subnet_id
            )
            with emulator.installed(), TlsListener(certs) as listener:
                yield Stack(ec2, r53, dynamodb, sqs, vpc, inbox, certs, listener, env)  # type: ignore[arg-type]


@pytest.fixture
def app(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    for key, value in stack.env.items():
        monkeypatch.setenv(key, value)
    sys.modules.pop("functions.network_health.app", None)
    module = importlib.import_module("functions.network_health.app")
    module.probe_tools = stack.probe_tools()
    return module


def run(app: ModuleType, event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = app.lambda_handler(event, FakeLambdaContext())
    return result


def assert_only_failure(report: dict[str, Any], expected: str) -> None:
    results = {r["checkId"]: r for r in report["results"]}
    assert report["failing"] == [expected], report["failing"]
    assert results[expected]["fix"], "a failing check must say how to fix it"
    for check_id, result in results.items():
        if check_id == expected or result["status"] == "PASS":
            continue
        # The only other non-PASS results are probes skipped because of the one failure.
        assert result["status"] == "WARN" and expected in result["evidence"]["blockedBy"], (check_id, result)


def test_healthy_vpc_passes_every_check(app: ModuleType) -> None:
    report = run(app, load_event("network-health-on-demand.json"))

    assert report["status"] == "PASS", [r for r in report["results"] if r["status"] != "PASS"]
    ids = {r["checkId"] for r in report["results"]}
    assert {"endpoint.mgn", "dns.mgn", "reach.mgn", "reach.s3", "resolver.inbound", "s3-policy"} <= ids
    reach = next(r for r in report["results"] if r["checkId"] == "reach.mgn")
    assert "DescribeSourceServers" in reach["evidence"]["apiCall"]  # through the MGN emulator
    assert reach["evidence"]["tlsVersion"].startswith("TLS")
    assert report["dnsForwarder"]["forwardTo"] == [
        a["Ip"]
        for a in app.clients.route53resolver.list_resolver_endpoint_ip_addresses(
            ResolverEndpointId=app.clients.route53resolver.list_resolver_endpoints()["ResolverEndpoints"][0][
                "Id"
            ]
        )["IpAddresses"]
    ]


Switch = Callable[[Stack], object]
SWITCHES: list[tuple[str, Switch, Switch, str]] = [
    (
        "endpoint deleted",
        lambda s: s.vpc.delete_endpoint(s.ec2, "mgn"),
        lambda s: s.vpc.restore_endpoint(s.ec2, "mgn"),
        "endpoint.mgn",
    ),
    # What post-launch actions need: the SSM agent's channels, each failing its own check.
    (
        "ssmmessages endpoint deleted",
        lambda s: s.vpc.delete_endpoint(s.ec2, "ssmmessages"),
        lambda s: s.vpc.restore_endpoint(s.ec2, "ssmmessages"),
        "endpoint.ssmmessages",
    ),
    (
        "ec2messages private dns off",
        lambda s: s.vpc.disable_private_dns(s.ec2, "ec2messages"),
        lambda s: s.vpc.enable_private_dns(s.ec2, "ec2messages"),
        "private-dns.ec2messages",
    ),
    (
        "s3 gateway deleted",
        lambda s: s.vpc.delete_endpoint(s.ec2, "s3", gateway=True),
        lambda s: s.vpc.restore_endpoint(s.ec2, "s3", gateway=True),
        "gateway.s3",
    ),
    (
        "private dns off",
        lambda s: s.vpc.disable_private_dns(s.ec2, "ec2"),
        lambda s: s.vpc.enable_private_dns(s.ec2, "ec2"),
        "private-dns.ec2",
    ),
    (
        "endpoint sg 443 missing",
        lambda s: s.vpc.remove_endpoint_ingress_443(s.ec2),
        lambda s: s.vpc.restore_endpoint_ingress_443(s.ec2),
        "sg.endpoint-443",
    ),
    (
        "replication sg 1500 missing",
        lambda s: s.vpc.remove_replication_ingress_1500(s.ec2),
        lambda s: s.vpc.restore_replication_ingress_1500(s.ec2),
        "sg.replication-1500",
    ),
    (
        "nacl deny 1500",
        lambda s: s.vpc.add_nacl_deny(s.ec2, 1500),
        lambda s: s.vpc.remove_nacl_deny(s.ec2, 1500),
        "nacl.staging-subnet",
    ),
    (
        "public route igw",
        lambda s: s.vpc.add_public_route(s.ec2, "igw"),
        lambda s: s.vpc.remove_public_route(s.ec2),
        "routes.closed",
    ),
    (
        "public route nat",
        lambda s: s.vpc.add_public_route(s.ec2, "nat"),
        lambda s: s.vpc.remove_public_route(s.ec2),
        "routes.closed",
    ),
    (
        "resolver missing",
        lambda s: s.vpc.delete_resolver_endpoint(s.r53),
        lambda s: s.vpc.restore_resolver_endpoint(s.r53),
        "resolver.inbound",
    ),
    (
        "s3 policy too narrow",
        lambda s: s.vpc.narrow_s3_endpoint_policy(s.ec2),
        lambda s: s.vpc.restore_s3_endpoint_policy(s.ec2),
        "s3-policy",
    ),
]


@pytest.mark.parametrize(("name", "breaks", "undo", "check_id"), SWITCHES, ids=[s[0] for s in SWITCHES])
def test_each_broken_piece_fails_its_own_check(
    app: ModuleType, stack: Stack, name: str, breaks: Switch, undo: Switch, check_id: str
) -> None:
    breaks(stack)
    try:
        report = run(app, load_event("network-health-on-demand.json"))
    finally:
        undo(stack)
    assert_only_failure(report, check_id)
    assert report["status"] == "FAIL"


def test_gate_blocks_on_failure_stores_report_and_notifies(app: ModuleType, stack: Stack) -> None:
    stack.dynamodb.delete_item(TableName="health-reports", Key={"reportId": {"S": "latest"}})
    stack.notices()
    stack.vpc.remove_replication_ingress_1500(stack.ec2)
    try:
        with pytest.raises(
            NetworkHealthGateFailed, match=r"before-cutover blocked.*sg\.replication-1500"
        ) as raised:
            run(app, load_event("network-health-gate-before-cutover.json"))
    finally:
        stack.vpc.restore_replication_ingress_1500(stack.ec2)
    assert type(raised.value).__name__ == "NetworkHealthGateFailed"  # what the state machine's Catch names

    latest = stack.dynamodb.get_item(TableName="health-reports", Key={"reportId": {"S": "latest"}})["Item"]
    assert latest["status"]["S"] == "FAIL"
    assert [f["S"] for f in latest["failing"]["L"]] == ["sg.replication-1500"]
    history = stack.dynamodb.scan(TableName="health-reports")["Items"]
    assert any("expiresAt" in item for item in history)

    (notice,) = stack.notices()
    assert "sg.replication-1500" in notice["Subject"]
    assert "Fix: aws ec2 authorize-security-group-ingress" in notice["Message"]
    assert "--port 1500" in notice["Message"]

    # Healthy again: the gate passes with a summary, and the recovery is announced once.
    summary = run(app, load_event("network-health-gate-before-test.json"))
    assert summary["status"] == "PASS" and summary["failing"] == []
    assert "results" not in summary
    (recovered,) = stack.notices()
    assert "pass again" in recovered["Subject"]
    run(app, load_event("network-health-scheduled.json"))
    assert stack.notices() == []  # nothing changed: no repeat


def test_schedule_reports_failure_without_raising(app: ModuleType, stack: Stack) -> None:
    stack.vpc.add_nacl_deny(stack.ec2, 1500)
    try:
        report = run(app, load_event("network-health-scheduled.json"))
    finally:
        stack.vpc.remove_nacl_deny(stack.ec2, 1500)
    assert report["trigger"] == "schedule"
    assert report["failing"] == ["nacl.staging-subnet"]


@pytest.mark.filterwarnings("ignore:No application metrics to publish")  # the handler raised before any
@pytest.mark.parametrize("event", ["network-health-malformed.json"])
def test_malformed_input_raises(app: ModuleType, event: str) -> None:
    with pytest.raises(InvalidHealthRequest):
        run(app, load_event(event))
    with pytest.raises(InvalidHealthRequest):
        run(app, {"gate": "whenever"})


def test_unreadable_vpc_fails_the_gate_closed(app: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEALTH_VPC_ID", "vpc-0123456789abcdef0")
    with pytest.raises(NetworkHealthGateFailed, match=r"inventory\.read"):
        run(app, load_event("network-health-gate-before-test.json"))


def test_events_directory_has_the_requests() -> None:
    events = sorted(
        p.name for p in (Path(__file__).resolve().parents[2] / "events").glob("network-health-*.json")
    )
    assert events == [
        "network-health-gate-before-cutover.json",
        "network-health-gate-before-test.json",
        "network-health-malformed.json",
        "network-health-on-demand.json",
        "network-health-scheduled.json",
    ]
