"""The verdict on a test instance, from facts gathered by the adapters. Pure.

A check is ``ok``, ``failed`` (the test fails) or ``pending`` (not decidable yet: the instance is
booting, status checks initializing, post-launch actions running). Pending is not a failure and
not a retry: the next trigger (a Launch Result event, the reconciler) looks again, until
``verify_timeout`` turns it into a failure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mgn_pipeline.jobs.probe import TcpProber

# Source-server tag that declares the application ports an instance must answer on.
DEFAULT_APP_PORTS_TAG = "mgn-pipeline:app-ports"

# How long after launch an instance with post-launch actions may take to show its SSM agent to
# Systems Manager (the agent is installed by MGN, then registers) before that counts as failed.
DEFAULT_SSM_REGISTRATION_GRACE = timedelta(minutes=15)
# The instance profile MGN makes for post-launch actions, and the AWS managed policy it carries.
MGN_SSM_INSTANCE_PROFILE = "AWSApplicationMigrationLaunchInstanceWithSsmRole"
SSM_CORE_POLICY = "AmazonSSMManagedInstanceCore"


def parse_ports(text: str) -> tuple[int, ...]:
    """``"443, 1521"`` -> ``(443, 1521)``; ValueError naming the bad part otherwise."""
    ports: list[int] = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or not 1 <= int(part) <= 65535:
            raise ValueError(f"{part!r} is not a TCP port")
        ports.append(int(part))
    return tuple(dict.fromkeys(ports))


class CheckState(StrEnum):
    OK = "ok"
    FAILED = "failed"
    PENDING = "pending"
    SKIPPED = "skipped"


class VerdictState(StrEnum):
    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"
    PENDING = "pending"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    state: CheckState
    detail: str

    def describe(self) -> str:
        return f"{self.name}: {self.detail}"


@dataclass(frozen=True, slots=True)
class InstanceFacts:
    """What EC2 says about the test instance (``describe_instances`` + ``describe_instance_status``)."""

    instance_id: str
    state: str  # pending | running | stopping | stopped | shutting-down | terminated | missing
    private_ip: str | None
    public_ips: tuple[str, ...]
    subnet_id: str | None
    security_group_ids: frozenset[str]
    # ok | impaired | initializing | insufficient-data | not-applicable | None (no status yet)
    instance_status: str | None
    system_status: str | None
    # IamInstanceProfile.Arn; None: no instance profile attached.
    instance_profile_arn: str | None = None


@dataclass(frozen=True, slots=True)
class PostLaunchFacts:
    """Configured SSM post-launch actions (launch configuration) and their status in the job."""

    applies_to_test: bool
    # action name -> mustSucceedForCutover
    configured: Mapping[str, bool] = field(default_factory=dict)
    # action name -> (executionStatus, failureReason)
    statuses: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    # ssmAgentDiscoveryDatetime: when MGN saw the instance's SSM agent registered with Systems Manager.
    ssm_agent_discovered_at: str | None = None


@dataclass(frozen=True, slots=True)
class Expectations:
    allowed_subnet_ids: frozenset[str]
    security_group_ids: frozenset[str]


@dataclass(frozen=True, slots=True)
class Verdict:
    state: VerdictState
    checks: tuple[Check, ...]

    @property
    def reasons(self) -> list[str]:
        wanted = CheckState.FAILED if self.state is VerdictState.FAIL else CheckState.PENDING
        return [c.describe() for c in self.checks if c.state is wanted]

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "checks": [{"name": c.name, "state": c.state.value, "detail": c.detail} for c in self.checks],
        }


_PASSING_STATUS = {"ok"}
_WAITING_STATUS = {None, "initializing", "insufficient-data"}


def instance_checks(facts: InstanceFacts, expect: Expectations) -> list[Check]:
    checks: list[Check] = []
    if facts.state == "running":
        checks.append(Check("running", CheckState.OK, "instance is running"))
    elif facts.state == "pending":
        checks.append(Check("running", CheckState.PENDING, "instance is still starting"))
    else:
        checks.append(Check("running", CheckState.FAILED, f"instance is {facts.state}"))
    for name, status in (
        ("instance status check", facts.instance_status),
        ("system status check", facts.system_status),
    ):
        if status in _PASSING_STATUS:
            checks.append(Check(name, CheckState.OK, "ok"))
        elif status in _WAITING_STATUS:
            checks.append(Check(name, CheckState.PENDING, status or "no status yet"))
        else:
            checks.append(Check(name, CheckState.FAILED, str(status)))
    if facts.public_ips:
        checks.append(
            Check(
                "private address only", CheckState.FAILED, f"public IP {', '.join(facts.public_ips)} present"
            )
        )
    else:
        checks.append(Check("private address only", CheckState.OK, f"private IP {facts.private_ip}"))
    if not expect.allowed_subnet_ids:
        checks.append(Check("allowed subnet", CheckState.SKIPPED, "no allowed subnets configured"))
    elif facts.subnet_id in expect.allowed_subnet_ids:
        checks.append(Check("allowed subnet", CheckState.OK, str(facts.subnet_id)))
    else:
        checks.append(
            Check(
                "allowed subnet",
                CheckState.FAILED,
                f"{facts.subnet_id} is not one of {sorted(expect.allowed_subnet_ids)}",
            )
        )
    if not expect.security_group_ids:
        checks.append(Check("security groups", CheckState.SKIPPED, "no expected security groups configured"))
    elif facts.security_group_ids == expect.security_group_ids:
        checks.append(Check("security groups", CheckState.OK, ", ".join(sorted(facts.security_group_ids))))
    else:
        checks.append(
            Check(
                "security groups",
                CheckState.FAILED,
                f"{sorted(facts.security_group_ids)} instead of {sorted(expect.security_group_ids)}",
            )
        )
    return checks


def post_launch_checks(facts: PostLaunchFacts) -> list[Check]:
    if not facts.applies_to_test or not facts.configured:
        return [Check("post-launch actions", CheckState.SKIPPED, "none configured for test launches")]
    checks: list[Check] = []
    for action, must_succeed in sorted(facts.configured.items()):
        status, why = facts.statuses.get(action, ("NOT_STARTED", ""))
        name = f"post-launch action {action}"
        if status == "SUCCESS":
            checks.append(Check(name, CheckState.OK, "succeeded"))
        elif status == "FAILED":
            detail = f"failed: {why or 'no reason given'}"
            # An action MGN itself lets cutover proceed without is reported, not blocking.
            checks.append(Check(name, CheckState.FAILED if must_succeed else CheckState.SKIPPED, detail))
        else:
            checks.append(Check(name, CheckState.PENDING, status.lower().replace("_", " ")))
    return checks


# Why post-launch actions need an instance profile and Systems Manager: with post-launch actions
# active, MGN installs the SSM agent on the launched instance and creates the IAM roles it needs, and
# every action runs through that agent (MGN User Guide, "Predefined post-launch actions reference":
# https://docs.aws.amazon.com/mgn/latest/ug/predefined-post-launch-actions.html). The agent registers
# only with the instance profile's SSM permissions and a path to the ssm, ssmmessages and ec2messages
# endpoints; MGN reports the moment it saw the agent running as the job's ssmAgentDiscoveryDatetime
# (https://docs.aws.amazon.com/mgn/latest/APIReference/API_PostLaunchActionsStatus.html). IAM is out
# of reach in the closed VPC (no IAM endpoint), so the launch is the evidence.
_PROFILE_FIX = (
    "attach an instance profile with SSM permissions: set IamInstanceProfile in the server's EC2 launch "
    f"template (MGN's {MGN_SSM_INSTANCE_PROFILE}, or a role with the {SSM_CORE_POLICY} policy), then test again"
)
_SSM_FIXES = (
    "either the instance profile lacks SSM permissions (attach the {policy} policy to {profile}'s role) "
    "or the instance cannot reach Systems Manager (interface endpoints ssm, ssmmessages and ec2messages "
    "in its VPC, private DNS on, their security group open to TCP 443 from the launch subnet: the network "
    "health check reports them)"
)


def ssm_readiness_checks(
    facts: InstanceFacts,
    post_launch: PostLaunchFacts,
    since_launch: timedelta | None,
    grace: timedelta,
) -> list[Check]:
    """What post-launch actions need on the instance: an instance profile, and the SSM agent seen by
    Systems Manager within ``grace`` of the launch. ``since_launch`` None (unknown): never failed
    here, the caller's own time limit decides."""
    if not post_launch.applies_to_test or not post_launch.configured or facts.state == "missing":
        return []
    profile = facts.instance_profile_arn
    if not profile:
        # Without a profile the agent cannot register: that check would only repeat this one.
        return [
            Check(
                "instance profile", CheckState.FAILED, f"none attached to {facts.instance_id}: {_PROFILE_FIX}"
            )
        ]
    checks = [Check("instance profile", CheckState.OK, profile)]
    name = "SSM agent registration"
    if post_launch.ssm_agent_discovered_at or post_launch.statuses:
        seen = post_launch.ssm_agent_discovered_at or "its actions report status"
        checks.append(Check(name, CheckState.OK, f"registered with Systems Manager ({seen})"))
    elif since_launch is None or since_launch <= grace:
        # Said with its needs: a cutover whose verify retries run out fails with this text.
        checks.append(
            Check(
                name,
                CheckState.PENDING,
                "SSM agent not registered with Systems Manager yet (it needs the instance profile's SSM "
                "permissions and the ssm, ssmmessages and ec2messages endpoints)",
            )
        )
    else:
        minutes = int(since_launch.total_seconds() // 60)
        fixes = _SSM_FIXES.format(policy=SSM_CORE_POLICY, profile=profile.rsplit("/", 1)[-1])
        checks.append(
            Check(
                name,
                CheckState.FAILED,
                f"SSM agent not registered with Systems Manager {minutes} minutes after launch, so "
                f"post-launch actions cannot run: {fixes}",
            )
        )
    return checks


def port_checks(
    ports: Sequence[int], answers: Mapping[int, bool] | None, tag_error: str | None
) -> list[Check]:
    if tag_error:
        return [Check("application ports", CheckState.FAILED, tag_error)]
    if not ports:
        return [Check("application ports", CheckState.SKIPPED, "no ports declared")]
    if answers is None:
        return [Check("application ports", CheckState.PENDING, "not probed until the instance is up")]
    return [
        Check(
            f"TCP {port}",
            CheckState.OK if answers.get(port) else CheckState.FAILED,
            "answers" if answers.get(port) else "closed or filtered",
        )
        for port in ports
    ]


def verdict(checks: Sequence[Check]) -> Verdict:
    """Any failure fails; otherwise any pending check keeps the verdict pending; otherwise pass."""
    states = {c.state for c in checks}
    if CheckState.FAILED in states:
        return Verdict(VerdictState.FAIL, tuple(checks))
    if CheckState.PENDING in states:
        return Verdict(VerdictState.PENDING, tuple(checks))
    return Verdict(VerdictState.PASS, tuple(checks))


def ready_for_probing(checks: Sequence[Check]) -> bool:
    """Ports are probed only on a running, status-ok instance: a closed port on a booting one proves nothing."""
    return all(
        c.state is CheckState.OK
        for c in checks
        if c.name in {"running", "instance status check", "system status check"}
    )


# MGN's postLaunchActions.deployment values, by the launch they apply to.
TEST_PHASES = frozenset({"TEST_AND_CUTOVER", "TEST_ONLY"})
CUTOVER_PHASES = frozenset({"TEST_AND_CUTOVER", "CUTOVER_ONLY"})


def post_launch_facts(
    configured: Mapping[str, Any], participant: Mapping[str, Any], phases: frozenset[str]
) -> PostLaunchFacts:
    """What the launch configuration asks of post-launch actions, and what the job says they did.

    ``phases``: TEST_PHASES or CUTOVER_PHASES, the launch being verified.
    """
    documents = configured.get("ssmDocuments") or []
    if not documents:
        return PostLaunchFacts(applies_to_test=False)
    statuses: dict[str, tuple[str, str]] = {}
    for entry in (participant.get("postLaunchActionsStatus") or {}).get(
        "postLaunchActionsLaunchStatusList"
    ) or []:
        document = entry.get("ssmDocument") or {}
        key = str(document.get("actionName") or document.get("ssmDocumentName") or "")
        statuses[key] = (
            str(entry.get("executionStatus", "IN_PROGRESS")),
            str(entry.get("failureReason", "")),
        )
    return PostLaunchFacts(
        # The field says "test"; for a cutover it means "applies to this launch".
        applies_to_test=configured.get("deployment", "TEST_AND_CUTOVER") in phases,
        configured={
            str(d.get("actionName") or d.get("ssmDocumentName")): bool(d.get("mustSucceedForCutover", True))
            for d in documents
        },
        statuses=statuses,
        ssm_agent_discovered_at=(participant.get("postLaunchActionsStatus") or {}).get(
            "ssmAgentDiscoveryDatetime"
        ),
    )


def declared_ports(
    tags: Mapping[str, str], tag: str, default: tuple[int, ...]
) -> tuple[tuple[int, ...], str | None]:
    """The application ports a server declares in its tag (else ``default``), or why the tag is unreadable."""
    text = tags.get(tag)
    if text is None:
        return default, None
    try:
        return parse_ports(text), None
    except ValueError as exc:
        return (), f"tag {tag}={text!r} cannot be read: {exc}"


def verify_instance(
    facts: InstanceFacts,
    expect: Expectations,
    post_launch: PostLaunchFacts,
    declared: tuple[tuple[int, ...], str | None],
    prober: TcpProber,
    probe_timeout_seconds: float,
    *,
    since_launch: timedelta | None = None,
    ssm_registration_grace: timedelta = DEFAULT_SSM_REGISTRATION_GRACE,
) -> Verdict:
    """The one verification of a launched instance, test or cutover: instance, post-launch actions and
    what they need (instance profile, SSM agent), then the declared application ports, probed only once
    the instance is ready for them. ``since_launch``: how long ago the launch was seen (None: unknown)."""
    ports, tag_error = declared
    checks = (
        instance_checks(facts, expect)
        + post_launch_checks(post_launch)
        + ssm_readiness_checks(facts, post_launch, since_launch, ssm_registration_grace)
    )
    answers: dict[int, bool] | None = None
    if ports and not tag_error and facts.private_ip and ready_for_probing(checks):
        answers = {p: prober.is_open(facts.private_ip, p, probe_timeout_seconds) for p in ports}
    return verdict(checks + port_checks(ports, answers, tag_error))
