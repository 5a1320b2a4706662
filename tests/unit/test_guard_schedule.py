"""When the settings guards run: they read MGN and EC2 for every server they check, so they run when
the settings may have changed (first sight, a write by someone else, a deployment) and otherwise once
per recheck interval, not on every event. The registry is the real one on an in-memory DynamoDB."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from mgn_pipeline.pipeline.advance import Pipeline
from mgn_pipeline.shared.aws.server_registry import ServerRegistry
from mgn_pipeline.shared.server import LifeCycleState, ReplicationState
from mgn_pipeline.shared.trigger import DEPLOYMENT, RECONCILER, Trigger
from tests.unit.fakes import FakeClock, source_server
from tests.unit.tables import create_table

SID = "s-00000000000000009"
STATE_CHANGE = Trigger("event:MGN Source Server Data Replication Stalled Change:NOT_STALLED")
PERSON_WROTE = Trigger(
    "cloudtrail:UpdateReplicationConfiguration",
    actor="arn:aws:sts::111122223333:assumed-role/MigrationOperator/jdoe",
    settings_may_have_changed=True,
)


@pytest.fixture
def checked(dynamodb: Any) -> tuple[Pipeline, list[str], FakeClock]:
    create_table(dynamodb, "ServersTable", "servers")
    clock, checks = FakeClock(), []

    def guard(server: Any, trigger: Trigger) -> str:
        checks.append(trigger.label)
        return "settings private"

    pipeline = Pipeline(
        ServerRegistry(dynamodb, "servers"), guards=[guard], now=clock, guard_recheck=timedelta(minutes=30)
    )
    return pipeline, checks, clock


def test_first_sight_checks_then_state_changes_within_a_step_do_not_until_the_recheck(
    checked: tuple[Pipeline, list[str], FakeClock],
) -> None:
    pipeline, checks, clock = checked
    syncing = source_server(
        SID, lifecycle=LifeCycleState.NOT_READY, replication=ReplicationState.INITIAL_SYNC
    )
    pipeline.advance(syncing, STATE_CHANGE)
    assert checks == [STATE_CHANGE.label]  # first sight
    rescanning = source_server(SID, lifecycle=LifeCycleState.NOT_READY, replication=ReplicationState.RESCAN)
    pipeline.advance(rescanning, STATE_CHANGE)  # recorded (replication changed), same step
    pipeline.advance(rescanning, RECONCILER)
    assert len(checks) == 1  # MGN's own state changes do not touch the settings
    clock.advance(31 * 60)
    pipeline.advance(rescanning, RECONCILER)
    assert len(checks) == 2  # the recheck interval has passed


def test_the_server_moving_on_through_the_pipeline_does_not_reread_the_settings(
    checked: tuple[Pipeline, list[str], FakeClock],
) -> None:
    pipeline, checks, clock = checked
    pipeline.advance(source_server(SID, lifecycle=LifeCycleState.NOT_READY), STATE_CHANGE)
    clock.advance(10 * 60)
    pipeline.advance(source_server(SID, lifecycle=LifeCycleState.READY_FOR_TEST), STATE_CHANGE)
    pipeline.advance(source_server(SID, lifecycle=LifeCycleState.TESTING), STATE_CHANGE)
    assert len(checks) == 1  # only a write (CloudTrail) changes settings; that is checked at once
    clock.advance(21 * 60)
    pipeline.advance(source_server(SID, lifecycle=LifeCycleState.READY_FOR_CUTOVER), STATE_CHANGE)
    assert len(checks) == 2  # ... and the recheck interval covers a lost CloudTrail event


def test_a_write_by_someone_else_and_a_deployment_are_checked_at_once(
    checked: tuple[Pipeline, list[str], FakeClock],
) -> None:
    pipeline, checks, _ = checked
    server = source_server(SID, lifecycle=LifeCycleState.READY_FOR_TEST)
    pipeline.advance(server, RECONCILER)
    pipeline.advance(server, PERSON_WROTE)
    pipeline.advance(server, DEPLOYMENT)
    assert checks == [RECONCILER.label, PERSON_WROTE.label, DEPLOYMENT.label]


def test_the_launch_template_alone_is_checked_whenever_the_server_enters_a_new_step(dynamodb: Any) -> None:
    create_table(dynamodb, "ServersTable", "servers")
    clock, full, launch_only = FakeClock(), [], []
    pipeline = Pipeline(
        ServerRegistry(dynamodb, "servers"),
        guards=[lambda server, trigger: full.append(server.lifecycle) or "settings private"],
        step_guards=[lambda server, trigger: launch_only.append(server.lifecycle) or "template private"],
        now=clock,
        guard_recheck=timedelta(minutes=30),
    )
    for lifecycle in (LifeCycleState.NOT_READY, LifeCycleState.READY_FOR_TEST, LifeCycleState.READY_FOR_TEST):
        pipeline.advance(source_server(SID, lifecycle=lifecycle), STATE_CHANGE)
    # EC2 launch templates change without an MGN call: checked before the new step's launch
    assert full == [LifeCycleState.NOT_READY]
    assert launch_only == [LifeCycleState.READY_FOR_TEST]
