"""MGN emulator: job queries, the cross-job quota, install edge cases, and random sequences that keep invariants."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mgn_test_support import JOB_DONE_AFTER, make_emulator, mgn_client, ready_servers
from moto import mock_aws

from localcloud import SimClock
from localcloud.mgn import MgnEmulator


def test_describe_jobs_filters_by_date_and_paginates(emu: MgnEmulator, mgn: Any) -> None:
    ids = ready_servers(emu, 5)
    jobs = []
    for sid in ids:
        jobs.append(mgn.start_test(sourceServerIDs=[sid])["job"])
        emu.clock.advance(3600)
    created = [j["creationDateTime"] for j in jobs]
    window = mgn.describe_jobs(filters={"fromDate": created[1], "toDate": created[3]})["items"]
    # Latest first, as MGN sorts them (test_mgn_fidelity holds the source).
    assert [j["jobID"] for j in window] == [j["jobID"] for j in reversed(jobs[1:4])]
    pages = list(mgn.get_paginator("describe_jobs").paginate(PaginationConfig={"PageSize": 2}))
    assert [len(p["items"]) for p in pages] == [2, 2, 1]
    assert all(j["status"] == "COMPLETED" for p in pages for j in p["items"])

    log_pages = list(
        mgn.get_paginator("describe_job_log_items").paginate(
            jobID=jobs[0]["jobID"], PaginationConfig={"PageSize": 3}
        )
    )
    events = [i["event"] for p in log_pages for i in p["items"]]
    assert events[0] == "JOB_START" and events[-1] == "JOB_END" and len(log_pages) == 3


def test_job_tags_and_launch_disposition(emu: MgnEmulator, mgn: Any, network: Any) -> None:
    sid = ready_servers(emu, 1)[0]
    mgn.update_launch_configuration(sourceServerID=sid, launchDisposition="STOPPED")
    job = mgn.start_test(sourceServerIDs=[sid], tags={"change": "CHG42"})["job"]
    assert mgn.list_tags_for_resource(resourceArn=job["arn"])["tags"] == {"change": "CHG42"}
    with pytest.raises(mgn.exceptions.ConflictException):  # launch settings are locked while the job runs
        mgn.update_launch_configuration(sourceServerID=sid, copyTags=False)
    emu.clock.advance(JOB_DONE_AFTER + 1)
    instance_id = emu.server(sid).launched_instance["ec2InstanceID"]
    reservation = network.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]
    assert reservation["Instances"][0]["State"]["Name"] == "stopped"


def test_installed_before_mock_aws_also_works(aws_env: None) -> None:
    clock = SimClock()
    emu = MgnEmulator(clock)
    with emu.installed(), mock_aws():
        sid = emu.register_agent("solo")  # launch template without a subnet: default VPC
        assert boto3.client("mgn").describe_source_servers()["items"][0]["sourceServerID"] == sid
    with pytest.raises(RuntimeError), emu.installed(), emu.installed():
        pass


def test_more_than_200_servers_in_active_jobs_is_refused(emu: MgnEmulator, mgn: Any) -> None:
    emu.adjust_quotas(max_replicating_servers=201)  # adjustable; the job limits are not
    ids = ready_servers(emu, 201)
    mgn.start_test(sourceServerIDs=ids[:150])
    with pytest.raises(mgn.exceptions.ConflictException) as exc:
        mgn.start_test(sourceServerIDs=ids[150:])
    assert "200 source servers" in exc.value.response["Error"]["Message"]
    with pytest.raises(mgn.exceptions.ValidationException):  # one job of 201 breaks the model's maximum
        mgn.start_test(sourceServerIDs=ids)


# ---- random sequences ---------------------------------------------------------------------------------

ACTIONS = (
    "start_test",
    "start_cutover",
    "to_ready_for_test",
    "to_ready_for_cutover",
    "to_cutover",
    "finalize",
    "terminate",
    "disconnect",
    "archive",
    "go_public",
    "go_private",
    "delete",
)
EXPECTED_ERRORS = {"ConflictException", "ResourceNotFoundException"}


def _act(mgn: Any, action: str, sid: str) -> None:
    calls = {
        "start_test": lambda: mgn.start_test(sourceServerIDs=[sid]),
        "start_cutover": lambda: mgn.start_cutover(sourceServerIDs=[sid]),
        "to_ready_for_test": lambda: mgn.change_server_life_cycle_state(
            sourceServerID=sid, lifeCycle={"state": "READY_FOR_TEST"}
        ),
        "to_ready_for_cutover": lambda: mgn.change_server_life_cycle_state(
            sourceServerID=sid, lifeCycle={"state": "READY_FOR_CUTOVER"}
        ),
        "to_cutover": lambda: mgn.change_server_life_cycle_state(
            sourceServerID=sid, lifeCycle={"state": "CUTOVER"}
        ),
        "finalize": lambda: mgn.finalize_cutover(sourceServerID=sid),
        "terminate": lambda: mgn.terminate_target_instances(sourceServerIDs=[sid]),
        "disconnect": lambda: mgn.disconnect_from_service(sourceServerID=sid),
        "archive": lambda: mgn.mark_as_archived(sourceServerID=sid),
        "go_public": lambda: mgn.update_replication_configuration(
            sourceServerID=sid, dataPlaneRouting="PUBLIC_IP"
        ),
        "go_private": lambda: mgn.update_replication_configuration(
            sourceServerID=sid, dataPlaneRouting="PRIVATE_IP"
        ),
        "delete": lambda: mgn.delete_source_server(sourceServerID=sid),
    }
    calls[action]()


def _check_invariants(emu: MgnEmulator, mgn: Any) -> None:
    # Every describe goes through the emulator's response validation (EmulatorBug on a bad shape).
    servers = [s for p in mgn.get_paginator("describe_source_servers").paginate() for s in p["items"]]
    jobs = {j["jobID"]: j for p in mgn.get_paginator("describe_jobs").paginate() for j in p["items"]}
    active = [j for j in jobs.values() if j["status"] != "COMPLETED"]
    assert len(active) <= 20
    busy = [p["sourceServerID"] for j in active for p in j["participatingServers"]]
    assert len(busy) == len(set(busy)) <= 200  # one active job per server
    for s in servers:
        state, repl = s["lifeCycle"]["state"], s["dataReplicationInfo"]["dataReplicationState"]
        if state == "DISCONNECTED" or s["isArchived"]:
            assert repl == "DISCONNECTED"
        if state in ("READY_FOR_TEST", "TESTING", "READY_FOR_CUTOVER", "CUTTING_OVER"):
            assert "lagDuration" in s["dataReplicationInfo"]
        if repl == "STALLED":
            assert s["dataReplicationInfo"]["dataReplicationError"]["error"] == (
                "FAILED_TO_CONNECT_AGENT_TO_REPLICATION_SERVER"
            )
        if s["isArchived"]:
            assert state in ("DISCONNECTED", "CUTOVER")


@settings(
    max_examples=8, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(ACTIONS), st.integers(0, 2), st.sampled_from([0, 15, 120, 700])),
        min_size=1,
        max_size=15,
    )
)
def test_random_operation_sequences_keep_invariants(network: Any, steps: list[tuple[str, int, int]]) -> None:
    clock = SimClock()
    emu = make_emulator(clock, network)
    with emu.installed():
        mgn = mgn_client()
        ids = ready_servers(emu, 3)
        for action, index, seconds in steps:
            code = None
            try:
                _act(mgn, action, ids[index])
            except ClientError as err:
                code = err.response["Error"]["Code"]
            assert code is None or code in EXPECTED_ERRORS, (action, code)
            clock.advance(seconds)
            _check_invariants(emu, mgn)
