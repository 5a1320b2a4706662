"""The MGN emulator held to what AWS documents and to what public code that drives MGN expects (#17).

Each test names its source beside it. Short names used in the comments:

- EVENTS: the MGN user guide's EventBridge event samples,
  https://docs.aws.amazon.com/mgn/latest/ug/eventbridge-events.html
- MODEL: botocore's MGN service model, botocore/data/mgn/2020-02-26/service-2.json (shapes, enums,
  each operation's declared errors, HTTP codes and its documentation string); the tests read it
  through ``mgn_model()`` so they follow the installed botocore.
- UG: the MGN user guide, https://docs.aws.amazon.com/mgn/latest/ug/<page>.html (page named beside
  the test).
- LIFECYCLE: the MGN user guide's lifecycle states ("Understand lifecycle states"),
  https://docs.aws.amazon.com/mgn/latest/ug/migration-dashboard.html (AWS's migration workshop says
  the same: https://migration-immersionday.workshop.aws/en/migrationfactory/mgn/2-migration_life_cycle.html)
- SKIP_TEST_BLOG: AWS Cloud Operations blog, "How to Skip Testing and Finalize Cutover in the AWS
  Application Migration Service",
  https://aws.amazon.com/blogs/mt/how-to-skip-testing-and-finalize-cutover-in-the-aws-application-migration-service/
- CMF: AWS Cloud Migration Factory, aws-solutions/cloud-migration-factory-on-aws,
  source/integrations/mgn/lambdas/lambda_mgn_launch.py and lambda_mgn.py beside it (public code that
  drives MGN; older copies under source/Tools Integration/mgn/lambdas/).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from mgn_test_support import ACCOUNT, FAST, JOB_DONE_AFTER, REGION, SYNCED_AFTER, make_emulator, mgn_client

from localcloud import SimClock
from localcloud.mgn import MgnEmulator
from localcloud.mgn.errors import EmulatorBug, NotFoundError
from localcloud.mgn.wire import mgn_model

MODEL = mgn_model()
EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"

LAUNCH_RESULT = "MGN Source Server Launch Result"
LIFECYCLE_CHANGE = "MGN Source Server Lifecycle State Change"
STALLED_CHANGE = "MGN Source Server Data Replication Stalled Change"
# EVENTS: the three detail-types MGN documents, with the detail fields of each sample.
DOCUMENTED_DETAIL = {
    LAUNCH_RESULT: {"state", "job-id"},
    LIFECYCLE_CHANGE: {"state"},
    STALLED_CHANGE: {"state"},
}
# EVENTS: the envelope of every sample event.
ENVELOPE = {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
# EVENTS: the possible ``detail.state`` values of each detail-type.
DOCUMENTED_STATES = {
    LAUNCH_RESULT: {
        "TEST_LAUNCH_SUCCEEDED",
        "TEST_LAUNCH_FAILED",
        "CUTOVER_LAUNCH_SUCCEEDED",
        "CUTOVER_LAUNCH_FAILED",
    },
    LIFECYCLE_CHANGE: {"READY_FOR_TEST"},
    STALLED_CHANGE: {"STALLED", "NOT_STALLED"},
}
SERVER_ARN = re.compile(r"^arn:aws:mgn:[a-z0-9-]+:\d{12}:source-server/s-[0-9a-zA-Z]{17}$")
EVENT_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")  # EVENTS: "2016-08-22T20:12:19Z"
JOB_ID = re.compile("^" + MODEL.shape_for("JobID").metadata["pattern"] + "$")  # MODEL: JobID


def _enum(name: str) -> set[str]:
    return set(MODEL.shape_for(name).enum)


def _members(name: str) -> set[str]:
    return set(MODEL.shape_for(name).members)


def _declared_errors(operation: str) -> set[str]:
    return {s.name for s in MODEL.operation_model(operation).error_shapes}


def _describe(mgn: Any, sid: str) -> dict[str, Any]:
    return dict(mgn.describe_source_servers(filters={"sourceServerIDs": [sid]})["items"][0])


CLOUDTRAIL = "AWS API Call via CloudTrail"


def _mgn_events(emu: MgnEmulator, kind: str | None = None) -> list[dict[str, Any]]:
    """MGN's own events (CloudTrail's API call events carry source aws.mgn too)."""
    return [
        e for e in emu.events if e["detail-type"] != CLOUDTRAIL and (kind is None or e["detail-type"] == kind)
    ]


# ---- driving a server to a lifecycle state ------------------------------------------------------------


def _ready(emu: MgnEmulator, name: str = "web01") -> str:
    sid = emu.register_agent(name)
    emu.clock.advance(SYNCED_AFTER + 1)
    return sid


def _tested(emu: MgnEmulator, mgn: Any) -> str:
    sid = _ready(emu)
    mgn.start_test(sourceServerIDs=[sid])
    emu.clock.advance(JOB_DONE_AFTER + 1)
    return sid


def _ready_for_cutover(emu: MgnEmulator, mgn: Any) -> str:
    sid = _tested(emu, mgn)
    mgn.change_server_life_cycle_state(sourceServerID=sid, lifeCycle={"state": "READY_FOR_CUTOVER"})
    return sid


def _cutting_over(emu: MgnEmulator, mgn: Any) -> str:
    sid = _ready_for_cutover(emu, mgn)
    mgn.start_cutover(sourceServerIDs=[sid])
    emu.clock.advance(JOB_DONE_AFTER + 1)
    return sid


def _cutover(emu: MgnEmulator, mgn: Any) -> str:
    sid = _cutting_over(emu, mgn)
    mgn.finalize_cutover(sourceServerID=sid)
    return sid


def _disconnected(emu: MgnEmulator, mgn: Any) -> str:
    sid = _ready(emu)
    mgn.disconnect_from_service(sourceServerID=sid)
    return sid


def _not_ready(emu: MgnEmulator, mgn: Any) -> str:
    return emu.register_agent("syncing01", initial_sync_seconds=10**7)


IN_STATE: dict[str, Callable[[MgnEmulator, Any], str]] = {
    "NOT_READY": _not_ready,
    "READY_FOR_TEST": lambda emu, mgn: _ready(emu),
    "TESTING": _tested,
    "READY_FOR_CUTOVER": _ready_for_cutover,
    "CUTTING_OVER": _cutting_over,
    "CUTOVER": _cutover,
    "DISCONNECTED": _disconnected,
}


def test_the_helpers_reach_the_state_they_are_named_after(emu: MgnEmulator, mgn: Any) -> None:
    # Not a fact about MGN: the lifecycle tests below rely on these helpers.
    for state, make in IN_STATE.items():
        assert _describe(mgn, make(emu, mgn))["lifeCycle"]["state"] == state


# ---- EventBridge events ---------------------------------------------------------------------------------


def _documented_shape(event: dict[str, Any]) -> None:
    """EVENTS: envelope, version "0", source aws.mgn, one source-server ARN in resources, whole-second
    UTC time, and the detail fields of the detail-type's sample with a documented state."""
    assert set(event) == ENVELOPE
    assert (event["version"], event["source"]) == ("0", "aws.mgn")
    assert event["detail-type"] in DOCUMENTED_DETAIL
    assert EVENT_TIME.match(event["time"])
    [resource] = event["resources"]
    assert SERVER_ARN.match(resource)
    assert set(event["detail"]) == DOCUMENTED_DETAIL[event["detail-type"]]
    assert event["detail"]["state"] in DOCUMENTED_STATES[event["detail-type"]]
    if event["detail-type"] == LAUNCH_RESULT:
        assert JOB_ID.match(event["detail"]["job-id"])


