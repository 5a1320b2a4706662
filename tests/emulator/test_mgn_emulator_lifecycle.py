"""MGN emulator: replication driven by the clock, launches into moto EC2, lifecycle rules, quotas, events."""

from __future__ import annotations

from typing import Any

import pytest
from mgn_test_support import ACCOUNT, FAST, JOB_DONE_AFTER, REGION, SYNCED_AFTER, ready_servers

from localcloud.mgn import MgnEmulator


def _describe(mgn: Any, sid: str) -> dict[str, Any]:
    return mgn.describe_source_servers(filters={"sourceServerIDs": [sid]})["items"][0]


def _detail_types(emu: MgnEmulator, kind: str) -> list[dict[str, Any]]:
    return [e for e in emu.events if e["detail-type"] == kind]


# ---- replication -------------------------------------------------------------------------------------


def test_agent_replicates_then_becomes_ready_for_test(emu: MgnEmulator, mgn: Any) -> None:
    sid = emu.register_agent("web01")
    s = _describe(mgn, sid)
    assert (s["lifeCycle"]["state"], s["dataReplicationInfo"]["dataReplicationState"]) == (
        "NOT_READY",
        "INITIATING",
    )
    assert "lagDuration" not in s["dataReplicationInfo"]

    emu.clock.advance(FAST.initiating_seconds + FAST.initial_sync_seconds / 2)
    info = _describe(mgn, sid)["dataReplicationInfo"]
    assert info["dataReplicationState"] == "INITIAL_SYNC"
    disk = info["replicatedDisks"][0]
    assert disk["replicatedStorageBytes"] == disk["totalStorageBytes"] // 2
    assert info["etaDateTime"] == "2026-01-05T08:11:00Z"

    emu.clock.advance(FAST.initial_sync_seconds / 2)
    s = _describe(mgn, sid)
    assert s["lifeCycle"]["state"] == "READY_FOR_TEST"
    assert s["dataReplicationInfo"]["dataReplicationState"] == "CONTINUOUS"
    assert s["dataReplicationInfo"]["lagDuration"] == "PT2S"
    assert s["lifeCycle"]["lastSeenByServiceDateTime"] == "2026-01-05T08:11:00Z"
    [event] = _detail_types(emu, "MGN Source Server Lifecycle State Change")
    assert event["detail"] == {"state": "READY_FOR_TEST"}
    assert event["resources"] == [f"arn:aws:mgn:{REGION}:{ACCOUNT}:source-server/{sid}"]
    assert event["time"] == "2026-01-05T08:11:00Z" and event["source"] == "aws.mgn"


def test_public_routing_stalls_and_correcting_it_resumes(emu: MgnEmulator, mgn: Any) -> None:
    sid = emu.register_agent("web01")
    emu.clock.advance(FAST.initiating_seconds + 100)  # 100 s into initial sync
    mgn.update_replication_configuration(sourceServerID=sid, dataPlaneRouting="PUBLIC_IP")
    emu.clock.advance(FAST.initiating_seconds + 1)  # the replication server is replaced, agent reconnects
    info = _describe(mgn, sid)["dataReplicationInfo"]
    assert info["dataReplicationState"] == "STALLED"
    assert info["dataReplicationError"]["error"] == "FAILED_TO_CONNECT_AGENT_TO_REPLICATION_SERVER"
    emu.clock.advance(3600)  # stays stalled however long we wait
    assert _describe(mgn, sid)["lifeCycle"]["state"] == "NOT_READY"

    mgn.update_replication_configuration(sourceServerID=sid, dataPlaneRouting="PRIVATE_IP")
    assert _describe(mgn, sid)["dataReplicationInfo"]["dataReplicationState"] == "INITIATING"
    emu.clock.advance(
        FAST.initiating_seconds + FAST.initial_sync_seconds - 100 + 1
    )  # only the rest of the sync
    s = _describe(mgn, sid)
    assert s["dataReplicationInfo"]["dataReplicationState"] == "CONTINUOUS"
    assert s["lifeCycle"]["state"] == "READY_FOR_TEST"
    stalls = [
        e["detail"]["state"] for e in _detail_types(emu, "MGN Source Server Data Replication Stalled Change")
    ]
    assert stalls == ["STALLED", "NOT_STALLED"]


