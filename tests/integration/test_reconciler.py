"""The scheduled reconciler, driven against the emulated MGN: the safety net for lost events."""

from __future__ import annotations

from typing import Any

import pytest

from mgn_pipeline.pipeline.advance import Pipeline
from mgn_pipeline.pipeline.reconcile import reconcile
from mgn_pipeline.shared.aws.mgn import MgnGateway
from mgn_pipeline.shared.aws.server_registry import ServerRegistry, is_server_id
from mgn_pipeline.shared.errors import MgnConflictError, ReconcileIncompleteError, SettingsError
from mgn_pipeline.shared.server import LifeCycleState, SourceServer
from mgn_pipeline.shared.steps import PipelineStep
from tests.conftest import FakeLambdaContext, load_event
from tests.integration.conftest import Account


def registry_items(account: Account) -> dict[str, dict[str, Any]]:
    items = account.dynamodb.scan(TableName="servers")["Items"]
    return {
        item["serverId"]["S"]: {k: next(iter(v.values())) for k, v in item.items()}
        for item in items
        if is_server_id(item["serverId"]["S"])  # not the account checks' record
    }


def test_reconciler_reads_every_server_across_pages_and_records_its_step(account: Account) -> None:
    server_ids = [account.mgn.register_agent(f"app-{n:03d}") for n in range(250)]
    handler = account.load_handler("reconciler")

    report = handler.lambda_handler(load_event("scheduled-reconcile.json"), FakeLambdaContext())

    assert report["serversSeen"] == 250
    assert report["failures"] == {}
    # Fresh agents are replicating: each awaits private-IP enforcement before data flows.
    assert report["steps"] == {"ENFORCE_REPLICATION_SETTINGS": 250}
    items = registry_items(account)
    assert set(items) == set(server_ids)
    assert {item["step"] for item in items.values()} == {"ENFORCE_REPLICATION_SETTINGS"}
    assert items[server_ids[0]]["hostname"] == "app-000"
    # The emulator pages at most 100 per call when asked for 200: three pages, nothing missed.
    assert account.call_count("DescribeSourceServers") >= 2


def test_second_run_without_changes_writes_nothing(account: Account) -> None:
    for n in range(20):
        account.mgn.register_agent(f"db-{n}")
    handler = account.load_handler("reconciler")

    first = handler.lambda_handler({}, FakeLambdaContext())
    second = handler.lambda_handler({}, FakeLambdaContext())

    assert first["recordsWritten"] == 20
    assert second["recordsWritten"] == 0


def test_lost_event_is_caught_up_by_the_next_run(account: Account) -> None:
    server_id = account.mgn.register_agent("erp-01")
    handler = account.load_handler("reconciler")
    handler.lambda_handler({}, FakeLambdaContext())
    before = registry_items(account)[server_id]

    # Replication completes; MGN's READY_FOR_TEST event is lost (nobody delivers it).
    account.clock.run_until_idle(max_seconds=3600)
    assert account.mgn.server(server_id).lifecycle == "READY_FOR_TEST"
    report = handler.lambda_handler({}, FakeLambdaContext())

    after = registry_items(account)[server_id]
    assert report["steps"] == {"START_TEST": 1}
    assert after["step"] == "START_TEST"
    assert after["lifecycle"] == "READY_FOR_TEST"
    assert after["replication"] == "CONTINUOUS"
    assert after["stepSince"] > before["stepSince"]
    assert after["lastTrigger"] == "reconciler"


def test_archived_servers_are_neither_read_nor_recorded(account: Account) -> None:
    kept = account.mgn.register_agent("keep-01")
    gone = account.mgn.register_agent("gone-01")
    account.mgn_client.disconnect_from_service(sourceServerID=gone)
    account.mgn_client.mark_as_archived(sourceServerID=gone)
    handler = account.load_handler("reconciler")

    report = handler.lambda_handler({}, FakeLambdaContext())

    assert report["serversSeen"] == 1
    assert set(registry_items(account)) == {kept}


def test_throttling_is_absorbed_by_sdk_retries(account: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(3):
        account.mgn.register_agent(f"web-{n}")
    account.mgn.throttle_next("DescribeSourceServers", count=2, retry_after=1)
    slept: list[float] = []
    monkeypatch.setattr("time.sleep", slept.append)  # botocore's backoff, without waiting for real
    handler = account.load_handler("reconciler")

    report = handler.lambda_handler({}, FakeLambdaContext())

    assert report["serversSeen"] == 3
    assert len(slept) == 2


def test_one_failing_server_does_not_stop_the_others(account: Account) -> None:
    ids = [account.mgn.register_agent(f"mix-{n}") for n in range(5)]
    poisoned = ids[2]

    def action(server: SourceServer, trigger: str) -> str:
        if server.server_id == poisoned:
            raise MgnConflictError("ConflictException: server is busy with another job")
        return "done"

    pipeline = Pipeline(
        ServerRegistry(account.dynamodb, "servers"),
        actions={PipelineStep.ENFORCE_REPLICATION_SETTINGS: action},
    )
    with pytest.raises(ReconcileIncompleteError, match=poisoned):
        reconcile(MgnGateway(account.mgn_client), pipeline)

    # Every server was still recorded, the poisoned one included (the record precedes the action).
    assert set(registry_items(account)) == set(ids)


def test_missing_setting_fails_the_run_and_says_which(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SERVERS_TABLE_NAME")
    handler = account.load_handler("reconciler")
    with pytest.raises(SettingsError, match="SERVERS_TABLE_NAME"):
        handler.lambda_handler({}, FakeLambdaContext())
    assert account.call_count("DescribeSourceServers") == 0


def test_server_states_map_to_registry_steps_through_a_whole_lifecycle(account: Account) -> None:
    server_id = account.mgn.register_agent("life-01")
    handler = account.load_handler("reconciler")
    account.clock.run_until_idle(max_seconds=3600)
    account.mgn_client.start_test(sourceServerIDs=[server_id])
    handler.lambda_handler({}, FakeLambdaContext())
    assert registry_items(account)[server_id]["step"] == "VERIFY_TEST"
    assert account.mgn.server(server_id).lifecycle == LifeCycleState.TESTING.value
