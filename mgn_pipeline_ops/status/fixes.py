"""What went wrong, and what to do about it: one catalogue for every problem the audit trail records.

Each audit action the pipeline writes is a problem (in ``PROBLEMS``, with its fix), progress (in
``PROGRESS``: the server moved on, so an older problem is behind it) or a neutral note (any other
action: it neither raises nor clears a problem). ``last_error`` reads a server's newest records
with these rules. MGN's own replication errors have their fixes in ``REPLICATION_ERRORS``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mgn_pipeline_ops.status.model import LastError

_TEST_AGAIN = (
    "test the server again (MGN console: mark it READY_FOR_TEST): the pipeline launches and verifies a "
    "new test, and a verified test opens a new cutover gate that asks for approval again."
)

# After the last failed attempt the pipeline waits for a person's test, which it verifies as its own.
_LAUNCH_A_TEST = "launch a test instance of the server in the MGN console: the pipeline verifies it."


@dataclass(frozen=True, slots=True)
class Fix:
    problem: str  # what went wrong, in words
    fix: str  # what a person does about it ("Nothing to do" when the pipeline handles it)
    needs_person: bool
    # A follow-up of another problem (it repeats it with less detail): shown only when alone.
    follow_up: bool = False


PROBLEMS: Mapping[str, Fix] = {
    # ---- settings drift (mgn_pipeline/replication/enforcer.py)
    "replication-settings-repaired": Fix(
        "replication settings were off the closed-network policy (repaired)",
        "Nothing to do: the pipeline put them back. If it happens again, ask the actor in the audit "
        "record to change the stack parameters instead of the server's settings in the MGN console.",
        needs_person=False,
    ),
    "replication-template-repaired": Fix(
        "the replication template was off the closed-network policy (repaired)",
        "Nothing to do: the pipeline put it back. Change replication defaults through the stack "
        "parameters, not the MGN console.",
        needs_person=False,
    ),
    "launch-template-repaired": Fix(
        "the EC2 launch template gave a public IP or a subnet outside AllowedLaunchSubnetIds (repaired)",
        "Nothing to do: a new default version was made. Edit launch templates within the policy.",
        needs_person=False,
    ),
    "launch-template-blocked": Fix(
        "the EC2 launch template gives a public IP or a subnet outside AllowedLaunchSubnetIds: "
        "test and cutover launches are blocked",
        "Make a launch template version without a public IP, in a subnet of AllowedLaunchSubnetIds, "
        "and set it as the default version; the next reconcile (5 minutes) unblocks the launches.",
        needs_person=True,
    ),
    # ---- test launches (launches/service.py, launches/batcher.py)
    "test-launch-blocked": Fix(
        "a test-launch precondition fails",
        "Read the reason. Replication not CONTINUOUS clears by itself. A red network health check "
        "names its fix in the health notification: fix it, then run NetworkHealthFunction on demand. "
        "A blocked launch template must be fixed. The server is queued as soon as all pass.",
        needs_person=False,
    ),
    "test-launch-refused": Fix(
        "MGN refused the test launch",
        "Nothing to do at first: the batcher offers it again after a back-off. If it repeats, read "
        "the reason (often another job still running for the server) in MGN > Launch history.",
        needs_person=False,
    ),
    "cutover-start-refused": Fix(
        "MGN refused to start the approved cutover",
        "Nothing to do at first: the launch batcher offers it again after a back-off; after "
        "3 refusals the gate fails and says so. Read the reason (the server's lifecycle state, or "
        "another job still running for it) in MGN > Launch history.",
        needs_person=False,
    ),
    "test-launch-failed": Fix(
        "the test launch failed",
        "Read the reason and the job log (MGN > Launch history): boot volume conversion, instance "
        "capacity or the launch template are common causes. The pipeline retries up to "
        "TestLaunchMaxAttempts; after the last attempt, fix the cause and " + _LAUNCH_A_TEST,
        needs_person=True,
    ),
    "test-verification-failed": Fix(
        "the test instance failed verification",
        "The reason names each failed check: status checks (boot, drivers), a public IP or subnet "
        "(launch template), security groups, post-launch actions (their SSM document's output), "
        "no instance profile (set IamInstanceProfile in the launch template), an SSM agent that never "
        "registered (the profile's role needs AmazonSSMManagedInstanceCore; the VPC needs the ssm, "
        "ssmmessages and ec2messages endpoints with private DNS), application ports (service not "
        "started, host firewall, tag mgn-pipeline:app-ports). The "
        "pipeline retries up to TestLaunchMaxAttempts; after the last attempt, fix the cause and "
        + _LAUNCH_A_TEST,
        needs_person=True,
    ),
    # ---- the cutover gate (cutover/)
    "cutover-waiting-for-readiness": Fix(
        "the cutover gate waits: replication or the network is not ready",
        "Nothing to do if it clears: the gate continues once replication is CONTINUOUS with lag under "
        "MaxReplicationLagSeconds and the network checks pass. If it lasts, check the agent's "
        "replication in MGN and the latest network health report.",
        needs_person=False,
    ),
    "cutover-approval-withdrawn": Fix(
        "the approval lapsed: replication stayed stalled past the wait limit",
        "Nothing to do: approval is asked again once replication is ready.",
        needs_person=False,
    ),
    "cutover-readiness-worsened": Fix(
        "the approved cutover was not started: readiness got worse since approval",
        "Nothing to do now: a fresh approval is asked with the new readiness once the server is ready "
        "again. If it repeats, see why in this record (lag growth: ReadinessLagGrowthSeconds; network "
        "health: the latest report; test evidence age: TestEvidenceMaxAgeDays).",
        needs_person=False,
    ),
    "cutover-gate-blocked": Fix(
        "the cutover gate closed: not ready before the wait limit",
        "Fix replication or the network (see the gate's reason), then " + _TEST_AGAIN,
        needs_person=True,
    ),
    "cutover-rejected": Fix(
        "the approver rejected the cutover",
        "Nothing was cut over; the server keeps replicating. When the change board agrees a new "
        "window, " + _TEST_AGAIN,
        needs_person=True,
    ),
    "cutover-approval-timed-out": Fix(
        "nobody decided the approval in time",
        "Make sure the approvers are subscribed to the approval topic (output ApprovalTopicArn), then "
        + _TEST_AGAIN,
        needs_person=True,
    ),
    "cutover-approval-refused": Fix(
        "someone outside ApproverPrincipalArns decided the approval",
        "Nothing was cut over. Check who tried (the actor); to ask an allowed approver, " + _TEST_AGAIN,
        needs_person=True,
    ),
    "cutover-gate-closed": Fix(
        "the cutover gate closed without an approval",
        "Nothing was cut over; the server keeps replicating. To ask again, " + _TEST_AGAIN,
        needs_person=True,
        follow_up=True,
    ),
    "cutover-verification-failed": Fix(
        "the cutover instance failed verification",
        "The gate rolls the cutover back. Fix each failed check named in the reason, then " + _TEST_AGAIN,
        needs_person=True,
        follow_up=True,
    ),
    "cutover-rolled-back": Fix(
        "the cutover was rolled back",
        "The source server keeps running and replicating; the failed instance was terminated. Fix the "
        "cause in the reason (MGN > Launch history for a failed launch, the failed checks for a "
        "failed verification), then " + _TEST_AGAIN,
        needs_person=True,
    ),
    "cutover-gate-failed": Fix(
        "the cutover gate hit an unexpected error",
        "Read the Step Functions execution <server>-<attempt> (CutoverGateStateMachine) and the "
        "CutoverTasksFunction logs; fix the cause, then " + _TEST_AGAIN,
        needs_person=True,
    ),
    # ---- the closed network (health/service.py), subject "network-health"
    "network-health-failed": Fix(
        "closed-network health checks fail: test launches and cutovers wait",
        "Each failing check names its fix in the health notification and the report "
        "(HealthReportsTable, item latest); after fixing, run NetworkHealthFunction on demand.",
        needs_person=True,
    ),
}

# Actions that mean the server moved on: a problem older than one of these is behind it.
PROGRESS = frozenset(
    {
        "test-launch-queued",
        "test-launch-adopted",
        "test-launch-started",
        "test-launch-succeeded",
        "test-verification-passed",
        "marked-ready-for-cutover",
        "cutover-gate-opened",
        "cutover-approval-queued-for-wave",
        "cutover-approval-requested",
        "wave-approval-requested",
        "cutover-approved",
        "cutover-queued",
        "cutover-started",
        "cutover-verification-passed",
        "cutover-finalized",
        "source-server-archived",
        "network-health-passed",
    }
)
# Actions that neither raise nor clear a problem (listed so the catalogue's tests see every action).
NEUTRAL = frozenset(
    {
        "test-outcome",
        "test-instance-cleanup-started",
        "replication-template-created",
        "wave-approval-decided",
        "replication-throttle-set",
        # A message, not a problem: status shows the clock itself, and an older problem's fix stays in view.
        "replication-clock-told",
    }
)

# MGN's dataReplicationError codes (botocore: DataReplicationErrorString).
_AGENT = "Check the agent service on the source server and its log (aws-replication-agent.log)."
_PATH = (
    "Check TCP 1500 from the source server to the staging subnet (security group, NACL, on-prem "
    "firewall) and TCP 443 to the MGN and S3 endpoints; run mgn_pipeline_ops/onprem_preflight.py (or mgn-migrate preflight) on the server."
)
REPLICATION_ERRORS: Mapping[str, str] = {
    "AGENT_NOT_SEEN": "The agent stopped reporting. " + _AGENT + " " + _PATH,
    "SNAPSHOTS_FAILURE": "EBS snapshots of the staging disks fail: check the EBS KMS key policy "
    "(EbsKmsKeyArn) and EBS snapshot quotas.",
    "NOT_CONVERGING": "Data changes faster than it replicates: raise the bandwidth throttling limit "
    "(with a link budget: raise LinkBudgetMbps, or tag the server mgn-pipeline:bandwidth-exception=true "
    "and set its throttle), use a larger or dedicated replication server, or check the link's capacity.",
    "UNSTABLE_NETWORK": "The link drops: " + _PATH,
    "FAILED_TO_CREATE_SECURITY_GROUP": "MGN could not create the replication security group: check "
    "ReplicationSecurityGroupIds and the MGN service role.",
    "FAILED_TO_LAUNCH_REPLICATION_SERVER": "MGN could not launch the replication server: check the "
    "staging subnet's free addresses, the instance type's availability and EC2 quotas.",
    "FAILED_TO_BOOT_REPLICATION_SERVER": "The replication server did not boot: check the staging "
    "subnet's route to the S3 gateway endpoint and the MGN endpoint (TCP 443).",
    "FAILED_TO_AUTHENTICATE_WITH_SERVICE": "The replication server cannot reach MGN: check the mgn "
    "interface endpoint, its private DNS and its security group (TCP 443 from the staging subnet).",
    "FAILED_TO_DOWNLOAD_REPLICATION_SOFTWARE": "The replication server cannot download its software: "
    "check the S3 gateway endpoint on the staging route tables and its endpoint policy.",
    "FAILED_TO_CREATE_STAGING_DISKS": "MGN could not create staging disks: check EBS quotas and the "
    "EBS KMS key policy (EbsKmsKeyArn).",
    "FAILED_TO_ATTACH_STAGING_DISKS": "MGN could not attach staging disks: check EBS quotas and the "
    "EBS KMS key policy (EbsKmsKeyArn).",
    "FAILED_TO_PAIR_REPLICATION_SERVER_WITH_AGENT": "Agent and replication server cannot pair: " + _PATH,
    "FAILED_TO_CONNECT_AGENT_TO_REPLICATION_SERVER": "The agent cannot reach the replication server: "
    + _PATH,
    "FAILED_TO_START_DATA_TRANSFER": "Data transfer did not start: " + _PATH,
    "UNSUPPORTED_VM_CONFIGURATION": "MGN does not support this source machine's configuration: see "
    "MGN's supported operating systems and disk layouts.",
    "LAST_SNAPSHOT_JOB_FAILED": "The last snapshot job failed: check EBS snapshot quotas and the EBS "
    "KMS key policy (EbsKmsKeyArn).",
}
_UNKNOWN_REPLICATION_ERROR = "Read the server's data replication error in the MGN console. " + _PATH


def last_error(newest_first: Iterable[Mapping[str, Any]]) -> LastError | None:
    """The newest problem among a server's audit records (newest first), and whether it is still
    current (no progress after it). A follow-up (the gate closing after a rejection) gives way to
    the problem it follows, which says more (the approver's comment)."""
    current = True
    follow_up: tuple[Mapping[str, Any], Fix] | None = None
    for record in newest_first:
        action = str(record.get("action", ""))
        if action in PROGRESS:
            if follow_up is not None:
                break
            current = False
            continue
        fix = PROBLEMS.get(action)
        if fix is None:
            continue
        if fix.follow_up:
            follow_up = follow_up or (record, fix)
            continue
        return _from_record(record, fix, current)
    return _from_record(*follow_up, current) if follow_up else None


def replication_error(code: str) -> LastError:
    return LastError(
        source="mgn",
        action=f"replication-error:{code}",
        at=None,
        problem=f"MGN data replication error {code}",
        reason=code,
        fix=REPLICATION_ERRORS.get(code, _UNKNOWN_REPLICATION_ERROR),
        needs_person=True,
        current=True,
    )


def _from_record(record: Mapping[str, Any], fix: Fix, current: bool) -> LastError:
    return LastError(
        source="audit",
        action=str(record.get("action", "")),
        at=str(record.get("at") or "") or None,
        problem=fix.problem,
        reason=str(record.get("reason", "")),
        fix=fix.fix,
        needs_person=fix.needs_person,
        current=current,
        job_id=str(record.get("jobId") or "") or None,
        actor=str(record.get("actor") or "") or None,
    )