def test_every_event_of_a_whole_migration_has_a_documented_shape(emu: MgnEmulator, mgn: Any) -> None:
    # EVENTS: only three detail-types are documented; none for lag, backlog or disconnect.
    sid = _cutover(emu, mgn)
    other = _ready(emu, "db01")
    mgn.update_replication_configuration(sourceServerID=other, dataPlaneRouting="PUBLIC_IP")
    emu.clock.advance(FAST.initiating_seconds + 1)
    mgn.update_replication_configuration(sourceServerID=other, dataPlaneRouting="PRIVATE_IP")
    emu.clock.advance(SYNCED_AFTER + 1)
    mgn.disconnect_from_service(sourceServerID=other)
    mgn.mark_as_archived(sourceServerID=sid)
    events = _mgn_events(emu)
    assert {e["detail-type"] for e in events} == set(DOCUMENTED_DETAIL)
    for event in events:
        _documented_shape(event)
        assert (event["account"], event["region"]) == (ACCOUNT, REGION)
    # Every other event is a CloudTrail API call event, whose source is the service's too.
    assert {e["source"] for e in emu.events} == {"aws.mgn"}


@pytest.mark.parametrize(
    ("test", "fail", "state"),
    [
        (True, False, "TEST_LAUNCH_SUCCEEDED"),
        (True, True, "TEST_LAUNCH_FAILED"),
        (False, False, "CUTOVER_LAUNCH_SUCCEEDED"),
        (False, True, "CUTOVER_LAUNCH_FAILED"),
    ],
)
def test_launch_result_is_sent_when_the_launch_completed(
    emu: MgnEmulator, mgn: Any, test: bool, fail: bool, state: str
) -> None:
    # EVENTS: "Emitted when a test or cutover instance launch was completed (successfully or with
    # failure)"; detail {"state", "job-id"}; resources holds the source server's ARN.
    sid = _ready(emu) if test else _ready_for_cutover(emu, mgn)
    before = len(_mgn_events(emu, LAUNCH_RESULT))
    if fail:
        emu.fail_next_launch(sid)
    job = (mgn.start_test if test else mgn.start_cutover)(sourceServerIDs=[sid])["job"]
    assert len(_mgn_events(emu, LAUNCH_RESULT)) == before  # not at the API call: at the launch's end
    emu.clock.advance(JOB_DONE_AFTER + 1)
    [event] = _mgn_events(emu, LAUNCH_RESULT)[before:]
    _documented_shape(event)
    assert event["detail"] == {"state": state, "job-id": job["jobID"]}
    assert event["resources"] == [_describe(mgn, sid)["arn"]]


def test_a_job_of_several_servers_sends_one_launch_result_per_server(emu: MgnEmulator, mgn: Any) -> None:
    # EVENTS: the launch result names one source server in resources and the job in detail.job-id.
    first, second = _ready(emu, "web01"), _ready(emu, "web02")
    job = mgn.start_test(sourceServerIDs=[first, second])["job"]["jobID"]
    emu.clock.advance(JOB_DONE_AFTER + 1)
    events = _mgn_events(emu, LAUNCH_RESULT)
    assert sorted(e["resources"][0].rsplit("/", 1)[-1] for e in events) == sorted([first, second])
    assert {e["detail"]["job-id"] for e in events} == {job}


def test_lifecycle_change_is_sent_the_first_time_a_server_is_ready_for_test_only(
    emu: MgnEmulator, mgn: Any
) -> None:
    # EVENTS: "Emitted when a source server reaches the READY_FOR_TEST lifecycle state for the first
    # time"; detail {"state": "READY_FOR_TEST"}. No event is documented for any other lifecycle state.
    sid = _ready_for_cutover(emu, mgn)
    mgn.change_server_life_cycle_state(sourceServerID=sid, lifeCycle={"state": "READY_FOR_TEST"})
    assert _describe(mgn, sid)["lifeCycle"]["state"] == "READY_FOR_TEST"  # a second time
    mgn.update_replication_configuration(sourceServerID=sid, replicationServerInstanceType="t3.medium")
    emu.clock.advance(SYNCED_AFTER + 1)  # the agent reconnects; still no second event
    [event] = _mgn_events(emu, LIFECYCLE_CHANGE)
    _documented_shape(event)
    assert event["detail"] == {"state": "READY_FOR_TEST"}
    assert event["resources"] == [_describe(mgn, sid)["arn"]]