def test_create_public_ip_in_template_stalls_new_agents_and_lag_grows(emu: MgnEmulator, mgn: Any) -> None:
    sid = ready_servers(emu, 1)[0]
    mgn.update_replication_configuration(sourceServerID=sid, createPublicIP=True)
    emu.clock.advance(FAST.initiating_seconds + 600)
    info = _describe(mgn, sid)["dataReplicationInfo"]
    assert info["dataReplicationState"] == "STALLED"
    assert info["lagDuration"] == "PT11M2S"  # 2 s steady lag + time without replication
    assert _describe(mgn, sid)["lifeCycle"]["state"] == "READY_FOR_TEST"  # it was launchable already

    template = mgn.describe_replication_configuration_templates()["items"][0]
    mgn.update_replication_configuration_template(
        replicationConfigurationTemplateID=template["replicationConfigurationTemplateID"], createPublicIP=True
    )
    late = emu.register_agent("late01")
    emu.clock.advance(FAST.initiating_seconds + 1)
    assert emu.server(late).repl_state == "STALLED"


# ---- test launch ---------------------------------------------------------------------------------------


def test_start_test_launches_a_real_instance_in_moto(emu: MgnEmulator, mgn: Any, network: Any) -> None:
    sid = ready_servers(emu, 1)[0]
    job = mgn.start_test(sourceServerIDs=[sid])["job"]
    assert job["jobID"].startswith("mgnjob-") and len(job["jobID"]) == 24
    assert (job["type"], job["initiatedBy"], job["status"]) == ("LAUNCH", "START_TEST", "PENDING")
    assert _describe(mgn, sid)["lifeCycle"]["state"] == "TESTING"
    emu.clock.advance(FAST.job_pending_seconds + 1)
    assert mgn.describe_jobs(filters={"jobIDs": [job["jobID"]]})["items"][0]["status"] == "STARTED"
    emu.clock.advance(JOB_DONE_AFTER)

    done = mgn.describe_jobs(filters={"jobIDs": [job["jobID"]]})["items"][0]
    assert done["status"] == "COMPLETED" and "endDateTime" in done
    [participant] = done["participatingServers"]
    assert participant["launchStatus"] == "LAUNCHED"
    instance_id = participant["launchedEc2InstanceID"]
    s = _describe(mgn, sid)
    assert s["launchedInstance"]["ec2InstanceID"] == instance_id
    assert s["lifeCycle"]["lastTest"]["initiated"]["jobID"] == job["jobID"]

    instance = network.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert instance["SubnetId"] == network.launch_subnet_id
    assert "PublicIpAddress" not in instance
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert tags["wave"] == "1" and tags["AWSApplicationMigrationServiceSourceServerID"] == sid

    log = mgn.describe_job_log_items(jobID=job["jobID"])["items"]
    assert [i["event"] for i in log] == [
        "JOB_START",
        "SNAPSHOT_START",
        "SNAPSHOT_END",
        "CONVERSION_START",
        "CONVERSION_END",
        "LAUNCH_START",
        "JOB_END",
    ]
    assert log[5]["eventData"]["targetInstanceID"] == instance_id
    [result] = _detail_types(emu, "MGN Source Server Launch Result")
    assert result["detail"] == {"state": "TEST_LAUNCH_SUCCEEDED", "job-id": job["jobID"]}


def test_failed_launch_logs_the_reason(emu: MgnEmulator, mgn: Any) -> None:
    sid = ready_servers(emu, 1)[0]
    emu.fail_next_launch(sid, reason="Insufficient capacity in subnet")
    job = mgn.start_test(sourceServerIDs=[sid])["job"]
    emu.clock.advance(JOB_DONE_AFTER + 1)
    done = mgn.describe_jobs(filters={"jobIDs": [job["jobID"]]})["items"][0]
    assert done["participatingServers"][0]["launchStatus"] == "FAILED"
    failed = [
        i for i in mgn.describe_job_log_items(jobID=job["jobID"])["items"] if i["event"] == "LAUNCH_FAILED"
    ]
    assert failed[0]["eventData"]["rawError"] == "Insufficient capacity in subnet"
    assert (
        _detail_types(emu, "MGN Source Server Launch Result")[-1]["detail"]["state"] == "TEST_LAUNCH_FAILED"
    )
    assert _describe(mgn, sid)["lifeCycle"]["state"] == "READY_FOR_TEST"  # can be retried
    assert "launchedInstance" not in _describe(mgn, sid)


