"""Which step each observed MGN state calls for."""

from __future__ import annotations

from typing import Any

import pytest

from mgn_pipeline.shared.errors import InvalidEventError
from mgn_pipeline.shared.server import LifeCycleState, ReplicationState, SourceServer
from mgn_pipeline.shared.steps import PipelineStep, next_step


def api_item(lifecycle: str, replication: str | None = "CONTINUOUS", **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "sourceServerID": "s-1234567890abcdef0",
        "arn": "arn:aws:mgn:us-east-1:111122223333:source-server/s-1234567890abcdef0",
        "isArchived": False,
        "lifeCycle": {"state": lifecycle},
        "sourceProperties": {"identificationHints": {"hostname": "erp-db-01"}},
    }
    if replication is not None:
        item["dataReplicationInfo"] = {"dataReplicationState": replication, "lagDuration": "PT5S"}
    item.update(extra)
    return item


@pytest.mark.parametrize(
    ("lifecycle", "replication", "expected"),
    [
        ("PENDING_INSTALLATION", None, PipelineStep.ENFORCE_REPLICATION_SETTINGS),
        ("NOT_READY", "INITIAL_SYNC", PipelineStep.ENFORCE_REPLICATION_SETTINGS),
        ("NOT_READY", "STALLED", PipelineStep.REPAIR_REPLICATION),
        ("READY_FOR_TEST", "CONTINUOUS", PipelineStep.START_TEST),
        ("READY_FOR_TEST", "BACKLOG", PipelineStep.WAIT_FOR_REPLICATION),
        ("READY_FOR_TEST", "STALLED", PipelineStep.REPAIR_REPLICATION),
        ("TESTING", "CONTINUOUS", PipelineStep.VERIFY_TEST),
        ("READY_FOR_CUTOVER", "CONTINUOUS", PipelineStep.OPEN_CUTOVER_GATE),
        ("CUTTING_OVER", "CONTINUOUS", PipelineStep.VERIFY_CUTOVER),
        ("CUTOVER", "CONTINUOUS", PipelineStep.FINALIZE_CUTOVER),
        ("DISCONNECTED", "DISCONNECTED", PipelineStep.NONE),
        ("STOPPED", "STOPPED", PipelineStep.NONE),
    ],
)
def test_state_to_step(lifecycle: str, replication: str | None, expected: PipelineStep) -> None:
    assert next_step(SourceServer.from_api(api_item(lifecycle, replication))) is expected


def test_finalized_cutover_is_done() -> None:
    item = api_item(
        "CUTOVER",
        "DISCONNECTED",
        lifeCycle={
            "state": "CUTOVER",
            "lastCutover": {"finalized": {"apiCallDateTime": "2026-01-05T10:00:00Z"}},
        },
    )
    assert next_step(SourceServer.from_api(item)) is PipelineStep.DONE


def test_archived_server_is_never_acted_on() -> None:
    assert next_step(SourceServer.from_api(api_item("READY_FOR_TEST", isArchived=True))) is PipelineStep.NONE


def test_replication_error_means_repair_even_if_state_looks_fine() -> None:
    item = api_item("NOT_READY", "INITIAL_SYNC")
    item["dataReplicationInfo"]["dataReplicationError"] = {
        "error": "FAILED_TO_CONNECT_AGENT_TO_REPLICATION_SERVER"
    }
    server = SourceServer.from_api(item)
    assert server.replication_error == "FAILED_TO_CONNECT_AGENT_TO_REPLICATION_SERVER"
    assert next_step(server) is PipelineStep.REPAIR_REPLICATION


def test_server_fields_read_from_api() -> None:
    item = api_item(
        "TESTING",
        launchedInstance={"ec2InstanceID": "i-0123456789abcdef0", "jobID": "mgnjob-04ca7d0d3fb6afa3e"},
        tags={"wave": "1"},
    )
    item["lifeCycle"]["lastTest"] = {"initiated": {"jobID": "mgnjob-04ca7d0d3fb6afa3e"}}
    server = SourceServer.from_api(item)
    assert server.hostname == "erp-db-01"
    assert server.launched_instance_id == "i-0123456789abcdef0"
    assert server.last_test_job_id == "mgnjob-04ca7d0d3fb6afa3e"
    assert server.tags == {"wave": "1"}
    assert server.lifecycle is LifeCycleState.TESTING
    assert server.replication is ReplicationState.CONTINUOUS


def test_unknown_replication_state_does_not_crash() -> None:
    server = SourceServer.from_api(api_item("NOT_READY", "SOMETHING_MGN_ADDED_LATER"))
    assert server.replication is ReplicationState.UNKNOWN


def test_unknown_lifecycle_is_refused() -> None:
    with pytest.raises(InvalidEventError):
        SourceServer.from_api(api_item("TELEPORTING"))