def test_stalled_change_is_sent_on_stalling_and_on_recovering(emu: MgnEmulator, mgn: Any) -> None:
    # EVENTS: "Data Replication Stalled Change" is emitted when replication becomes stalled and when
    # it is no longer stalled; detail {"state": "STALLED" | "NOT_STALLED"}.
    sid = _ready(emu)
    mgn.update_replication_configuration(sourceServerID=sid, createPublicIP=True)
    emu.clock.advance(FAST.initiating_seconds + 1)
    assert _describe(mgn, sid)["dataReplicationInfo"]["dataReplicationState"] == "STALLED"
    assert [e["detail"] for e in _mgn_events(emu, STALLED_CHANGE)] == [{"state": "STALLED"}]
    mgn.update_replication_configuration(sourceServerID=sid, createPublicIP=False)
    emu.clock.advance(FAST.initiating_seconds + 1)
    assert _describe(mgn, sid)["dataReplicationInfo"]["dataReplicationState"] == "CONTINUOUS"
    events = _mgn_events(emu, STALLED_CHANGE)
    assert [e["detail"] for e in events] == [{"state": "STALLED"}, {"state": "NOT_STALLED"}]
    for event in events:
        _documented_shape(event)


def _sample_files() -> list[Path]:
    return sorted(p for p in EVENTS_DIR.glob("mgn-*.json") if "undocumented" not in p.name)


@pytest.mark.parametrize("path", _sample_files(), ids=lambda p: p.name)
def test_sample_events_in_events_folder_have_the_documented_shape(path: Path) -> None:
    # EVENTS: the repository's sample events (sam local invoke, unit tests) copy the documented shape.
    _documented_shape(json.loads(path.read_text()))


def test_sample_events_cover_every_documented_state() -> None:
    # EVENTS: each detail-type's possible states; a sample of each lets handlers be run on all of them.
    seen: dict[str, set[str]] = {kind: set() for kind in DOCUMENTED_STATES}
    for path in _sample_files():
        event = json.loads(path.read_text())
        seen[event["detail-type"]].add(event["detail"]["state"])
    assert seen == DOCUMENTED_STATES


def test_the_sqs_batch_sample_carries_documented_events() -> None:
    # EVENTS (the bodies), as the rules put them on the queue the event function reads in batches.
    batch = json.loads((EVENTS_DIR / "sqs-batch-mgn-events.json").read_text())
    for record in batch["Records"]:
        _documented_shape(json.loads(record["body"]))


def test_the_undocumented_sample_is_really_undocumented() -> None:
    # EVENTS: it stands for a detail-type MGN may add; consumers must tolerate it (mgn-facts.md).
    event = json.loads((EVENTS_DIR / "mgn-undocumented-detail-type.json").read_text())
    assert event["source"] == "aws.mgn" and event["detail-type"] not in DOCUMENTED_DETAIL


# ---- lifecycle states and the calls each allows ------------------------------------------------------------


# MODEL StartTest: "starts a LAUNCH job whose initiatedBy property is StartTest and changes the
# SourceServer.lifeCycle.state property to TESTING". UG launching-test-servers / revert-finalize-test:
# a test can be launched again while testing or after it was marked ready for cutover.
# MODEL StartCutover: a LAUNCH job initiated by StartCutover, lifecycle CUTTING_OVER.
# LIFECYCLE "Ready for testing": "Test or Cutover instances can now be launched for this server".
# UG launch-cutover / revert-finalize-cutover: after the test, or again after a reverted cutover.
# MODEL StartTest and StartCutover responseCode: 202.
_LAUNCHES = {
    "start_test": ("START_TEST", "TESTING", "lastTest"),
    "start_cutover": ("START_CUTOVER", "CUTTING_OVER", "lastCutover"),
}


@pytest.mark.parametrize(
    ("operation", "state"),
    [
        *(("start_test", state) for state in ["READY_FOR_TEST", "TESTING", "READY_FOR_CUTOVER"]),
        *(("start_cutover", state) for state in ["READY_FOR_TEST", "READY_FOR_CUTOVER", "CUTTING_OVER"]),
    ],
)
def test_a_launch_is_accepted_and_moves_the_server_on(
    emu: MgnEmulator, mgn: Any, operation: str, state: str
) -> None:
    initiated_by, moved_to, record = _LAUNCHES[operation]
    sid = IN_STATE[state](emu, mgn)
    response = getattr(mgn, operation)(sourceServerIDs=[sid])
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 202
    job = response["job"]
    assert (job["type"], job["initiatedBy"]) == ("LAUNCH", initiated_by)
    assert _describe(mgn, sid)["lifeCycle"]["state"] == moved_to
    assert _describe(mgn, sid)["lifeCycle"][record]["initiated"]["jobID"] == job["jobID"]


@pytest.mark.parametrize("state", ["NOT_READY", "CUTOVER", "DISCONNECTED"])
@pytest.mark.parametrize("operation", ["start_test", "start_cutover"])
def test_launches_are_refused_before_initial_sync_and_after_replication_ended(
    emu: MgnEmulator, mgn: Any, state: str, operation: str
) -> None:
    # LIFECYCLE "Not ready": initial sync is running, the server is not yet ready for testing.
    # MODEL FinalizeCutover / DisconnectFromService: replication stops, its resources are deleted, so
    # nothing is left to launch from. MODEL StartTest/StartCutover declare ConflictException.
    sid = IN_STATE[state](emu, mgn)
    with pytest.raises(ClientError) as exc:
        getattr(mgn, operation)(sourceServerIDs=[sid])
    assert exc.value.response["Error"]["Code"] == "ConflictException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409  # MODEL ConflictException
    assert _describe(mgn, sid)["lifeCycle"]["state"] == state


@pytest.mark.parametrize(
    ("state", "target", "source"),
    [
        ("READY_FOR_TEST", "READY_FOR_CUTOVER", "SKIP_TEST_BLOG: skip testing with the CLI"),
        ("TESTING", "READY_FOR_CUTOVER", "UG finalizing-test: Mark as ready for cutover"),
        ("READY_FOR_CUTOVER", "READY_FOR_TEST", "UG server-test-cutover-main: Revert to ready for testing"),
        ("TESTING", "READY_FOR_TEST", "UG revert-finalize-test: revert a test"),
        ("CUTTING_OVER", "READY_FOR_CUTOVER", "UG revert-finalize-cutover: Revert to ready for cutover"),
        ("CUTTING_OVER", "CUTOVER", "MODEL ChangeServerLifeCycleStateSourceServerLifecycle: CUTOVER"),
    ],
)
def test_change_server_life_cycle_state_moves_between_documented_states(
    emu: MgnEmulator, mgn: Any, state: str, target: str, source: str
) -> None:
    # MODEL ChangeServerLifeCycleState: returns the SourceServer in its new state (output SourceServer).
    sid = IN_STATE[state](emu, mgn)
    response = mgn.change_server_life_cycle_state(sourceServerID=sid, lifeCycle={"state": target})
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200, source
    assert response["lifeCycle"]["state"] == target, source
    assert _describe(mgn, sid)["lifeCycle"]["state"] == target, source


