"""The MGN event function, driven against the emulated MGN: events are hints, MGN is the truth."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mgn_pipeline.shared.errors import InvalidEventError
from tests.conftest import FakeLambdaContext, load_event
from tests.integration.conftest import Account


def event_for(account: Account, name: str, server_id: str, event_id: str | None = None) -> dict[str, Any]:
    event = copy.deepcopy(load_event(name))
    arn = account.mgn.server(server_id).arn
    event["resources"] = [arn] if event["detail-type"] != "AWS API Call via CloudTrail" else []
    if "sourceServerID" in event["detail"].get("requestParameters", {}):
        event["detail"]["requestParameters"]["sourceServerID"] = server_id
    if event_id:
        event["id"] = event_id
    return event


def registry_step(account: Account, server_id: str) -> str | None:
    item = account.dynamodb.get_item(TableName="servers", Key={"serverId": {"S": server_id}}).get("Item")
    return item["step"]["S"] if item else None


def test_ready_for_test_event_records_the_real_state(account: Account) -> None:
    server_id = account.mgn.register_agent("erp-01")
    account.clock.run_until_idle(max_seconds=3600)
    handler = account.load_handler("mgn_events")

    result = handler.lambda_handler(
        event_for(account, "mgn-lifecycle-ready-for-test.json", server_id), FakeLambdaContext()
    )

    assert [advance["step"] for advance in result] == ["START_TEST"]
    assert registry_step(account, server_id) == "START_TEST"


def test_stale_event_is_judged_by_the_servers_real_state(account: Account) -> None:
    # A "ready for test" event that arrives before replication finished must not be believed.
    server_id = account.mgn.register_agent("late-01")
    handler = account.load_handler("mgn_events")

    result = handler.lambda_handler(
        event_for(account, "mgn-lifecycle-ready-for-test.json", server_id), FakeLambdaContext()
    )

    assert [advance["step"] for advance in result] == ["ENFORCE_REPLICATION_SETTINGS"]


def test_duplicate_delivery_acts_once(account: Account) -> None:
    server_id = account.mgn.register_agent("dup-01")
    handler = account.load_handler("mgn_events")
    event = event_for(account, "cloudtrail-update-replication-configuration.json", server_id, "same-id-1")

    first = handler.lambda_handler(event, FakeLambdaContext())
    reads_after_first = account.call_count("DescribeSourceServers")
    second = handler.lambda_handler(copy.deepcopy(event), FakeLambdaContext())

    assert second == first
    assert account.call_count("DescribeSourceServers") == reads_after_first


def test_malformed_event_raises_and_touches_nothing(account: Account) -> None:
    handler = account.load_handler("mgn_events")
    with pytest.raises(InvalidEventError, match="not an MGN source-server ARN"):
        handler.lambda_handler(load_event("malformed-resource-not-a-server.json"), FakeLambdaContext())
    assert account.mgn.calls == []
    assert account.dynamodb.scan(TableName="servers")["Items"] == []
    assert account.dynamodb.scan(TableName="idempotency")["Items"] == []


def test_unknown_server_is_logged_not_acted_on(account: Account, pipeline_log: list[str]) -> None:
    handler = account.load_handler("mgn_events")
    event = load_event("mgn-replication-stalled.json")  # names s-1234567890abcdef0, unknown here

    result = handler.lambda_handler(event, FakeLambdaContext())

    assert result == []
    assert account.dynamodb.scan(TableName="servers")["Items"] == []
    assert any("MGN does not know" in line for line in pipeline_log)


def test_undocumented_detail_type_is_logged_and_ignored(account: Account, pipeline_log: list[str]) -> None:
    server_id = account.mgn.register_agent("new-01")
    handler = account.load_handler("mgn_events")

    result = handler.lambda_handler(
        event_for(account, "mgn-undocumented-detail-type.json", server_id), FakeLambdaContext()
    )

    assert result == []
    assert account.mgn.calls == []
    assert any("unknown MGN detail-type" in line for line in pipeline_log)
