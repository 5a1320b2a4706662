"""Builds the pipeline from injected clients, so every entry point runs the same steps."""

from __future__ import annotations

from typing import Any

from mgn_pipeline.adapters.server_registry import ServerRegistry
from mgn_pipeline.domain.steps import PipelineStep
from mgn_pipeline.logic.pipeline import Pipeline, StepAction


def step_actions(mgn_client: Any) -> dict[PipelineStep, StepAction]:
    """The automation enabled for each step. Capabilities register their action here as they land;
    a step without one is recorded (so status shows where the server waits) and nothing else."""
    del mgn_client  # used by the actions as they are added
    return {}


def build_pipeline(mgn_client: Any, dynamodb_client: Any, servers_table: str) -> Pipeline:
    return Pipeline(ServerRegistry(dynamodb_client, servers_table), actions=step_actions(mgn_client))