def test_change_server_life_cycle_state_targets_are_the_documented_three() -> None:
    # MODEL ChangeServerLifeCycleStateSourceServerLifecycleState: READY_FOR_TEST | READY_FOR_CUTOVER | CUTOVER.
    from localcloud.mgn.lifecycle import CHANGE_STATE_FROM

    assert set(CHANGE_STATE_FROM) == _enum("ChangeServerLifeCycleStateSourceServerLifecycleState")


@pytest.mark.parametrize("target", ["READY_FOR_TEST", "READY_FOR_CUTOVER", "CUTOVER"])
def test_change_server_life_cycle_state_needs_a_launchable_server(
    emu: MgnEmulator, mgn: Any, target: str
) -> None:
    # MODEL ChangeServerLifeCycleState: "only works if the Source Server is already launchable
    # (dataReplicationInfo.lagDuration is not null)".
    sid = _not_ready(emu, mgn)
    assert "lagDuration" not in _describe(mgn, sid)["dataReplicationInfo"]
    with pytest.raises(mgn.exceptions.ConflictException):
        mgn.change_server_life_cycle_state(sourceServerID=sid, lifeCycle={"state": target})


@pytest.mark.parametrize("finalize", [True, False], ids=["FinalizeCutover", "DisconnectFromService"])
def test_finalize_and_disconnect_stop_replication_as_documented(
    emu: MgnEmulator, mgn: Any, network: Any, finalize: bool
) -> None:
    # MODEL FinalizeCutover / DisconnectFromService: at once dataReplicationState DISCONNECTED (and
    # lifecycle CUTOVER for FinalizeCutover), every replicatedDisks[].totalStorageBytes zero,
    # lagDuration and etaDateTime nullified; launched test or cutover instances are NOT terminated.
    sid = _cutting_over(emu, mgn) if finalize else _tested(emu, mgn)
    instance = _describe(mgn, sid)["launchedInstance"]["ec2InstanceID"]
    assert _describe(mgn, sid)["dataReplicationInfo"]["lagDuration"]
    call = mgn.finalize_cutover if finalize else mgn.disconnect_from_service
    for server in (call(sourceServerID=sid), _describe(mgn, sid)):
        info = server["dataReplicationInfo"]
        assert info["dataReplicationState"] == "DISCONNECTED"
        assert [d["totalStorageBytes"] for d in info["replicatedDisks"]] == [0]
        assert "lagDuration" not in info and "etaDateTime" not in info
        # UG finalizing-cutover-2: lifecycle "Cutover complete" (CUTOVER), next step Mark as archived.
        # UG interracting: "Disconnected" is one of the console's migration lifecycle values.
        assert server["lifeCycle"]["state"] == ("CUTOVER" if finalize else "DISCONNECTED")
        assert server["launchedInstance"]["ec2InstanceID"] == instance
    reservations = network.ec2.describe_instances(InstanceIds=[instance])["Reservations"]
    assert reservations[0]["Instances"][0]["State"]["Name"] == "running"


def test_finalize_cutover_is_refused_without_a_cutover_launch(emu: MgnEmulator, mgn: Any) -> None:
    # UG finalizing-cutover-2: finalize the servers "that has a launched cutover instance".
    # MODEL FinalizeCutover declares ConflictException.
    for state in ("READY_FOR_TEST", "TESTING", "READY_FOR_CUTOVER"):
        sid = IN_STATE[state](emu, mgn)
        with pytest.raises(mgn.exceptions.ConflictException):
            mgn.finalize_cutover(sourceServerID=sid)
        mgn.disconnect_from_service(sourceServerID=sid)  # out of the way of the next one's job


@pytest.mark.parametrize("state", ["DISCONNECTED", "CUTOVER"])
def test_mark_as_archived_is_accepted_when_disconnected_or_cut_over(
    emu: MgnEmulator, mgn: Any, state: str
) -> None:
    # MODEL MarkAsArchived: sets isArchived to true; "only works for SourceServers with a lifecycle
    # state that equals DISCONNECTED or CUTOVER".
    sid = IN_STATE[state](emu, mgn)
    assert mgn.mark_as_archived(sourceServerID=sid)["isArchived"] is True
    assert mgn.describe_source_servers(filters={"isArchived": True})["items"][0]["sourceServerID"] == sid


@pytest.mark.parametrize(
    "state", ["NOT_READY", "READY_FOR_TEST", "TESTING", "READY_FOR_CUTOVER", "CUTTING_OVER"]
)
def test_mark_as_archived_is_refused_in_every_other_state(emu: MgnEmulator, mgn: Any, state: str) -> None:
    # MODEL MarkAsArchived (as above); it declares ConflictException.
    sid = IN_STATE[state](emu, mgn)
    with pytest.raises(mgn.exceptions.ConflictException):
        mgn.mark_as_archived(sourceServerID=sid)
    assert _describe(mgn, sid)["isArchived"] is False


@pytest.mark.parametrize("state", ["TESTING", "CUTTING_OVER", "CUTOVER"])
def test_terminate_target_instances_is_refused_while_testing_cutting_over_or_cut_over(
    emu: MgnEmulator, mgn: Any, state: str
) -> None:
    # MODEL TerminateTargetInstances: "will not work for any Source Server with a lifecycle.state of
    # TESTING, CUTTING_OVER, or CUTOVER"; it declares ConflictException.
    sid = IN_STATE[state](emu, mgn)
    assert _describe(mgn, sid)["launchedInstance"]["ec2InstanceID"]
    with pytest.raises(mgn.exceptions.ConflictException):
        mgn.terminate_target_instances(sourceServerIDs=[sid])


