"""Network-health runner, requests, settings, report store and notifications, without AWS or sockets."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from mgn_pipeline.health import probes
from mgn_pipeline.health.errors import (
    InvalidHealthRequest,
    NetworkHealthGateFailed,
    NetworkInventoryUnavailable,
)
from mgn_pipeline.health.model import CheckResult, HealthReport, Status, failed, passed
from mgn_pipeline.health.probes import ProbeTools
from mgn_pipeline.health.reports import HealthReportStore, notification_body, notification_subject
from mgn_pipeline.health.runner import run_checks
from mgn_pipeline.health.service import (
    HealthDependencies,
    emit_check_metrics,
    parse_request,
    run_network_health,
)
from mgn_pipeline.health.settings import load_health_settings
from mgn_pipeline.shared.errors import SettingsError
from mgn_pipeline.shared.events import EventOrigin
from tests.unit.test_health_checks import EXPECT, healthy

NOW = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)


def in_vpc(_name: str, _timeout: float) -> list[str]:
    return ["10.0.1.50"]


def refuse(address: str, port: int, _timeout: float) -> socket.socket:
    raise ConnectionRefusedError(f"{address}:{port} refused")


def by_id(found: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.check_id: r for r in found}


# ---------------------------------------------------------------------- requests
@pytest.mark.parametrize(
    ("event", "trigger", "gate"),
    [
        ({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}, "schedule", None),
        ({}, "on-demand", None),
        ({"requestedBy": "alice"}, "on-demand", None),
        ({"gate": "before-test", "serverIds": ["s-1234567890abcdef0"]}, "before-test", "before-test"),
        ({"gate": "before-cutover"}, "before-cutover", "before-cutover"),
    ],
)
def test_requests_understood(event: dict[str, Any], trigger: str, gate: str | None) -> None:
    request = parse_request(event)
    assert (request.trigger, request.gate) == (trigger, gate)


@pytest.mark.parametrize(
    "event",
    [
        [],
        "check",
        {"gate": "before-launch"},
        {"gate": "before-test", "extra": 1},
        {"key1": "value1"},
        {"requestedBy": 3},
        {"requestedBy": "alice\nbob"},
        {"requestedBy": "x" * 257},
        {"gate": "before-test", "serverIds": ["s-1"]},
        {"gate": "before-test", "serverIds": "s-1234567890abcdef0"},
        {"gate": "before-cutover", "executionArn": "arn:aws:iam::111122223333:role/x"},
        {"gate": "before-cutover", "waveId": "=cmd|' /C calc'!A0"},
    ],
)
def test_malformed_requests_raise(event: Any) -> None:
    with pytest.raises(InvalidHealthRequest):
        parse_request(event)


HERE = EventOrigin("111122223333", "eu-west-1")
SCHEDULE = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}


@pytest.mark.parametrize(
    ("where", "accepted"),
    [
        ({"account": "111122223333", "region": "eu-west-1"}, True),
        ({"account": "444455556666", "region": "eu-west-1"}, False),
        ({"account": "111122223333", "region": "us-east-1"}, False),
        ({}, False),
    ],
)
def test_a_schedule_runs_the_check_only_from_this_account_and_region(
    where: dict[str, str], accepted: bool
) -> None:
    event = {**SCHEDULE, **where}
    if accepted:
        assert parse_request(event, HERE).trigger == "schedule"
    else:
        with pytest.raises(InvalidHealthRequest, match="acts only on account 111122223333 in eu-west-1"):
            parse_request(event, HERE)


# ---------------------------------------------------------------------- runner
def test_probes_pass_on_private_answers_and_name_the_tls_failure() -> None:
    found = by_id(run_checks(healthy(), EXPECT, ProbeTools(in_vpc, refuse, timeout_seconds=0.2))[0])
    assert found["dns.mgn"].status is Status.PASS
    assert found["dns.mgn"].evidence["answers"]["mgn.eu-west-1.amazonaws.com"] == ["10.0.1.50"]
    reach = found["reach.mgn"]
    assert reach.status is Status.FAIL and reach.evidence["stage"] == "tcp"
    assert "sg.endpoint-443" in reach.fix
    # S3's interface endpoint is probed by its endpoint-specific name with a bucket label.
    assert found["reach.s3"].evidence["hostname"] == "bucket.vpce-0s3-x.s3.eu-west-1.vpce.amazonaws.com"
    assert found["dns.dynamodb"].status is Status.PASS  # gateway service: its name only has to resolve


def test_public_answer_fails_dns_and_skips_reach() -> None:
    def public(name: str, _timeout: float) -> list[str]:
        return ["3.248.1.1"] if name.startswith("ec2.") else ["10.0.1.50"]

    found = by_id(run_checks(healthy(), EXPECT, ProbeTools(public, refuse, timeout_seconds=0.2))[0])
    assert found["dns.ec2"].status is Status.FAIL
    assert "3.248.1.1" in found["dns.ec2"].summary and "private DNS" in found["dns.ec2"].fix
    assert found["reach.ec2"].status is Status.WARN and found["reach.ec2"].evidence["blockedBy"] == [
        "dns.ec2"
    ]


def test_probes_of_a_missing_endpoint_are_skipped_not_run() -> None:
    calls: list[str] = []

    def recording(name: str, _timeout: float) -> list[str]:
        calls.append(name)
        return ["10.0.1.50"]

    inventory = healthy()
    inventory.vpc_endpoints[0]["State"] = "deleted"
    found = by_id(run_checks(inventory, EXPECT, ProbeTools(recording, refuse, timeout_seconds=0.2))[0])
    assert found["dns.mgn"].evidence["blockedBy"] == ["endpoint.mgn"]
    assert not any(name.startswith(("mgn.", "vpce-0mgn")) for name in calls)


def test_api_call_failure_is_reported_with_its_stage() -> None:
    def denied() -> str:
        raise PermissionError("AccessDeniedException: not allowed by the endpoint policy")

    tools = ProbeTools(in_vpc, refuse, timeout_seconds=0.2)
    # TLS cannot run without a socket here: check the API stage through the runner's reach function.
    from mgn_pipeline.health import runner

    plan = next(p for p in runner.plan_probes(healthy(), EXPECT) if p.service == "mgn")
    original = runner.tls_handshake
    try:
        runner.tls_handshake = lambda *_a, **_k: {"tlsVersion": "TLSv1.3"}  # type: ignore[assignment]
        result = runner._reach_result(plan, tools, {"mgn.eu-west-1.amazonaws.com": ["10.0.1.50"]}, denied)
    finally:
        runner.tls_handshake = original
    assert result.status is Status.FAIL and result.evidence["stage"] == "api"
    assert "endpoint policy" in result.fix


def test_run_deadline_bounds_slow_probes() -> None:
    def slow(_name: str, _timeout: float) -> list[str]:
        time.sleep(0.5)
        return ["10.0.1.50"]

    started = time.perf_counter()
    found = by_id(
        run_checks(healthy(), EXPECT, ProbeTools(slow, refuse, timeout_seconds=0.2), deadline_seconds=0.1)[0]
    )
    assert time.perf_counter() - started < 0.4
    assert found["dns.mgn"].status is Status.FAIL and "deadline" in found["dns.mgn"].summary


def test_system_resolve_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probes.socket, "getaddrinfo", lambda *_a, **_k: time.sleep(1))
    with pytest.raises(TimeoutError):
        probes.system_resolve("mgn.eu-west-1.amazonaws.com", 0.05)


# ---------------------------------------------------------------------- report, store, notifications
def report(*results: CheckResult, trigger: str = "schedule") -> HealthReport:
    return HealthReport(
        "r-1",
        NOW.isoformat(),
        trigger,
        "eu-west-1",
        EXPECT.vpc_id,
        tuple(results),
        12.0,
        {"forwardTo": ["10.0.1.53"], "windows": "Add-Dns...", "bind": "zone ..."},
    )


def test_subject_names_failing_checks_within_100_characters() -> None:
    many = [failed(f"endpoint.service-number-{i}", "gone", "create it") for i in range(12)]
    subject = notification_subject(report(*many))
    assert len(subject) <= 100 and subject.startswith(
        "MGN network health FAIL (12): endpoint.service-number-0"
    )
    assert subject.endswith("more)")
    assert notification_subject(report(passed("a", "ok"))) == "MGN network health: all checks pass again"


def test_body_has_evidence_fix_and_forwarder() -> None:
    body = notification_body(
        report(failed("routes.closed", "route to igw-1", "aws ec2 delete-route ...", target="igw-1"))
    )
    assert "FAIL routes.closed: route to igw-1" in body
    assert "Fix: aws ec2 delete-route ..." in body and '"target": "igw-1"' in body
    assert "forward amazonaws.com to 10.0.1.53" in body


class FakeTable:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def put_item(self, TableName: str, Item: dict[str, Any]) -> None:  # noqa: N803 - boto3's names
        self.items[Item["reportId"]["S"]] = Item

    def get_item(self, TableName: str, Key: dict[str, Any], ConsistentRead: bool) -> dict[str, Any]:  # noqa: N803
        item = self.items.get(Key["reportId"]["S"])
        return {"Item": item} if item else {}


def test_store_writes_latest_and_expiring_history() -> None:
    table = FakeTable()
    store = HealthReportStore(table, "health")
    assert store.latest() is None
    key = store.save(report(failed("s3-policy", "narrow", "widen")), now=NOW, ttl_days=30)
    assert table.items[key]["expiresAt"]["N"] == str(int(NOW.timestamp()) + 30 * 86400)
    assert "expiresAt" not in table.items["latest"]
    assert store.latest() is not None and store.latest()["failing"] == ["s3-policy"]  # type: ignore[index]


def test_store_drops_passing_evidence_of_huge_reports() -> None:
    table = FakeTable()
    big = passed("dns.mgn", "ok", answers={"x": "y" * 400_000})
    HealthReportStore(table, "health").save(report(big), now=NOW, ttl_days=1)
    assert len(table.items["latest"]["report"]["S"]) < 350_000


def test_emit_metrics_one_per_check(capsys: pytest.CaptureFixture[str]) -> None:
    emit_check_metrics(report(passed("a.ok", "ok"), failed("b.bad", "no", "fix")))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    per_check = {line["CheckId"]: line["HealthCheckFailed"] for line in lines if "CheckId" in line}
    assert per_check == {"a.ok": [0.0], "b.bad": [1.0]} or per_check == {"a.ok": 0, "b.bad": 1}


# ---------------------------------------------------------------------- one invocation
class FakeReader:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def read(self, vpc_id: str) -> Any:
        if self.fail:
            raise NetworkInventoryUnavailable(f"cannot describe VPC {vpc_id}")
        return healthy()


class FakeNotifier:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def notify(self, subject: str, body: str, kind: str) -> None:
        self.sent.append((subject, body, kind))


def deps(
    reader: FakeReader, notifier: FakeNotifier, table: FakeTable, connect: Any = refuse
) -> HealthDependencies:
    return HealthDependencies(
        inventory=reader,  # type: ignore[arg-type]
        store=HealthReportStore(table, "health"),
        notifier=notifier,  # type: ignore[arg-type]
        tools=ProbeTools(in_vpc, connect, timeout_seconds=0.2),
        api_calls={},
        emit_metrics=lambda _report: None,
    )


def test_schedule_returns_report_and_notifies_once_per_change() -> None:
    notifier, table = FakeNotifier(), FakeTable()
    event = parse_request({"source": "aws.events", "detail-type": "Scheduled Event"})
    first = run_network_health(
        event, EXPECT, deps(FakeReader(), notifier, table), deadline_seconds=2, report_ttl_days=1, now=NOW
    )
    assert first["status"] == "FAIL" and "reach.mgn" in first["failing"]  # connections refused in this test
    assert len(notifier.sent) == 1 and notifier.sent[0][2] == "network-health"
    run_network_health(
        event, EXPECT, deps(FakeReader(), notifier, table), deadline_seconds=2, report_ttl_days=1, now=NOW
    )
    assert len(notifier.sent) == 1  # same failures: no repeat


def test_gate_fails_closed_when_the_vpc_cannot_be_read() -> None:
    notifier = FakeNotifier()
    with pytest.raises(NetworkHealthGateFailed) as raised:
        run_network_health(
            parse_request({"gate": "before-test"}),
            EXPECT,
            deps(FakeReader(fail=True), notifier, FakeTable()),
            deadline_seconds=1,
            report_ttl_days=1,
            now=NOW,
        )
    assert raised.value.failing == ["inventory.read"] and raised.value.gate == "before-test"
    assert "Gate before-test blocked by 1 failing network check(s): inventory.read" in str(raised.value)


# ---------------------------------------------------------------------- settings
SETTINGS = {
    "AWS_REGION": "eu-west-1",
    "PIPELINE_ACCOUNT_ID": "111122223333",
    "HEALTH_REPORTS_TABLE_NAME": "health-reports",
    "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:eu-west-1:111122223333:mgn",
    "HEALTH_VPC_ID": "vpc-0a1b2c3d4e5f60718",
    "HEALTH_FUNCTION_SUBNET_IDS": "subnet-0aaaaaaaaaaaaaaa1, subnet-0bbbbbbbbbbbbbbb2",
    "STAGING_SUBNET_ID": "subnet-0ccccccccccccccc3",
    "REPLICATION_SECURITY_GROUP_IDS": "sg-0123456789abcdef0",
    "HEALTH_ON_PREM_CIDRS": "192.168.0.0/16,10.20.0.1/16",
}


def test_settings_build_expectations() -> None:
    settings = load_health_settings(SETTINGS)
    expectations = settings.expectations()
    assert expectations.on_prem_cidrs == ("192.168.0.0/16", "10.20.0.0/16")  # normalized
    assert expectations.dns_client_cidrs == expectations.on_prem_cidrs
    assert expectations.interface_services == (
        "mgn",
        "ec2",
        "s3",
        "sns",
        "states",
        "ssm",
        "ssmmessages",
        "ec2messages",
    )
    assert settings.deadline_seconds == 20.0 and settings.probe_timeout_seconds == 2.0


@pytest.mark.parametrize(
    ("key", "value"),
    [("HEALTH_ON_PREM_CIDRS", "not-a-cidr"), ("HEALTH_VPC_ID", "vpc-x"), ("HEALTH_DEADLINE_SECONDS", "90")],
)
def test_bad_setting_names_itself(key: str, value: str) -> None:
    with pytest.raises(SettingsError, match=key):
        load_health_settings({**SETTINGS, key: value})


def test_check_result_round_trip() -> None:
    result = replace(failed("x", "y", "z", a=1), duration_ms=1.234)
    assert result.as_dict() == {
        "checkId": "x",
        "status": "FAIL",
        "summary": "y",
        "evidence": {"a": 1},
        "fix": "z",
        "durationMs": 1.2,
    }
