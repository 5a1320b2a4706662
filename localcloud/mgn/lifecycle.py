"""Which lifecycle states MGN accepts for each action (strict, as the MGN console/API allow).

Refusals are ConflictException: the request is well formed but the server's current state
does not allow it, which is what 409 means in MGN's model.
"""

from __future__ import annotations

from localcloud.mgn.errors import ConflictError
from localcloud.mgn.server_state import ServerRecord

# Launching test instances: first test, a re-test, or another test after marking ready for cutover.
START_TEST_FROM = frozenset({"READY_FOR_TEST", "TESTING", "READY_FOR_CUTOVER"})
# Launching cutover instances: after testing was marked done, re-launching a cutover, or straight
# from READY_FOR_TEST ("Test or cutover instances can now be launched for this server", the MGN user
# guide's lifecycle states, https://docs.aws.amazon.com/mgn/latest/ug/migration-dashboard.html).
START_CUTOVER_FROM = frozenset({"READY_FOR_TEST", "READY_FOR_CUTOVER", "CUTTING_OVER"})
# ChangeServerLifeCycleState target -> allowed current states:
#   READY_FOR_TEST    "revert to ready for testing"
#   READY_FOR_CUTOVER "mark as ready for cutover" (after testing), "revert to ready for cutover", or
#                     skipping the test (READY_FOR_TEST -> READY_FOR_CUTOVER with the CLI, AWS blog
#                     https://aws.amazon.com/blogs/mt/how-to-skip-testing-and-finalize-cutover-in-the-
#                     aws-application-migration-service/)
#   CUTOVER           "mark as cutover" after a successful cutover launch, also once disconnected:
#                     AWS Cloud Migration Factory finalizes a cutover with DisconnectFromService and
#                     then ChangeServerLifeCycleState CUTOVER (aws-solutions/cloud-migration-factory-
#                     on-aws, source/integrations/mgn/lambdas/lambda_mgn_launch.py), although the
#                     model says the call needs a launchable server (lagDuration set).
CHANGE_STATE_FROM = {
    "READY_FOR_TEST": frozenset({"TESTING", "READY_FOR_CUTOVER"}),
    "READY_FOR_CUTOVER": frozenset({"READY_FOR_TEST", "TESTING", "CUTTING_OVER"}),
    "CUTOVER": frozenset({"CUTTING_OVER", "DISCONNECTED"}),
}
TERMINATE_REFUSED_IN = frozenset({"TESTING", "CUTTING_OVER", "CUTOVER"})
ARCHIVE_ALLOWED_IN = frozenset({"DISCONNECTED", "CUTOVER"})


def conflict(server: ServerRecord, message: str) -> ConflictError:
    return ConflictError(message, resource_id=server.server_id, resource_type="SOURCE_SERVER")


def problem_detail(server_id: str, code: str, message: str) -> dict[str, str]:
    """One entry of ConflictException.errors."""
    return {"code": code, "message": message, "resourceId": server_id, "resourceType": "SOURCE_SERVER"}


def launch_problem(server: ServerRecord, allowed: frozenset[str], action: str) -> dict[str, str] | None:
    """Why ``server`` cannot join a launch job now, or None if it can."""
    sid = server.server_id
    if server.is_archived:
        return problem_detail(sid, "SOURCE_SERVER_ARCHIVED", f"{sid} is archived")
    if server.active_job_id:
        return problem_detail(
            sid, "SOURCE_SERVER_BUSY", f"{sid} already participates in active job {server.active_job_id}"
        )
    if not server.initial_sync_complete or not server.replicating:
        return problem_detail(
            sid, "SOURCE_SERVER_NOT_LAUNCHABLE", f"{sid} has no completed replication to launch from"
        )
    if server.lifecycle not in allowed:
        return problem_detail(
            sid,
            "INVALID_LIFECYCLE_STATE",
            f"Cannot {action} {sid} in lifecycle state {server.lifecycle}; "
            f"allowed: {', '.join(sorted(allowed))}",
        )
    return None


def check_change_state(server: ServerRecord, target: str) -> None:
    allowed = CHANGE_STATE_FROM[target]
    if server.is_archived:
        raise conflict(server, f"{server.server_id} is archived")
    if server.active_job_id:
        raise conflict(server, f"{server.server_id} participates in active job {server.active_job_id}")
    # MGN: "only works if the Source Server is already launchable (lagDuration is not null)".
    if not server.initial_sync_complete:
        raise conflict(server, f"{server.server_id} is not launchable yet (initial sync not complete)")
    if server.lifecycle not in allowed:
        raise conflict(
            server,
            f"Cannot change lifecycle of {server.server_id} from {server.lifecycle} to "
            f"{target}; allowed from: {', '.join(sorted(allowed))}",
        )
    if target == "CUTOVER" and not has_launched_cutover(server):
        raise conflict(server, f"{server.server_id} has no successfully launched cutover instance")


def has_launched_cutover(server: ServerRecord) -> bool:
    inst = server.launched_instance or {}
    initiated = server.last_cutover.get("initiated", {})
    return bool(inst.get("ec2InstanceID")) and inst.get("jobID") == initiated.get("jobID")


def check_finalize(server: ServerRecord) -> None:
    if server.active_job_id:
        raise conflict(server, f"{server.server_id} participates in active job {server.active_job_id}")
    if server.lifecycle == "CUTOVER" and server.replicating:
        return  # marked CUTOVER by ChangeServerLifeCycleState; finalizing still disconnects
    if server.lifecycle != "CUTTING_OVER":
        raise conflict(
            server,
            f"Cannot finalize cutover of {server.server_id} in lifecycle state "
            f"{server.lifecycle}; a cutover must have been launched first",
        )
    if not has_launched_cutover(server):
        raise conflict(
            server, f"Cannot finalize cutover of {server.server_id}: its cutover launch did not succeed"
        )


def terminate_problem(server: ServerRecord) -> dict[str, str] | None:
    sid = server.server_id
    if server.active_job_id:
        return problem_detail(
            sid, "SOURCE_SERVER_BUSY", f"{sid} participates in active job {server.active_job_id}"
        )
    if server.lifecycle in TERMINATE_REFUSED_IN:
        return problem_detail(
            sid,
            "INVALID_LIFECYCLE_STATE",
            f"Cannot terminate target instances of {sid} in lifecycle state {server.lifecycle}",
        )
    if not (server.launched_instance or {}).get("ec2InstanceID"):
        return problem_detail(sid, "NO_LAUNCHED_INSTANCE", f"{sid} has no launched instance to terminate")
    return None


def check_archive(server: ServerRecord) -> None:
    if server.lifecycle not in ARCHIVE_ALLOWED_IN:
        raise conflict(
            server,
            f"Cannot archive {server.server_id} in lifecycle state {server.lifecycle}; "
            "disconnect it or finalize its cutover first",
        )


def check_disconnect(server: ServerRecord) -> None:
    if server.active_job_id:
        raise conflict(server, f"{server.server_id} participates in active job {server.active_job_id}")
    if server.lifecycle == "DISCONNECTED":
        raise conflict(server, f"{server.server_id} is already disconnected")


def check_delete(server: ServerRecord) -> None:
    if server.active_job_id:
        raise conflict(server, f"{server.server_id} participates in active job {server.active_job_id}")
    if server.replicating:
        raise conflict(server, f"Cannot delete {server.server_id} while it replicates; disconnect it first")