def test_full_cutover_path_and_archive(emu: MgnEmulator, mgn: Any, network: Any) -> None:
    sid = ready_servers(emu, 1)[0]
    mgn.start_test(sourceServerIDs=[sid])
    emu.clock.advance(JOB_DONE_AFTER + 1)
    test_instance = emu.server(sid).launched_instance["ec2InstanceID"]
    mgn.change_server_life_cycle_state(sourceServerID=sid, lifeCycle={"state": "READY_FOR_CUTOVER"})
    cut = mgn.start_cutover(sourceServerIDs=[sid])["job"]
    assert (cut["initiatedBy"], _describe(mgn, sid)["lifeCycle"]["state"]) == (
        "START_CUTOVER",
        "CUTTING_OVER",
    )
    with pytest.raises(mgn.exceptions.ConflictException):  # cutover still running
        mgn.finalize_cutover(sourceServerID=sid)
    emu.clock.advance(JOB_DONE_AFTER + 1)
    assert (
        _detail_types(emu, "MGN Source Server Launch Result")[-1]["detail"]["state"]
        == "CUTOVER_LAUNCH_SUCCEEDED"
    )
    state = network.ec2.describe_instances(InstanceIds=[test_instance])["Reservations"][0]["Instances"][0][
        "State"
    ]
    assert state["Name"] == "terminated"  # the cutover instance replaced the test instance

    s = mgn.finalize_cutover(sourceServerID=sid)
    assert s["lifeCycle"]["state"] == "CUTOVER"
    assert s["dataReplicationInfo"]["dataReplicationState"] == "DISCONNECTED"
    assert "finalized" in s["lifeCycle"]["lastCutover"]
    assert mgn.mark_as_archived(sourceServerID=sid)["isArchived"] is True
    assert mgn.describe_source_servers(filters={"isArchived": True})["items"][0]["sourceServerID"] == sid


# ---- illegal transitions ------------------------------------------------------------------------------


def test_illegal_transitions_are_conflicts(emu: MgnEmulator, mgn: Any) -> None:
    sid = ready_servers(emu, 1)[0]
    replicating = emu.register_agent("busy01")
    conflict = mgn.exceptions.ConflictException
    with pytest.raises(conflict):
        mgn.finalize_cutover(sourceServerID=sid)  # no cutover yet
    with pytest.raises(conflict):
        mgn.mark_as_archived(sourceServerID=sid)  # still replicating
    with pytest.raises(conflict):
        mgn.start_cutover(sourceServerIDs=[replicating])  # initial sync not complete
    with pytest.raises(conflict) as not_synced:
        mgn.start_test(sourceServerIDs=[sid, replicating])  # second one has not finished initial sync
    assert [e["resourceId"] for e in not_synced.value.response["errors"]] == [replicating]
    with pytest.raises(conflict):
        mgn.change_server_life_cycle_state(sourceServerID=sid, lifeCycle={"state": "CUTOVER"})

    mgn.start_test(sourceServerIDs=[sid])
    emu.clock.advance(JOB_DONE_AFTER + 1)
    with pytest.raises(conflict) as during_test:
        mgn.terminate_target_instances(sourceServerIDs=[sid])  # refused while TESTING
    assert during_test.value.response["errors"][0]["code"] == "INVALID_LIFECYCLE_STATE"

    mgn.change_server_life_cycle_state(sourceServerID=sid, lifeCycle={"state": "READY_FOR_CUTOVER"})
    term = mgn.terminate_target_instances(sourceServerIDs=[sid])["job"]
    assert (term["type"], term["initiatedBy"]) == ("TERMINATE", "TERMINATE")
    emu.clock.advance(JOB_DONE_AFTER)
    assert "launchedInstance" not in _describe(mgn, sid)
    assert (
        mgn.describe_jobs(filters={"jobIDs": [term["jobID"]]})["items"][0]["participatingServers"][0][
            "launchStatus"
        ]
        == "TERMINATED"
    )

    mgn.disconnect_from_service(sourceServerID=sid)
    assert _describe(mgn, sid)["lifeCycle"]["state"] == "DISCONNECTED"
    with pytest.raises(conflict):
        mgn.start_test(sourceServerIDs=[sid])
    mgn.mark_as_archived(sourceServerID=sid)
    mgn.delete_source_server(sourceServerID=sid)
    with pytest.raises(mgn.exceptions.ResourceNotFoundException):
        mgn.get_launch_configuration(sourceServerID=sid)