def test_terminate_target_instances_runs_a_terminate_job(emu: MgnEmulator, mgn: Any, network: Any) -> None:
    # MODEL TerminateTargetInstances: "Starts a job that terminates specific launched EC2 Test and
    # Cutover instances" (HTTP 202); InitiatedBy TERMINATE, JobType TERMINATE, LaunchStatus TERMINATED.
    # UG finalizing-test: after Mark as ready for cutover the next step is Terminate launched instance.
    sid = _ready_for_cutover(emu, mgn)
    instance = _describe(mgn, sid)["launchedInstance"]["ec2InstanceID"]
    response = mgn.terminate_target_instances(sourceServerIDs=[sid])
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 202
    job = response["job"]
    assert (job["type"], job["initiatedBy"]) == ("TERMINATE", "TERMINATE")
    emu.clock.advance(JOB_DONE_AFTER + 1)
    [done] = mgn.describe_jobs(filters={"jobIDs": [job["jobID"]]})["items"]
    assert done["status"] == "COMPLETED"
    assert done["participatingServers"][0]["launchStatus"] == "TERMINATED"
    reservations = network.ec2.describe_instances(InstanceIds=[instance])["Reservations"]
    assert reservations[0]["Instances"][0]["State"]["Name"] == "terminated"


def test_a_cutover_replaces_the_test_instance_and_replication_goes_on(
    emu: MgnEmulator, mgn: Any, network: Any
) -> None:
    # UG launch-cutover: "For each new cutover, AWS Application Migration Service first deletes any
    # previously launched Test instance", and "After the cutover, data replication continues as
    # before". UG starting-cutover: data replication status Healthy while Cutover in progress.
    sid = _ready_for_cutover(emu, mgn)
    test_instance = _describe(mgn, sid)["launchedInstance"]["ec2InstanceID"]
    mgn.start_cutover(sourceServerIDs=[sid])
    emu.clock.advance(JOB_DONE_AFTER + 1)
    server = _describe(mgn, sid)
    assert server["launchedInstance"]["ec2InstanceID"] != test_instance
    assert server["dataReplicationInfo"]["dataReplicationState"] == "CONTINUOUS"
    assert server["dataReplicationInfo"]["lagDuration"]
    reservations = network.ec2.describe_instances(InstanceIds=[test_instance])["Reservations"]
    assert reservations[0]["Instances"][0]["State"]["Name"] == "terminated"


def test_last_test_and_last_cutover_record_what_was_done_and_when(emu: MgnEmulator, mgn: Any) -> None:
    # MODEL LifeCycleLastTest / LifeCycleLastCutover: initiated (apiCallDateTime, jobID), reverted and
    # finalized (apiCallDateTime). UG finalizing-test: "Mark as ready for cutover" finalizes the test;
    # UG revert-finalize-cutover: a cutover can be reverted; UG finalizing-cutover-2: and finalized.
    sid = _tested(emu, mgn)
    mgn.change_server_life_cycle_state(sourceServerID=sid, lifeCycle={"state": "READY_FOR_CUTOVER"})
    last_test = _describe(mgn, sid)["lifeCycle"]["lastTest"]
    assert set(last_test) == {"initiated", "finalized"} and set(last_test["initiated"]) == {
        "apiCallDateTime",
        "jobID",
    }
    first = mgn.start_cutover(sourceServerIDs=[sid])["job"]["jobID"]
    emu.clock.advance(JOB_DONE_AFTER + 1)
    mgn.change_server_life_cycle_state(sourceServerID=sid, lifeCycle={"state": "READY_FOR_CUTOVER"})
    last_cutover = _describe(mgn, sid)["lifeCycle"]["lastCutover"]
    assert set(last_cutover) == {"initiated", "reverted"} and last_cutover["initiated"]["jobID"] == first
    second = mgn.start_cutover(sourceServerIDs=[sid])["job"]["jobID"]
    emu.clock.advance(JOB_DONE_AFTER + 1)
    last_cutover = mgn.finalize_cutover(sourceServerID=sid)["lifeCycle"]["lastCutover"]
    assert set(last_cutover) == {"initiated", "finalized"} and last_cutover["initiated"]["jobID"] == second
    for part in ("initiated", "finalized"):
        assert set(last_cutover[part]) <= _members(f"LifeCycleLastCutover{part.capitalize()}")


# ---- data replication states and when each appears ------------------------------------------------------


def test_replication_goes_initiating_initial_sync_continuous_and_lifecycle_follows(
    emu: MgnEmulator, mgn: Any
) -> None:
    # LIFECYCLE: "Not ready" while the initial sync runs; "Ready for testing" once it completed.
    # MODEL DataReplicationState / DataReplicationInitiationStepName / ...StepStatus enums.
    # MODEL ChangeServerLifeCycleState: launchable means lagDuration is set (none before the sync).
    sid = emu.register_agent("web01")
    info = _describe(mgn, sid)["dataReplicationInfo"]
    assert info["dataReplicationState"] == "INITIATING"
    steps = info["dataReplicationInitiation"]["steps"]
    assert {s["name"] for s in steps} <= _enum("DataReplicationInitiationStepName")
    assert {s["status"] for s in steps} <= _enum("DataReplicationInitiationStepStatus")
    assert _describe(mgn, sid)["lifeCycle"]["state"] == "NOT_READY"

    emu.clock.advance(FAST.initiating_seconds + 1)
    server = _describe(mgn, sid)
    assert server["dataReplicationInfo"]["dataReplicationState"] == "INITIAL_SYNC"
    assert "lagDuration" not in server["dataReplicationInfo"]
    assert "etaDateTime" in server["dataReplicationInfo"]
    assert server["lifeCycle"]["state"] == "NOT_READY"

    emu.clock.advance(FAST.initial_sync_seconds)
    server = _describe(mgn, sid)
    assert server["dataReplicationInfo"]["dataReplicationState"] == "CONTINUOUS"
    assert server["dataReplicationInfo"]["lagDuration"]
    assert "etaDateTime" not in server["dataReplicationInfo"]
    assert server["lifeCycle"]["state"] == "READY_FOR_TEST"
    disk = server["dataReplicationInfo"]["replicatedDisks"][0]
    assert disk["replicatedStorageBytes"] == disk["totalStorageBytes"] > 0


