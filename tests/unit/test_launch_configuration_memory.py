"""A server's launch configuration is read from MGN once and remembered in the servers table: the
launch template id (MGN keeps it for the server's life) and the post-launch actions, which the test
and cutover verifications need. It is read again when the settings may have changed. The registry
is the real one on an in-memory DynamoDB; MGN's answers are counted."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from mgn_pipeline.pipeline.advance import Pipeline
from mgn_pipeline.shared.aws.launch_configurations import RememberedLaunchConfigurations
from mgn_pipeline.shared.aws.mgn import LaunchConfiguration
from mgn_pipeline.shared.aws.server_registry import ServerRegistry
from mgn_pipeline.shared.server import LifeCycleState
from mgn_pipeline.shared.steps import PipelineStep
from mgn_pipeline.shared.trigger import DEPLOYMENT, RECONCILER, Trigger
from tests.unit.fakes import FakeClock, source_server
from tests.unit.tables import create_table

SID = "s-0000000000000000a"
NO_ACTIONS: dict[str, Any] = {"deployment": "TEST_AND_CUTOVER", "ssmDocuments": []}
ONE_ACTION: dict[str, Any] = {
    "deployment": "TEST_AND_CUTOVER",
    "ssmDocuments": [{"actionName": "smoke-test", "ssmDocumentName": "AWS-RunShellScript"}],
}


class LaunchConfigurationsInMgn:
    """GetLaunchConfiguration, counted."""

    def __init__(self) -> None:
        self.actions: dict[str, Any] = NO_ACTIONS
        self.reads = 0

    def launch_configuration(self, server_id: str) -> LaunchConfiguration:
        self.reads += 1
        return LaunchConfiguration("lt-0123456789abcdef0", self.actions)


@pytest.fixture
def mgn(dynamodb: Any) -> LaunchConfigurationsInMgn:
    create_table(dynamodb, "ServersTable", "servers")
    return LaunchConfigurationsInMgn()


def _invocation(
    dynamodb: Any, mgn: LaunchConfigurationsInMgn
) -> tuple[Pipeline, RememberedLaunchConfigurations]:
    """What one Lambda invocation builds: a registry, and the memory on top of it."""
    registry = ServerRegistry(dynamodb, "servers")
    remembered = RememberedLaunchConfigurations(mgn, registry)  # type: ignore[arg-type]

    def guard(server: Any, trigger: Trigger) -> str:
        return str(remembered.template_id(server.server_id, fresh=trigger.settings_may_have_changed))

    return Pipeline(registry, guards=[guard], guard_recheck=timedelta(minutes=60)), remembered


def test_first_sight_reads_mgn_once_and_later_invocations_verify_without_reading_it(
    dynamodb: Any, mgn: LaunchConfigurationsInMgn
) -> None:
    pipeline, remembered = _invocation(dynamodb, mgn)
    pipeline.advance(source_server(SID, lifecycle=LifeCycleState.NOT_READY), RECONCILER)
    assert remembered.post_launch_actions(SID) == NO_ACTIONS
    assert mgn.reads == 1  # the guard's read answers the verification too
    _, later = _invocation(dynamodb, mgn)
    assert later.post_launch_actions(SID) == NO_ACTIONS
    assert later.template_id(SID) == "lt-0123456789abcdef0"
    assert mgn.reads == 1  # kept in the servers table with the server's record


def test_a_record_from_before_the_memory_learns_the_actions_at_the_first_verification(
    dynamodb: Any, mgn: LaunchConfigurationsInMgn
) -> None:
    ServerRegistry(dynamodb, "servers").record(
        source_server(SID, lifecycle=LifeCycleState.TESTING),
        PipelineStep.VERIFY_TEST,
        "reconciler",
        FakeClock()(),
    )
    _, verifying = _invocation(dynamodb, mgn)
    assert verifying.post_launch_actions(SID) == NO_ACTIONS  # outside an advance: written at once
    _, later = _invocation(dynamodb, mgn)
    assert later.post_launch_actions(SID) == NO_ACTIONS
    assert mgn.reads == 1


def test_a_change_someone_made_is_read_again_and_the_new_actions_are_verified(
    dynamodb: Any, mgn: LaunchConfigurationsInMgn
) -> None:
    server = source_server(SID, lifecycle=LifeCycleState.READY_FOR_TEST)
    pipeline, _ = _invocation(dynamodb, mgn)
    pipeline.advance(server, RECONCILER)
    mgn.actions = ONE_ACTION  # someone adds a post-launch action (UpdateLaunchConfiguration)
    person = Trigger("cloudtrail:UpdateLaunchConfiguration", actor="jdoe", settings_may_have_changed=True)
    pipeline, _ = _invocation(dynamodb, mgn)
    pipeline.advance(server, person)
    assert mgn.reads == 2
    _, verifying = _invocation(dynamodb, mgn)
    assert verifying.post_launch_actions(SID) == ONE_ACTION
    assert mgn.reads == 2


def test_scheduled_runs_check_the_templates_once_per_interval_a_deployment_at_once(
    dynamodb: Any, mgn: LaunchConfigurationsInMgn
) -> None:
    clock, checks = FakeClock(), []

    def templates(trigger: Trigger) -> list[str]:
        checks.append(trigger.label)
        return ["templates compliant"]

    def run(trigger: Trigger) -> None:
        Pipeline(
            ServerRegistry(dynamodb, "servers"),
            account_checks=[templates],
            now=clock,
            guard_recheck=timedelta(minutes=60),
        ).check_account(trigger)

    for _ in range(12):  # an hour of reconciles, five minutes apart
        run(RECONCILER)
        clock.advance(300)
    assert checks == ["reconciler"]
    run(DEPLOYMENT)
    run(RECONCILER)
    assert checks == ["reconciler", "deployment"]  # the deployment's check counts for the schedule