# ---- quotas --------------------------------------------------------------------------------------------


def test_second_job_for_a_busy_server_is_refused(emu: MgnEmulator, mgn: Any) -> None:
    sid = ready_servers(emu, 1)[0]
    first = mgn.start_test(sourceServerIDs=[sid])["job"]
    with pytest.raises(mgn.exceptions.ConflictException) as exc:
        mgn.start_test(sourceServerIDs=[sid])
    assert exc.value.response["errors"][0]["code"] == "SOURCE_SERVER_BUSY"
    assert first["jobID"] in exc.value.response["Error"]["Message"]


def test_21st_concurrent_job_is_refused(emu: MgnEmulator, mgn: Any) -> None:
    ids = ready_servers(emu, 21)
    for sid in ids[:20]:
        mgn.start_test(sourceServerIDs=[sid])
    with pytest.raises(mgn.exceptions.ConflictException) as exc:
        mgn.start_test(sourceServerIDs=[ids[20]])
    assert "20 concurrent jobs" in exc.value.response["Error"]["Message"]
    emu.clock.advance(JOB_DONE_AFTER + 1)  # jobs complete: the budget is free again
    assert mgn.start_test(sourceServerIDs=[ids[20]])["job"]["status"] == "PENDING"


# ---- CloudTrail ------------------------------------------------------------------------------------------


def test_writes_emit_cloudtrail_events_with_the_acting_principal(emu: MgnEmulator, mgn: Any) -> None:
    sid = ready_servers(emu, 1)[0]
    seen: list[dict[str, Any]] = []
    emu.subscribe(seen.append)
    mgn.describe_source_servers()  # reads are not management write events
    role = f"arn:aws:iam::{ACCOUNT}:role/pipeline-lambda"
    with emu.acting_as(role):
        mgn.update_replication_configuration(sourceServerID=sid, bandwidthThrottling=100)
    mgn.start_test(sourceServerIDs=[sid])
    trail = [e for e in seen if e["detail-type"] == "AWS API Call via CloudTrail"]
    assert [e["detail"]["eventName"] for e in trail] == ["UpdateReplicationConfiguration", "StartTest"]
    first = trail[0]
    assert first["source"] == "aws.mgn" and first["account"] == ACCOUNT and first["region"] == REGION
    d = first["detail"]
    assert d["eventSource"] == "mgn.amazonaws.com" and d["awsRegion"] == REGION
    assert d["userIdentity"]["type"] == "AssumedRole"
    assert d["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] == role
    assert d["userIdentity"]["arn"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/pipeline-lambda/")
    assert d["requestParameters"] == {"sourceServerID": sid, "bandwidthThrottling": 100}
    assert d["readOnly"] is False and d["managementEvent"] is True and d["eventType"] == "AwsApiCall"
    assert d["recipientAccountId"] == ACCOUNT and d["eventID"] != d["requestID"]
    assert trail[1]["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"].endswith(
        ":role/operator"
    )

    with pytest.raises(mgn.exceptions.ConflictException):
        mgn.mark_as_archived(sourceServerID=sid)
    assert emu.events[-1]["detail"]["errorCode"] == "ConflictException"  # failed writes are recorded too


def test_calls_are_counted_per_operation(emu: MgnEmulator, mgn: Any) -> None:
    ids = ready_servers(emu, 3)
    for sid in ids:
        mgn.get_replication_configuration(sourceServerID=sid)
    mgn.start_test(sourceServerIDs=ids)
    ops = [name for name, _ in emu.calls]
    assert ops.count("GetReplicationConfiguration") == 3 and ops.count("StartTest") == 1
    assert emu.calls[-1][1] == {"sourceServerIDs": ids}
    assert SYNCED_AFTER > 0