def test_a_stalled_server_reports_a_documented_replication_error(emu: MgnEmulator, mgn: Any) -> None:
    # MODEL DataReplicationInfo.dataReplicationError.error is a DataReplicationErrorString; the
    # initiation step that failed is marked FAILED (DataReplicationInitiationStepStatus).
    sid = emu.register_agent("web01")
    mgn.update_replication_configuration(sourceServerID=sid, dataPlaneRouting="PUBLIC_IP")
    emu.clock.advance(FAST.initiating_seconds + 1)
    info = _describe(mgn, sid)["dataReplicationInfo"]
    assert info["dataReplicationState"] == "STALLED"
    assert info["dataReplicationError"]["error"] in _enum("DataReplicationErrorString")
    failed = [s["name"] for s in info["dataReplicationInitiation"]["steps"] if s["status"] == "FAILED"]
    assert failed == ["CONNECT_AGENT_TO_REPLICATION_SERVER"]


def test_every_state_of_a_whole_migration_is_a_model_enum_value(emu: MgnEmulator, mgn: Any) -> None:
    # MODEL LifeCycleState, DataReplicationState, FirstBoot, JobStatus, LaunchStatus enums.
    seen_life, seen_repl, seen_boot = set(), set(), set()
    sid = emu.register_agent("web01")

    def look() -> None:
        server = _describe(mgn, sid)
        seen_life.add(server["lifeCycle"]["state"])
        seen_repl.add(server["dataReplicationInfo"]["dataReplicationState"])
        if "launchedInstance" in server:
            seen_boot.add(server["launchedInstance"]["firstBoot"])

    for _ in range(12):
        look()
        emu.clock.advance(60)
    emu.clock.advance(SYNCED_AFTER)
    for step in (
        lambda: mgn.start_test(sourceServerIDs=[sid]),
        lambda: mgn.change_server_life_cycle_state(
            sourceServerID=sid, lifeCycle={"state": "READY_FOR_CUTOVER"}
        ),
        lambda: mgn.start_cutover(sourceServerIDs=[sid]),
        lambda: mgn.finalize_cutover(sourceServerID=sid),
    ):
        look()
        step()
        for _ in range(6):
            emu.clock.advance(30)
            look()
    assert seen_life <= _enum("LifeCycleState")
    assert seen_repl <= _enum("DataReplicationState")
    assert seen_boot <= _enum("FirstBoot")
    assert {
        "NOT_READY",
        "READY_FOR_TEST",
        "TESTING",
        "READY_FOR_CUTOVER",
        "CUTTING_OVER",
        "CUTOVER",
    } <= seen_life
    assert {"INITIATING", "INITIAL_SYNC", "CONTINUOUS", "DISCONNECTED"} <= seen_repl
    for job in mgn.describe_jobs()["items"]:
        assert job["status"] in _enum("JobStatus")
        assert {p["launchStatus"] for p in job["participatingServers"]} <= _enum("LaunchStatus")


# ---- jobs and job log items ----------------------------------------------------------------------------


