"""A container's MGN pace: calls spaced at least 1 / per_second apart, across invocations, on the
client's own calls (a botocore hook), and not at all where no rate is set (a person's tools)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import Stubber

import mgn_pipeline.shared.aws.pace as pace_module
from mgn_pipeline.shared.aws.clients import AwsClients
from mgn_pipeline.shared.aws.pace import CallPace


class FakeTime:
    """A clock that only moves when something sleeps on it, or when the test says so."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(pace_module, "clock", fake)
    return fake


def test_calls_in_a_burst_are_spaced_by_the_rate(fake_time: FakeTime) -> None:
    pace = CallPace(per_second=2)
    for _ in range(4):
        pace.wait_turn()
    assert fake_time.slept == [0.5, 0.5, 0.5]  # the first goes at once
    assert fake_time.now == pytest.approx(1_001.5)


def test_a_call_after_a_quiet_spell_goes_at_once(fake_time: FakeTime) -> None:
    pace = CallPace(per_second=1)
    pace.wait_turn()
    fake_time.now += 5  # the container's next invocation, seconds later
    pace.wait_turn()
    fake_time.now += 0.25  # and one right behind it
    pace.wait_turn()
    assert fake_time.slept == [0.75]


def test_no_rate_means_no_pace(fake_time: FakeTime) -> None:
    pace = CallPace()
    for _ in range(3):
        pace.wait_turn()
    assert fake_time.slept == []


def test_the_container_s_mgn_client_is_paced_on_every_call_once_settings_set_a_rate(
    fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    clients = AwsClients()
    client = clients.mgn
    answers: list[dict[str, Any]] = [{"items": []}] * 5
    with Stubber(client) as stub:
        for answer in answers:
            stub.add_response("describe_source_servers", answer, {"filters": {}})
        client.describe_source_servers(filters={})
        client.describe_source_servers(filters={})
        assert fake_time.slept == []  # no rate yet: the operator's tools are never paced
        clients.pace_mgn(4)  # what the function's MGN_CALLS_PER_SECOND sets at invocation
        for _ in range(3):
            client.describe_source_servers(filters={})
    assert fake_time.slept == [0.25, 0.25]


def test_another_service_s_client_is_not_paced(fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    clients = AwsClients()
    clients.pace_mgn(1)
    dynamodb = clients.dynamodb
    with Stubber(dynamodb) as stub:
        for _ in range(3):
            stub.add_response("describe_limits", {}, {})
            dynamodb.describe_limits()
    assert fake_time.slept == []
