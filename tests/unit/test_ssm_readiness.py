"""What post-launch actions need on a launched instance: an instance profile, and its SSM agent seen by
Systems Manager within the grace period. Pure rules, then the EC2 adapter's profile fact."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from mgn_pipeline.jobs.instances import Ec2Instances
from mgn_pipeline.jobs.verification import (
    TEST_PHASES,
    CheckState,
    InstanceFacts,
    PostLaunchFacts,
    VerdictState,
    post_launch_facts,
    ssm_readiness_checks,
    verdict,
)

PROFILE = "arn:aws:iam::111122223333:instance-profile/AWSApplicationMigrationLaunchInstanceWithSsmRole"
GRACE = timedelta(minutes=15)
ACTIONS = {
    "deployment": "TEST_AND_CUTOVER",
    "ssmDocuments": [{"actionName": "smoke", "ssmDocumentName": "AWS-RunShellScript"}],
}


def _instance(profile: str | None = PROFILE, state: str = "running") -> InstanceFacts:
    return InstanceFacts(
        "i-1", state, "10.0.2.9", (), "subnet-a", frozenset(), "ok", "ok", instance_profile_arn=profile
    )


def _job_entry(discovered: str | None = None, **status: Any) -> dict[str, Any]:
    plas: dict[str, Any] = {}
    if discovered:
        plas["ssmAgentDiscoveryDatetime"] = discovered
    if status:
        plas["postLaunchActionsLaunchStatusList"] = [
            {"ssmDocument": {"actionName": "smoke", "ssmDocumentName": "AWS-RunShellScript"}, **status}
        ]
    return {"sourceServerID": "s-1", "postLaunchActionsStatus": plas} if plas else {"sourceServerID": "s-1"}


def _checks(
    instance: InstanceFacts, entry: dict[str, Any], since: timedelta | None, actions: Any = ACTIONS
) -> dict[str, tuple[CheckState, str]]:
    facts = post_launch_facts(actions, entry, TEST_PHASES)
    return {c.name: (c.state, c.detail) for c in ssm_readiness_checks(instance, facts, since, GRACE)}


def test_nothing_is_asked_without_post_launch_actions_for_this_launch() -> None:
    assert _checks(_instance(None), {}, timedelta(hours=2), actions={"ssmDocuments": []}) == {}
    cutover_only = {**ACTIONS, "deployment": "CUTOVER_ONLY"}
    assert _checks(_instance(None), {}, timedelta(hours=2), actions=cutover_only) == {}
    assert ssm_readiness_checks(_instance(None), PostLaunchFacts(applies_to_test=False), None, GRACE) == []


def test_an_instance_without_a_profile_fails_at_once_with_the_fix() -> None:
    checks = _checks(_instance(None), {}, timedelta(0))
    assert list(checks) == ["instance profile"]  # the agent check would only repeat it
    state, detail = checks["instance profile"]
    assert state is CheckState.FAILED
    assert "none attached to i-1" in detail
    assert "IamInstanceProfile" in detail and "AmazonSSMManagedInstanceCore" in detail


def test_a_missing_instance_is_judged_by_the_running_check_alone() -> None:
    assert _checks(_instance(None, state="missing"), {}, timedelta(hours=1)) == {}


def test_the_agent_is_waited_for_during_the_grace_period_then_fails_naming_both_causes() -> None:
    waiting = _checks(_instance(), {}, timedelta(minutes=15))
    assert waiting["instance profile"] == (CheckState.OK, PROFILE)
    assert waiting["SSM agent registration"][0] is CheckState.PENDING

    state, detail = _checks(_instance(), {}, timedelta(minutes=16))["SSM agent registration"]
    assert state is CheckState.FAILED
    assert "not registered with Systems Manager 16 minutes after launch" in detail
    # cause 1: the profile's permissions, with the role to fix
    assert "AmazonSSMManagedInstanceCore" in detail
    assert "AWSApplicationMigrationLaunchInstanceWithSsmRole's role" in detail
    # cause 2: the path to Systems Manager
    assert "ssm, ssmmessages and ec2messages" in detail and "private DNS" in detail


def test_an_unknown_launch_time_never_fails_the_agent_here() -> None:
    assert _checks(_instance(), {}, None)["SSM agent registration"][0] is CheckState.PENDING


def test_a_registered_agent_passes_and_its_actions_decide_the_rest() -> None:
    checks = _checks(_instance(), _job_entry("2026-01-05T08:20:00Z"), timedelta(hours=1))
    assert checks["SSM agent registration"] == (
        CheckState.OK,
        "registered with Systems Manager (2026-01-05T08:20:00Z)",
    )
    # An action with a status ran through the agent: registered, whatever the discovery field says.
    ran = _checks(_instance(), _job_entry(executionStatus="IN_PROGRESS"), timedelta(hours=1))
    assert ran["SSM agent registration"][0] is CheckState.OK


@pytest.mark.parametrize(
    ("profile", "entry", "since", "expected"),
    [
        (PROFILE, _job_entry("2026-01-05T08:20:00Z", executionStatus="SUCCESS"), timedelta(1), "pass"),
        (PROFILE, {}, timedelta(minutes=5), "pending"),
        (PROFILE, {}, timedelta(minutes=30), "fail"),
        (None, {}, timedelta(0), "fail"),
    ],
)
def test_the_verdict(profile: str | None, entry: dict[str, Any], since: timedelta, expected: str) -> None:
    facts = post_launch_facts(ACTIONS, entry, TEST_PHASES)
    assert verdict(ssm_readiness_checks(_instance(profile), facts, since, GRACE)).state is VerdictState(
        expected
    )


class _Ec2:
    def __init__(self, instance: dict[str, Any]) -> None:
        self._instance = instance

    def describe_instances(self, **_: Any) -> dict[str, Any]:
        return {"Reservations": [{"Instances": [self._instance]}]}

    def describe_instance_status(self, **_: Any) -> dict[str, Any]:
        return {"InstanceStatuses": []}


def test_the_ec2_adapter_reads_the_attached_profile() -> None:
    base = {"InstanceId": "i-1", "State": {"Name": "running"}, "PrivateIpAddress": "10.0.2.9"}
    with_profile = {**base, "IamInstanceProfile": {"Arn": PROFILE, "Id": "AIPA1"}}
    assert Ec2Instances(_Ec2(with_profile)).facts("i-1").instance_profile_arn == PROFILE
    assert Ec2Instances(_Ec2(base)).facts("i-1").instance_profile_arn is None


def test_the_grace_period_is_a_setting_both_launch_kinds_share() -> None:
    from mgn_pipeline.cutover.settings import CutoverFields
    from mgn_pipeline.launches.settings import TestLaunchFields

    tables = {"LAUNCH_QUEUE_TABLE_NAME": "queue", "CUTOVER_GATE_TABLE_NAME": "gates"}
    default = TestLaunchFields.model_validate(tables).test_launch_config([])
    assert default is not None and default.ssm_registration_grace == timedelta(minutes=15)
    env = {**tables, "SSM_REGISTRATION_GRACE_MINUTES": "40"}
    test = TestLaunchFields.model_validate(env).test_launch_config([])
    cutover = CutoverFields.model_validate(env).cutover_config([])
    assert test is not None and test.ssm_registration_grace == timedelta(minutes=40)
    assert cutover is not None and cutover.ssm_registration_grace == timedelta(minutes=40)