def test_a_launch_job_has_the_job_shape_and_moves_pending_started_completed(
    emu: MgnEmulator, mgn: Any
) -> None:
    # MODEL Job (jobID pattern mgnjob-[0-9a-zA-Z]{17}, type, initiatedBy, creationDateTime, endDateTime,
    # status, participatingServers, tags), JobStatus PENDING | STARTED | COMPLETED, ParticipatingServer.
    sid = _ready(emu)
    job = mgn.start_test(sourceServerIDs=[sid], tags={"wave": "1"})["job"]
    assert set(job) <= _members("Job") and JOB_ID.match(job["jobID"])
    assert job["status"] == "PENDING" and "endDateTime" not in job
    assert job["tags"] == {"wave": "1"}
    statuses = []
    for _ in range(JOB_DONE_AFTER // 5 + 2):
        [now] = mgn.describe_jobs(filters={"jobIDs": [job["jobID"]]})["items"]
        assert set(now) <= _members("Job")
        for participant in now["participatingServers"]:
            assert set(participant) <= _members("ParticipatingServer")
        if not statuses or statuses[-1] != now["status"]:
            statuses.append(now["status"])
        emu.clock.advance(5)
    assert statuses == ["PENDING", "STARTED", "COMPLETED"]
    assert "endDateTime" in now
    [participant] = now["participatingServers"]
    assert participant["sourceServerID"] == sid and participant["launchStatus"] == "LAUNCHED"
    assert participant["launchedEc2InstanceID"] == _describe(mgn, sid)["launchedInstance"]["ec2InstanceID"]


def test_describe_jobs_lists_the_latest_job_first(emu: MgnEmulator, mgn: Any) -> None:
    # MODEL DescribeJobs: "The response is sorted by creationDateTime - latest date first."
    first = _ready(emu, "web01")
    second = _ready(emu, "web02")
    old = mgn.start_test(sourceServerIDs=[first])["job"]["jobID"]
    emu.clock.advance(60)
    new = mgn.start_test(sourceServerIDs=[second])["job"]["jobID"]
    items = mgn.describe_jobs()["items"]
    assert [j["jobID"] for j in items] == [new, old]
    created = [j["creationDateTime"] for j in items]
    assert created == sorted(created, reverse=True)
    paged = [
        j["jobID"]
        for p in mgn.get_paginator("describe_jobs").paginate(PaginationConfig={"PageSize": 1})
        for j in p["items"]
    ]
    assert paged == [new, old]


@pytest.mark.parametrize("fail", [False, True], ids=["launched", "failed"])
def test_job_log_items_have_the_model_shape_and_tell_the_launch(
    emu: MgnEmulator, mgn: Any, fail: bool
) -> None:
    # MODEL JobLog (logDateTime, event, eventData), JobLogEvent enum, JobLogEventData (sourceServerID,
    # conversionServerID, targetInstanceID, rawError, ...). UG jobs (Review launch history): the job
    # log goes from job start through snapshot, conversion and launch to job end.
    sid = _ready(emu)
    if fail:
        emu.fail_next_launch(sid, "boom")
    job = mgn.start_test(sourceServerIDs=[sid])["job"]
    emu.clock.advance(JOB_DONE_AFTER + 1)
    items = [
        i
        for p in mgn.get_paginator("describe_job_log_items").paginate(jobID=job["jobID"])
        for i in p["items"]
    ]
    for item in items:
        assert set(item) <= _members("JobLog")
        assert item["event"] in _enum("JobLogEvent")
        assert set(item.get("eventData", {})) <= _members("JobLogEventData")
    events = [i["event"] for i in items]
    assert events[0] == "JOB_START" and events[-1] == "JOB_END"
    order = ["SNAPSHOT_START", "SNAPSHOT_END", "CONVERSION_START", "CONVERSION_END", "LAUNCH_START"]
    assert [e for e in events if e in order] == order
    by_event = {i["event"]: i.get("eventData", {}) for i in items}
    assert by_event["CONVERSION_START"]["conversionServerID"].startswith("i-")
    if fail:
        assert by_event["LAUNCH_FAILED"] == {"sourceServerID": sid, "rawError": "boom"}
    else:
        assert "LAUNCH_FAILED" not in by_event
        assert (
            by_event["LAUNCH_START"]["targetInstanceID"]
            == _describe(mgn, sid)["launchedInstance"]["ec2InstanceID"]
        )


def test_terminate_job_log_tells_the_cleanup(emu: MgnEmulator, mgn: Any) -> None:
    # MODEL JobLogEvent: CLEANUP_START / CLEANUP_END are the terminate job's events.
    sid = _ready_for_cutover(emu, mgn)
    job = mgn.terminate_target_instances(sourceServerIDs=[sid])["job"]
    emu.clock.advance(JOB_DONE_AFTER + 1)
    events = [i["event"] for i in mgn.describe_job_log_items(jobID=job["jobID"])["items"]]
    assert events == ["JOB_START", "CLEANUP_START", "CLEANUP_END", "JOB_END"]


def test_describe_job_log_items_of_an_unknown_job_is_no_resource_not_found(mgn: Any) -> None:
    # MODEL DescribeJobLogItems declares only UninitializedAccountException and ValidationException.
    assert "ResourceNotFoundException" not in _declared_errors("DescribeJobLogItems")
    assert mgn.describe_job_log_items(jobID="mgnjob-0123456789abcdefg")["items"] == []


# ---- error codes per call -------------------------------------------------------------------------------

UNKNOWN = "s-0123456789abcdefg"


def _sid_for(emu: MgnEmulator, mgn: Any, state: str) -> str:
    return UNKNOWN if state == "unknown" else IN_STATE[state](emu, mgn)


# (operation, its parameters given the server id, the server's state, the error MGN answers with)
ERROR_CASES = [
    # StartTest/StartCutover/TerminateTargetInstances do not declare ResourceNotFoundException: an
    # unknown server is a ConflictException there.
    ("StartTest", lambda s: {"sourceServerIDs": [s]}, "unknown", "ConflictException"),
    ("StartTest", lambda s: {"sourceServerIDs": [s]}, "NOT_READY", "ConflictException"),
    ("StartCutover", lambda s: {"sourceServerIDs": [s]}, "unknown", "ConflictException"),
    ("StartCutover", lambda s: {"sourceServerIDs": [s]}, "DISCONNECTED", "ConflictException"),
    ("TerminateTargetInstances", lambda s: {"sourceServerIDs": [s]}, "unknown", "ConflictException"),
    ("TerminateTargetInstances", lambda s: {"sourceServerIDs": [s]}, "TESTING", "ConflictException"),
    (
        "ChangeServerLifeCycleState",
        lambda s: {"sourceServerID": s, "lifeCycle": {"state": "READY_FOR_CUTOVER"}},
        "unknown",
        "ResourceNotFoundException",
    ),
    (
        "ChangeServerLifeCycleState",
        lambda s: {"sourceServerID": s, "lifeCycle": {"state": "CUTOVER"}},
        "READY_FOR_TEST",
        "ConflictException",
    ),
    ("FinalizeCutover", lambda s: {"sourceServerID": s}, "unknown", "ResourceNotFoundException"),
    ("FinalizeCutover", lambda s: {"sourceServerID": s}, "READY_FOR_TEST", "ConflictException"),
    ("MarkAsArchived", lambda s: {"sourceServerID": s}, "unknown", "ResourceNotFoundException"),
    ("MarkAsArchived", lambda s: {"sourceServerID": s}, "READY_FOR_TEST", "ConflictException"),
    ("DisconnectFromService", lambda s: {"sourceServerID": s}, "unknown", "ResourceNotFoundException"),
    ("DisconnectFromService", lambda s: {"sourceServerID": s}, "DISCONNECTED", "ConflictException"),
    ("DeleteSourceServer", lambda s: {"sourceServerID": s}, "unknown", "ResourceNotFoundException"),
    ("DeleteSourceServer", lambda s: {"sourceServerID": s}, "READY_FOR_TEST", "ConflictException"),
    ("GetLaunchConfiguration", lambda s: {"sourceServerID": s}, "unknown", "ResourceNotFoundException"),
    ("GetReplicationConfiguration", lambda s: {"sourceServerID": s}, "unknown", "ResourceNotFoundException"),
    (
        "UpdateReplicationConfiguration",
        lambda s: {"sourceServerID": s, "createPublicIP": False},
        "unknown",
        "ResourceNotFoundException",
    ),
    (
        "UpdateReplicationConfiguration",
        lambda s: {"sourceServerID": s, "createPublicIP": False},
        "DISCONNECTED",
        "ConflictException",
    ),
    (
        "UpdateLaunchConfiguration",
        lambda s: {"sourceServerID": s, "copyTags": True},
        "unknown",
        "ResourceNotFoundException",
    ),
]


@pytest.mark.parametrize(
    ("operation", "params", "state", "code"),
    ERROR_CASES,
    ids=[f"{op}-{state}" for op, _, state, _ in ERROR_CASES],
)
def test_each_call_answers_with_an_error_its_model_declares(
    emu: MgnEmulator, mgn: Any, operation: str, params: Callable[[str], dict[str, Any]], state: str, code: str
) -> None:
    # MODEL: each operation's "errors" list, and each error shape's httpStatusCode.
    assert code in _declared_errors(operation)
    sid = _sid_for(emu, mgn, state)
    from botocore import xform_name

    with pytest.raises(ClientError) as exc:
        getattr(mgn, xform_name(operation))(**params(sid))
    response = exc.value.response
    assert response["Error"]["Code"] == code
    status = MODEL.shape_for(code).metadata["error"]["httpStatusCode"]
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status


def test_an_uninitialized_account_answers_uninitialized_account_exception(
    clock: SimClock, network: Any
) -> None:
    # MODEL UninitializedAccountException (HTTP 400), declared by DescribeSourceServers; InitializeService
    # creates the default replication template (UG mandatory-setup).
    assert "UninitializedAccountException" in _declared_errors("DescribeSourceServers")
    emu = make_emulator(clock, network, initialized=False)
    with emu.installed():
        mgn = mgn_client()
        with pytest.raises(mgn.exceptions.UninitializedAccountException) as exc:
            mgn.describe_source_servers()
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        mgn.initialize_service()
        assert mgn.describe_source_servers()["items"] == []
        assert mgn.describe_replication_configuration_templates()["items"]


def test_throttling_sends_retry_after_as_the_model_binds_it(emu: MgnEmulator, mgn: Any) -> None:
    # MODEL ThrottlingException: HTTP 429, retryAfterSeconds bound to the Retry-After header.
    member = MODEL.shape_for("ThrottlingException").members["retryAfterSeconds"]
    assert member.serialization == {"location": "header", "name": "Retry-After"}
    emu.throttle_next("DescribeSourceServers", retry_after=7)
    with pytest.raises(ClientError) as exc:
        mgn.describe_source_servers()
    response = exc.value.response
    assert response["Error"]["Code"] == "ThrottlingException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "7"


@pytest.mark.parametrize(
    "operation",
    ["StartTest", "StartCutover", "TerminateTargetInstances", "DeleteSourceServer", "DescribeJobs"],
)
def test_success_status_codes_are_the_models(emu: MgnEmulator, mgn: Any, operation: str) -> None:
    # MODEL http.responseCode: 202 for the job-starting calls, 204 for DeleteSourceServer, else 200.
    # CMF checks exactly these: HTTPStatusCode 202 after start_test/start_cutover/
    # terminate_target_instances, 200 after lifecycle changes, disconnect and archive.
    expected = MODEL.operation_model(operation).http.get("responseCode", 200)
    if operation == "DescribeJobs":
        response = mgn.describe_jobs()
    elif operation == "DeleteSourceServer":
        response = mgn.delete_source_server(sourceServerID=_disconnected(emu, mgn))
    elif operation == "TerminateTargetInstances":
        response = mgn.terminate_target_instances(sourceServerIDs=[_ready_for_cutover(emu, mgn)])
    elif operation == "StartTest":
        response = mgn.start_test(sourceServerIDs=[_ready(emu)])
    else:
        response = mgn.start_cutover(sourceServerIDs=[_ready_for_cutover(emu, mgn)])
    assert response["ResponseMetadata"]["HTTPStatusCode"] == expected


def test_an_undeclared_error_is_an_emulator_bug(emu: MgnEmulator, mgn: Any) -> None:
    # MODEL StartTest declares no ResourceNotFoundException: the emulator refuses to send one.
    def not_found(params: dict[str, Any]) -> dict[str, Any]:
        raise NotFoundError("no such server")

    emu.api.operations["StartTest"] = not_found
    with pytest.raises(EmulatorBug, match="does not declare"):
        mgn.start_test(sourceServerIDs=[UNKNOWN])


# ---- what public code that drives MGN expects ----------------------------------------------------------


def test_cmf_finalizes_a_cutover_with_disconnect_then_lifecycle_cutover(emu: MgnEmulator, mgn: Any) -> None:
    # CMF "Finalize Cutover": disconnect_from_service, then change_server_life_cycle_state CUTOVER;
    # CMF "- Mark as archived" afterwards. (MODEL MarkAsArchived: DISCONNECTED or CUTOVER.)
    sid = _cutting_over(emu, mgn)
    mgn.disconnect_from_service(sourceServerID=sid)
    server = mgn.change_server_life_cycle_state(sourceServerID=sid, lifeCycle={"state": "CUTOVER"})
    assert server["lifeCycle"]["state"] == "CUTOVER"
    assert server["dataReplicationInfo"]["dataReplicationState"] == "DISCONNECTED"
    assert mgn.mark_as_archived(sourceServerID=sid)["isArchived"] is True


def test_cmf_cannot_mark_cutover_a_server_that_never_cut_over(emu: MgnEmulator, mgn: Any) -> None:
    # The same CMF path on a server without a cutover launch: MODEL ChangeServerLifeCycleState
    # declares ConflictException; a cutover needs a launched cutover instance (UG finalizing-cutover-2).
    sid = _disconnected(emu, mgn)
    with pytest.raises(mgn.exceptions.ConflictException):
        mgn.change_server_life_cycle_state(sourceServerID=sid, lifeCycle={"state": "CUTOVER"})


def test_cmf_finds_its_servers_by_hostname_fqdn_and_primary_ip(emu: MgnEmulator, mgn: Any) -> None:
    # CMF lambda_mgn.py: pages describe_source_servers with filters={}, matches a server by
    # sourceProperties.identificationHints hostname/fqdn or by the ips of the networkInterfaces entry
    # whose isPrimary is true, skips isArchived ones, and reads dataReplicationInfo.dataReplicationState.
    sid = emu.register_agent("app01", ip_address="10.20.0.44")
    pages = list(mgn.get_paginator("describe_source_servers").paginate(filters={}))
    [server] = [s for p in pages for s in p["items"]]
    hints = server["sourceProperties"]["identificationHints"]
    assert hints["hostname"] == "app01" and hints["fqdn"].startswith("app01.")
    primary = [n for n in server["sourceProperties"]["networkInterfaces"] if n["isPrimary"] is True]
    assert primary[0]["ips"] == ["10.20.0.44"]
    assert server["isArchived"] is False and server["sourceServerID"] == sid
    assert server["dataReplicationInfo"]["dataReplicationState"]
